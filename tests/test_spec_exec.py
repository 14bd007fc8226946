"""The spec suites executed: every script of core (SIMD files included), threads and
exceptions runs through the spec runner in-process, with its folder's features (the threads
scripts' ``thread`` blocks in worker processes; ``test_spec_threads.py`` checks those
closely).

Every script runs twice: with the default engine (native when llvmlite imports) and with
the portable tier (``-python`` ids, a table of its own), which costs about 11 s.

Each script must end with 0 failures and nothing skipped (SIMD included); the per-file
counts land in the end-of-session summary. A script known to fail is listed in ``KNOWN_FAILING`` with a reason; it is an
expected failure, and listed scripts that pass are reported so the list only shrinks.
"""
from __future__ import annotations

import pytest

from sharedwasm.spectest.runner import run_file

from suites import SUITES, need_spec, wast_files

EXEC_SUITES = ("core", "threads", "exceptions")
TABLE = "spec exec: passed/failed/skipped per script"

#: "suite/stem" -> why it is known to fail (keep empty: the goal is zero failures)
KNOWN_FAILING: dict[str, str] = {}


def _params() -> list:
    return [pytest.param(s, p, e, id=f"{s}/{p.stem}{'-' + e if e else ''}")
            for e in (None, "python") for s in EXEC_SUITES for p in wast_files(s)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("suite, wast, engine", _params())
def test_script(suite: str, wast, engine, report, monkeypatch):
    need_spec()
    if engine is None:
        monkeypatch.delenv("SHAREDWASM_ENGINE", raising=False)
    else:
        monkeypatch.setenv("SHAREDWASM_ENGINE", engine)
    result = run_file(wast, SUITES[suite], name=f"{suite}/{wast.name}")
    row = f"{suite}/{wast.stem}"
    table = TABLE if engine is None else f"{TABLE} ({engine} engine)"
    for column, n in (("passed", result.passed), ("failed", result.failed),
                      ("skipped", result.skipped)):
        report.count(table, row, column, n)
    known = KNOWN_FAILING.get(row)
    if result.failed:
        listing = "\n".join(str(f) for f in result.failures[:30])
        if known:
            pytest.xfail(f"{known} ({result.failed} failures)")
        pytest.fail(f"{row}: {result.failed} failed, {result.passed} passed:\n{listing}",
                    pytrace=False)
    if known:
        report.note(TABLE, f"{row} passes now: remove it from KNOWN_FAILING")
    assert result.skipped == 0, f"{row}: skipped {dict(result.skips)}"
