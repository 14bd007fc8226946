"""The command line: ``python -m sharedwasm COMMAND`` (also installed as ``sharedwasm``).

Subcommands are registered in ``COMMANDS`` (name -> function adding its parser); each
handler returns the exit status. Bad input ends with one line ``sharedwasm: error: ...`` on
stderr and status 1, never a traceback (``SHAREDWASM_DEBUG=1`` shows one for internal
errors); usage errors exit with 2 (argparse's convention).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

from .errors import ALL_FEATURES, WASM2_FEATURES, CompileError

PROG = "sharedwasm"
WASM_MAGIC = b"\0asm"


class CommandError(Exception):
    """A failure that ends the command with a one-line message and status 1."""


def _features(spec: str | None) -> frozenset[str]:
    """``--features``: ``all`` (default), ``wasm2``, or a comma list such as ``wasm2,threads``."""
    if not spec or spec == "all":
        return ALL_FEATURES
    chosen: set[str] = set()
    for item in spec.split(","):
        item = item.strip()
        if item == "wasm2":
            chosen |= WASM2_FEATURES
        elif item == "all":
            chosen |= ALL_FEATURES
        elif item in ALL_FEATURES:
            chosen.add(item)
        else:
            raise CommandError(f"unknown feature {item!r} (known: all, wasm2, "
                               f"{', '.join(sorted(ALL_FEATURES))})")
    return frozenset(chosen | {"mvp"})


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


def _write(path: str, data: bytes) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


def _located(err: CompileError, path: str) -> str:
    """The error's text with the file name in front (when the error does not carry it)."""
    text = str(err).replace("\n", " ")
    return text if err.source else f"{path}: {text}"


def _binary_of(path: str, data: bytes, features: frozenset[str]) -> bytes:
    """The module binary of a file that holds either the binary or the text format: a
    ``.wasm`` name or the binary magic means binary (so a damaged binary gets the decoder's
    message), anything else is parsed as text."""
    if data.startswith(WASM_MAGIC) or path.endswith(".wasm"):
        return data
    from .api.module import wat2wasm
    return wat2wasm(data, features=features, source=path)


# -- wat2wasm ------------------------------------------------------------------------------
def _add_wat2wasm(sub) -> None:
    p = sub.add_parser("wat2wasm", help="text format (.wat) to binary (.wasm)",
                       description="Convert a text-format module to the binary format. The "
                       "result is validated unless --no-validate is given.")
    p.add_argument("input", help="the .wat file ('-' reads stdin)")
    p.add_argument("-o", "--output", help="where to write the binary (default: stdout, "
                   "refused when stdout is a terminal)")
    p.add_argument("--no-validate", action="store_true", help="only parse and encode")
    p.add_argument("--features", help="all (default), wasm2, or e.g. wasm2,threads")
    p.set_defaults(run=_wat2wasm)


def _wat2wasm(args) -> int:
    from .api.module import wat2wasm
    features = _features(args.features)
    data = _read(args.input)
    source = "<stdin>" if args.input == "-" else args.input
    try:
        binary = wat2wasm(data, features=features, validate=not args.no_validate, source=source)
    except CompileError as err:
        raise CommandError(_located(err, source)) from None
    if args.output:
        _write(args.output, binary)
    elif sys.stdout.isatty():
        raise CommandError("refusing to write a binary to a terminal; use -o FILE")
    else:
        sys.stdout.buffer.write(binary)
        sys.stdout.flush()
    return 0


# -- wasm2wat ------------------------------------------------------------------------------
def _add_wasm2wat(sub) -> None:
    p = sub.add_parser("wasm2wat", help="binary (.wasm) to text format",
                       description="Print a binary module in the text format.")
    p.add_argument("input", help="the .wasm file ('-' reads stdin)")
    p.add_argument("-o", "--output", help="where to write the text (default: stdout)")
    p.add_argument("--features", help="all (default), wasm2, or e.g. wasm2,threads")
    p.set_defaults(run=_wasm2wat)


def _wasm2wat(args) -> int:
    from .api.module import wasm2wat
    data = _read(args.input)
    try:
        text = wasm2wat(data, features=_features(args.features))
    except CompileError as err:
        raise CommandError(_located(err, args.input)) from None
    if args.output:
        _write(args.output, text.encode("utf-8"))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


# -- validate ------------------------------------------------------------------------------
def _add_validate(sub) -> None:
    p = sub.add_parser("validate", help="check that modules (.wasm or .wat) are valid",
                       description="Decode and validate each module; .wat files (anything "
                       "not starting with the binary magic) are parsed first. Prints one "
                       "line per file; exit status 1 when any file is not valid.")
    p.add_argument("inputs", nargs="+", metavar="FILE")
    p.add_argument("--features", help="all (default), wasm2, or e.g. wasm2,threads")
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures")
    p.add_argument("--time", action="store_true", help="also print the time per file")
    p.set_defaults(run=_validate)


def _validate(args) -> int:
    from .api.module import Module
    features = _features(args.features)
    failed = 0
    for path in args.inputs:
        try:
            start = time.perf_counter()
            Module(_binary_of(path, _read(path), features), features=features)
            took = time.perf_counter() - start
        except CommandError as err:
            _error(str(err))
            failed += 1
            continue
        except CompileError as err:
            _error(_located(err, path))
            failed += 1
            continue
        if not args.quiet:
            print(f"{path}: valid" + (f" ({took * 1000:.1f} ms)" if args.time else ""))
    return 1 if failed else 0


# -- spectest ------------------------------------------------------------------------------
def _add_spectest(sub) -> None:
    from .spectest.report import add_parser
    add_parser(sub, _features)


# -- run -----------------------------------------------------------------------------------
def _load_module(path: str, features_spec: str | None):
    """The validated Module of a .wasm/.wat file, or a CommandError."""
    from .api.module import Module
    features = _features(features_spec)
    try:
        return Module(_binary_of(path, _read(path), features), features=features)
    except CompileError as err:
        raise CommandError(_located(err, path)) from None


def _add_run(sub) -> None:
    from .wasi.cli import add_parser
    add_parser(sub, CommandError, _load_module)


#: subcommand name -> function that adds its parser
COMMANDS: dict[str, Callable] = {
    "wat2wasm": _add_wat2wasm,
    "wasm2wat": _add_wasm2wat,
    "validate": _add_validate,
    "spectest": _add_spectest,
    "run": _add_run,
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(
        prog=PROG, description="WebAssembly tools of sharedwasm (a WebAssembly engine for "
        "Python).")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS.values():
        add(sub)
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 bad input, 2 usage)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CommandError as err:
        _error(str(err))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:  # an engine defect must still end with one clear line
        if os.environ.get("SHAREDWASM_DEBUG"):
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (set SHAREDWASM_DEBUG=1 for "
               "a traceback)")
        return 70
