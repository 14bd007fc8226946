"""What every benchmark script shares: timing, a progress line, optional peers, and the
section of ``docs/performance.md`` each script owns.

Each script writes only its own section, between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->`` markers, so running one benchmark never erases another's results.
"""
from __future__ import annotations

import importlib
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
PERFORMANCE_MD = ROOT / "docs" / "performance.md"
REALWORLD = Path(os.environ.get("SHAREDWASM_REALWORLD_DIR", ROOT.parent / "shared" / "realworld"))
DOC_TITLE = "# Performance\n\nEach section is written by the script in `bench/` it names.\n"


def median_time(fn: Callable[[], Any], runs: int) -> float:
    """Median wall time of ``runs`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def settle(timeout: float = 10.0) -> None:
    """Wait until the idle spare worker processes stop using CPU (a pool takes the spare
    and a new one boots in the background: on 2 cores its imports would be timed with
    the parallel kernels)."""
    from sharedwasm.concurrency import spare
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        pids = spare.idle_pids()
        if spare.enabled() and len(pids) < spare.count():
            time.sleep(0.05)                # the next spare is not started yet
            continue
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            ticks += int(fields[11]) + int(fields[12])      # utime + stime
        if ticks == last:
            return
        last = ticks
        time.sleep(0.2)


def optional_module(name: str) -> Any | None:
    """The module, or None when the peer is not installed (a missing peer is reported, not
    fatal)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def peer_version(dist: str) -> str:
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return "?"


class Progress:
    """A one-line progress indicator on a terminal (silent otherwise)."""

    def __init__(self, total: int):
        self.total, self.done = total, 0
        self.tty = sys.stderr.isatty()

    def step(self, what: str) -> None:
        self.done += 1
        if self.tty:
            sys.stderr.write(f"\r[{self.done}/{self.total}] {what[:60]:60}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * 72 + "\r")


def machine_line() -> str:
    return (f"Python {platform.python_version()} on {platform.machine()}, "
            f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")


def goal(met: bool, what: str) -> str:
    """The suffix a table cell gets for a stated goal."""
    return f" (goal {what}: {'met' if met else 'NOT met'})"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def write_section(name: str, text: str, path: Path = PERFORMANCE_MD) -> None:
    """Replace (or append) the section ``name`` of ``docs/performance.md``."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    doc = path.read_text() if path.exists() else DOC_TITLE
    if start in doc and end in doc:
        head, rest = doc.split(start, 1)
        doc = head + block + rest.split(end, 1)[1]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    path.write_text(doc)
    print(f"written to {path} (section {name})")
