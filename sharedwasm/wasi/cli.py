"""``python -m sharedwasm run FILE [ARGS...]``: run a WASI command (or ``--invoke`` an
export of any module) with the process's stdin/stdout/stderr.

Exit status: the program's ``proc_exit`` code (0 when ``_start`` returns); for
``--invoke``, 0 after printing the results. Failures print one line ``sharedwasm: error:
...``: status 1 for an unreadable file, a malformed or invalid module, a failed link (a
missing import) or a bad ``--dir``; status 134 (128 + SIGABRT) for a trap, as wasmtime
exits on Unix when wasm traps. A module importing ``wasi.thread-spawn`` or a memory runs
under a ``threads.ThreadGroup`` (threads as worker processes, the memory created from its
import type); a trap or a failed worker in any thread gives 134.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..errors import CompileError, LinkError, RuntimeError as Trap

#: exit status after a trap (wasmtime's on Unix: the status of a process killed by SIGABRT)
TRAP_STATUS = 128 + 6


class _Hooks:
    """What the command line gives this module: its error class (one line, status 1) and
    its module loader (``load(path, features) -> Module``)."""

    error: type[Exception] = Exception
    load: Any = None


def add_parser(sub: Any, error: type[Exception], load: Any) -> None:
    """Register ``run``; ``error`` and ``load`` come from the command line module."""
    _Hooks.error = error
    _Hooks.load = staticmethod(load)
    p = sub.add_parser(
        "run", help="run a WASI command module (or --invoke an export)",
        description="Instantiate FILE (.wasm or .wat) with the wasi_snapshot_preview1 "
        "imports and call _start; the exit status is the program's exit code (134 after a "
        "trap, 1 when the module cannot be loaded or linked). Options go before FILE; "
        "everything after FILE is passed to the program.")
    p.add_argument("--dir", action="append", default=[], metavar="HOST[::GUEST]",
                   help="preopen the host directory HOST as GUEST (default: the same path); "
                   "the program can reach nothing else")
    p.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]",
                   help="set an environment variable (NAME alone copies the host's value)")
    p.add_argument("--inherit-env", action="store_true",
                   help="pass the whole host environment (before any --env)")
    p.add_argument("--argv0", metavar="NAME", help="argv[0] of the program (default: FILE)")
    p.add_argument("--invoke", metavar="NAME",
                   help="call the export NAME with ARGS (numbers) and print its results, "
                   "instead of _start")
    p.add_argument("--features", help="all (default), wasm2, or e.g. wasm2,threads")
    p.add_argument("file", metavar="FILE")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    p.set_defaults(run=run)


def _fail(message: str) -> Exception:
    """The command line's one-line failure."""
    return _Hooks.error(message)


def _preopens(specs: list[str]) -> list[tuple[str, str]]:
    out = []
    for spec in specs:
        host, sep, guest = spec.partition("::")
        if not host:
            raise _fail(f"--dir {spec!r}: no host directory")
        if not os.path.isdir(host):
            raise _fail(f"--dir {spec!r}: {host} is not a directory")
        out.append((guest if sep else host, host))
    return out


def _environment(args: Any) -> list[tuple[str, str]]:
    env: dict[str, str] = dict(os.environ) if args.inherit_env else {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not name:
            raise _fail(f"--env {item!r}: no variable name")
        if not sep:
            if name not in os.environ:
                continue
            value = os.environ[name]
        env[name] = value
    return list(env.items())


def _number(text: str, type_: str) -> Any:
    try:
        if type_ in ("i32", "i64"):
            return int(text, 10) if text.lstrip("+-").isdigit() else int(text, 0)
        if type_ in ("f32", "f64"):
            return float(text)
    except ValueError:
        raise _fail(f"argument {text!r} is not a valid {type_}") from None
    raise _fail(f"cannot pass a {type_} argument from the command line")


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def run(args: Any) -> int:
    from ..api.instance import Instance
    from . import WASI, ProcExit
    from .threads import ThreadError, ThreadGroup, needs_group

    module = _Hooks.load(args.file, args.features)
    argv0 = args.argv0 if args.argv0 is not None else args.file
    env, preopens = _environment(args), _preopens(args.dir)
    group = ThreadGroup(module) if needs_group(module) else None
    try:
        wasi = WASI(args=[argv0, *([] if args.invoke else args.args)],
                    env=env, preopens=preopens,
                    stdin=0, stdout=1, stderr=2,
                    thread_spawn=group.spawn if group is not None else None)
    except OSError as err:
        if group is not None:
            group.close()
        raise _fail(f"cannot preopen {err.filename}: {err.strerror}") from None
    sys.stdout.flush()
    try:
        instance = Instance(module, group.imports(wasi) if group else wasi.imports)
        if args.invoke is not None:
            return _invoke(wasi, instance, args.invoke, args.args)
        for name in ("_start", "memory"):
            if name not in instance.exports:
                raise _fail(f"{args.file}: not a WASI command (no export {name!r}); "
                            "use --invoke NAME to call a function")
        if group is not None:
            return _exit_status(group.start(wasi, instance))
        return _exit_status(wasi.start(instance))
    except ProcExit as exit_:
        return _exit_status(exit_.code)
    except (LinkError, CompileError) as err:
        raise _fail(f"{args.file}: {err}") from None
    except Trap as err:
        wasi.flush()
        print(f"sharedwasm: error: wasm trap: {err}", file=sys.stderr)
        return TRAP_STATUS
    except RecursionError:
        wasi.flush()
        print("sharedwasm: error: wasm trap: call stack exhausted", file=sys.stderr)
        return TRAP_STATUS
    except ThreadError as err:
        wasi.flush()
        print(f"sharedwasm: error: {err}", file=sys.stderr)
        return TRAP_STATUS
    finally:
        if group is not None:
            group.close()
        wasi.close()


def _exit_status(code: int) -> int:
    """What the shell sees for ``proc_exit(code)``: its low 8 bits, as on Unix."""
    return code & 0xFF


def _invoke(wasi: Any, instance: Any, name: str, texts: list[str]) -> int:
    exports = instance.exports
    if name not in exports or not callable(exports[name]):
        raise _fail(f"no exported function named {name!r}")
    func = exports[name]
    params = func.type.params
    if len(texts) != len(params):
        raise _fail(f"{name} takes {len(params)} argument(s) "
                           f"({', '.join(params) or 'none'}), {len(texts)} given")
    values = [_number(text, type_) for text, type_ in zip(texts, params)]
    if "memory" in exports:
        wasi.initialize(instance)
    result = func(*values)
    results = result if isinstance(result, tuple) else (() if result is None else (result,))
    for value in results:
        print(_show(value))
    sys.stdout.flush()
    return 0
