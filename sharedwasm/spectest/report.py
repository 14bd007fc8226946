"""``python -m sharedwasm spectest PATH...``: run scripts, print per-file counts and a total.

Output: one line per file (``PATH: N passed, M failed[, K skipped]``) followed by its
failures; then the skip reasons with counts; the last line is exactly ``N passed, M failed``
(``, K skipped`` when some were). A progress line is drawn on stderr while stdout is a
terminal. ``--json FILE`` writes every file's counts, failures and skip reasons.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, TextIO

if TYPE_CHECKING:
    from .runner import ScriptResult

#: failures shown per file unless ``--verbose``
SHOWN_FAILURES = 10


def collect(paths: Iterable[str]) -> list[Path]:
    """The ``.wast`` files named or found (recursively, sorted) under the given paths."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.wast") if p.is_file())
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(name)
    return found


def counts_text(passed: int, failed: int, skipped: int) -> str:
    text = f"{passed} passed, {failed} failed"
    return f"{text}, {skipped} skipped" if skipped else text


def file_lines(result: ScriptResult, verbose: bool = False) -> list[str]:
    """The report of one file: its counts line and its failures (all of them if verbose)."""
    lines = [f"{result.path}: {counts_text(result.passed, result.failed, result.skipped)}"]
    shown = result.failures if verbose else result.failures[:SHOWN_FAILURES]
    lines += [f"  FAIL {f}" for f in shown]
    if len(shown) < len(result.failures):
        lines.append(f"  ... and {len(result.failures) - len(shown)} more failures "
                     "(--verbose shows all)")
    return lines


class _Progress:
    """A one-line progress display on stderr, drawn only when stdout is a terminal."""

    def __init__(self, total: int, out: TextIO):
        self.total = total
        self.enabled = out.isatty() and sys.stderr.isatty()
        self.width = 0

    def show(self, index: int, path: Path, failed: int) -> None:
        if not self.enabled:
            return
        text = f"[{index}/{self.total}] {failed} failed so far - {path}"
        sys.stderr.write("\r" + text.ljust(self.width))
        sys.stderr.flush()
        self.width = len(text)

    def clear(self) -> None:
        if self.enabled and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()
            self.width = 0


def run_paths(paths: Iterable[str], *, features: frozenset[str] | None = None,
              timeout: float | None = None, json_path: str | None = None,
              verbose: bool = False, quiet: bool = False,
              out: TextIO | None = None) -> int:
    """Run every script under ``paths`` and print the report; returns the exit status."""
    from .runner import run_file
    out = out or sys.stdout
    files = collect(paths)
    progress = _Progress(len(files), out)
    results: list[ScriptResult] = []
    failed = 0
    for index, path in enumerate(files, 1):
        progress.show(index, path, failed)
        result = run_file(path, features, timeout)
        results.append(result)
        failed += result.failed
        progress.clear()
        if not quiet or result.failed:
            print("\n".join(file_lines(result, verbose)), file=out, flush=True)
    passed = sum(r.passed for r in results)
    skipped = sum(r.skipped for r in results)
    reasons: Counter = Counter()
    for r in results:
        reasons.update(r.skips)
    for reason, n in sorted(reasons.items(), key=lambda item: -item[1]):
        print(f"skipped {n}: {reason}", file=out)
    if json_path:
        Path(json_path).write_text(json.dumps({
            "passed": passed, "failed": failed, "skipped": skipped,
            "files": [r.to_json() for r in results]}, indent=1) + "\n")
    print(counts_text(passed, failed, skipped), file=out, flush=True)
    return 1 if failed else 0


def add_parser(sub, parse_features: Callable[[str], frozenset[str]]) -> None:
    """The ``spectest`` subcommand of the command line (``parse_features`` reads --features)."""
    p = sub.add_parser(
        "spectest", help="run .wast spec scripts (files or folders)",
        description="Run WebAssembly script files (.wast): every command of the spec suites. "
        "Features follow the suite folder (core: WebAssembly 2.0; threads: 2.0 without "
        "reference types, plus threads; exceptions: 2.0 plus that proposal) unless --features is given. Prints per-file counts and ends "
        "with 'N passed, M failed' (', K skipped'); exit status 1 when anything failed.")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".wast files or folders")
    p.add_argument("--features", help="all, wasm2, or e.g. wasm2,threads (default: by folder)")
    p.add_argument("--json", metavar="FILE", help="also write per-file counts as JSON")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="fail a command running longer than this (default 60; 0: never)")
    p.add_argument("-v", "--verbose", action="store_true", help="show every failure")
    p.add_argument("-q", "--quiet", action="store_true", help="list only files with failures")
    p.set_defaults(run=_command, parse_features=parse_features)


def _command(args) -> int:
    features = args.parse_features(args.features) if args.features else None
    try:
        return run_paths(args.paths, features=features, timeout=args.timeout or None,
                         json_path=args.json, verbose=args.verbose, quiet=args.quiet)
    except FileNotFoundError as err:
        print(f"sharedwasm: error: no such file or folder: {err.args[0]}", file=sys.stderr)
        return 1
