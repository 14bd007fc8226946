"""Shared test set-up: the tests folder on ``sys.path``, a private native-code cache and
the end-of-session summaries.

The native tier's on-disk cache goes to a temporary directory made for the session (and
removed after it), so tests never write into the home directory; worker processes and
subprocesses inherit it through the environment.

``report`` (a session fixture) collects counts that a test wants shown at the end of the
run, e.g. per-suite assertion counts of the spec checks; the terminal summary also prints
passed/failed/skipped counts per test file and the reasons of skips.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

_REPORT_KEY = pytest.StashKey["Report"]()
_CACHE_KEY = pytest.StashKey[str]()


def pytest_configure(config):
    folder = tempfile.mkdtemp(prefix="sharedwasm-test-cache-")
    config.stash[_CACHE_KEY] = folder
    os.environ["SHAREDWASM_CACHE_DIR"] = folder


@pytest.fixture(scope="module")
def portable_engine():
    """Pin the portable tier, for tests about it specifically (generated Python source,
    its dumps and tracebacks, its interruptibility); module-scoped, so module-scoped
    instances of those tests are portable too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHAREDWASM_ENGINE", "python")
        yield


def pytest_unconfigure(config):
    folder = config.stash.get(_CACHE_KEY, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


class Report:
    """Tables of counts: ``count(table, row, column, n)``; printed at the end of the session."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, int]]] = {}
        self.columns: dict[str, list[str]] = {}
        self.notes: dict[str, list[str]] = defaultdict(list)

    def count(self, table: str, row: str, column: str, n: int = 1) -> None:
        rows = self.tables.setdefault(table, {})
        cols = self.columns.setdefault(table, [])
        if column not in cols:
            cols.append(column)
        cells = rows.setdefault(row, {})
        cells[column] = cells.get(column, 0) + n

    def note(self, table: str, text: str) -> None:
        self.notes[table].append(text)

    def lines(self) -> list[str]:
        """Each table as text; columns ``X ok``/``X msg`` fold into ``X`` as ``ok/total mN``."""
        out = []
        for title, rows in self.tables.items():
            cols = [c for c in self.columns[title] if not c.endswith((" ok", " msg"))]
            totals = {c: sum(r.get(c, 0) for r in rows.values())
                      for c in self.columns[title]}
            shown = {row: [self._cell(cells, c) for c in cols] for row, cells in rows.items()}
            if len(rows) > 1:
                shown["total"] = [self._cell(totals, c) for c in cols]
            width = max(len(r) for r in shown)
            widths = [max([len(c)] + [len(v[i]) for v in shown.values()])
                      for i, c in enumerate(cols)]
            out.append(f"--- {title}")
            out.append("  ".join([" " * width] + [c.rjust(w) for c, w in zip(cols, widths)]))
            for row in sorted(shown, key=lambda r: (r == "total", r)):
                out.append("  ".join([row.ljust(width)] + [
                    v.rjust(w) for v, w in zip(shown[row], widths)]))
            out += [f"  {n}" for n in self.notes.get(title, [])]
        return out

    @staticmethod
    def _cell(cells: dict[str, int], column: str) -> str:
        total = cells.get(column, 0)
        if f"{column} ok" not in cells:
            return str(total)
        text = f"{cells[f'{column} ok']}/{total}"
        if f"{column} msg" in cells:
            text += f" m{cells[f'{column} msg']}"
        return text


@pytest.fixture(scope="session")
def report(request) -> Report:
    stash = request.config.stash
    if _REPORT_KEY not in stash:
        stash[_REPORT_KEY] = Report()
    return stash[_REPORT_KEY]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    per_file: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for outcome in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
        for rep in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(rep, "nodeid", "") or ""
            if nodeid:
                per_file[nodeid.split("::")[0]][outcome] += 1
    if per_file:
        terminalreporter.section("per test file")
        for name in sorted(per_file):
            counts = per_file[name]
            terminalreporter.write_line(
                f"{name:45} " + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    if _REPORT_KEY in config.stash and config.stash[_REPORT_KEY].tables:
        terminalreporter.section("sharedwasm summaries")
        for line in config.stash[_REPORT_KEY].lines():
            terminalreporter.write_line(line)
