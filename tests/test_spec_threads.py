"""Script threads in the spec runner, and the litmus scripts of the threads suite.

``(thread ...)`` runs its commands in a worker process and ``(wait ...)`` joins it; these
tests check that with scripts written here (shared memories seen by the thread, registered
names, nesting, failures reported with the thread's label, timeouts), that nothing is left
behind (worker processes, ``/dev/shm`` segments) also after a failure or a timeout, and run
the suite's litmus scripts ``MP.wast``, ``thread.wast`` and ``simple.wast`` 200 times each
(in-process, through the runner) checking every outcome is one the script allows; the
outcome histograms (and ms per run) land in the end-of-session summary. ``wait_notify.wast`` must never
hang: it runs under a short timeout, repeatedly.
"""
from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from sharedwasm.runtime.shared_memory import list_segments
from sharedwasm.spectest.runner import ScriptRunner, run_script
from sharedwasm.text import script

from suites import SPEC_DIR, SUITES, need_spec

FEATURES = SUITES["threads"]
HISTOGRAM = "threads litmus outcomes: runs per outcome"
#: runs of each litmus script (about 50 s for the three on 2 busy cores)
LITMUS_RUNS = 200


# -- helpers ---------------------------------------------------------------------------------

def _proc_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), fields[0], cmdline.decode(errors="replace"))
    return table


def _workers() -> list[str]:
    """Living descendants of this process other than the session's process-start
    infrastructure: our forkserver (a child of ours; workers are its children and carry its
    command line, being forked from it), the idle spare process and resource trackers."""
    from sharedwasm.concurrency import spare
    table = _proc_table()
    idle = spare.idle_pids()
    found = []
    for pid, (ppid, state, cmd) in table.items():
        if state == "Z" or "resource_tracker" in cmd or pid in idle:
            continue
        depth, seen = 1, set()
        while ppid and ppid not in seen and ppid != os.getpid():
            seen.add(ppid)
            ppid, depth = table.get(ppid, (0,))[0], depth + 1
        if ppid == os.getpid() and not (depth == 1 and "forkserver import main" in cmd):
            found.append(f"{pid} (depth {depth}): {cmd[:60]}")
    return found


def _no_workers_left(deadline: float = 3.0) -> list[str]:
    """Descendants still alive after ``deadline`` seconds (killed ones may need a moment)."""
    end = time.monotonic() + deadline
    while True:
        left = _workers()
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _our_segments() -> set[str]:
    """Segments made by this process, or by processes that are gone (a worker's leftover);
    other live processes' segments (parallel test runs) are not ours to judge."""
    found = set()
    for name in list_segments():
        pid = name.split("_")[1]
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            found.add(name)
    return found


@pytest.fixture
def clean():
    """The test must leave no worker processes and no segments of ours in /dev/shm."""
    before = _our_segments()
    yield
    assert _no_workers_left() == []
    assert sorted(_our_segments() - before) == []


def _run(text: str, timeout: float | None = 20.0):
    return run_script(text, "t.wast", FEATURES, timeout)


# -- the runner's threads --------------------------------------------------------------------

SHARED = '''
(module $Mem (memory (export "shared") 1 1 shared)
  (func (export "get") (param i32) (result i32) (i32.load (local.get 0))))
'''
WRITER = '''(module (memory (import "mem" "shared") 1 1 shared)
    (func (export "put") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
    (func (export "get") (param i32) (result i32) (i32.load (local.get 0))))'''


def test_a_thread_sees_the_shared_memory_and_its_counts_are_added(clean):
    result = _run(SHARED + f'''
(thread $T (shared (module $Mem))
  (register "mem" $Mem)
  {WRITER}
  (invoke "put" (i32.const 0) (i32.const 42))
  (assert_return (invoke "get" (i32.const 0)) (i32.const 42)))
(wait $T)
(assert_return (invoke $Mem "get" (i32.const 0)) (i32.const 42))
''')
    assert result.failures == []
    # module, thread, register, module, invoke, assert_return, wait, assert_return
    assert (result.passed, result.failed, result.skipped) == (8, 0, 0)


def test_a_thread_starts_with_a_fresh_registry(clean):
    result = _run(SHARED + '''
(register "mem" $Mem)
(thread $T
  (assert_unlinkable (module (memory (import "mem" "shared") 1 1 shared)) "unknown import"))
(wait $T)
''')
    assert result.failures == [] and result.passed == 5


def test_failures_inside_a_thread_carry_its_label_and_line(clean):
    result = _run(SHARED + f'''
(thread $T (shared (module $Mem))
  (register "mem" $Mem)
  {WRITER}
  (assert_return (invoke "get" (i32.const 0)) (i32.const 7)))
(wait $T)
''')
    assert (result.passed, result.failed) == (5, 1)
    failure = result.failures[0]
    assert failure.line == 10
    assert failure.command == "thread $T (line 5): assert_return 'get'"
    assert "expected (i32.const 7), got (i32.const 0)" in failure.reason


def test_threads_nest(clean):
    result = _run(SHARED + f'''
(thread $Outer (shared (module $Mem))
  (register "mem" $Mem)
  {WRITER}
  (invoke "put" (i32.const 0) (i32.const 7))
  (thread $Inner (shared (module $Mem))
    (register "mem" $Mem)
    {WRITER}
    (invoke "put" (i32.const 4) (i32.const 9))
    (assert_return (invoke "get" (i32.const 4)) (i32.const 8)))
  (wait $Inner))
(wait $Outer)
(assert_return (invoke $Mem "get" (i32.const 0)) (i32.const 7))
(assert_return (invoke $Mem "get" (i32.const 4)) (i32.const 9))
''')
    assert result.failed == 1, result.failures
    assert result.failures[0].command == \
        "thread $Outer (line 5): thread $Inner (line 11): assert_return 'get'"
    assert result.passed == 13


def test_a_hanging_thread_is_a_failure_not_a_hang(clean):
    start = time.monotonic()
    result = _run(SHARED + '''
(thread $T (shared (module $Mem))
  (register "mem" $Mem)
  (module (memory (import "mem" "shared") 1 1 shared)
    (func (export "run") (result i32)
      (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))))
  (assert_return (invoke "run") (i32.const 0)))
(wait $T)
(assert_return (invoke $Mem "get" (i32.const 0)) (i32.const 0))
''', timeout=1.0)
    assert time.monotonic() - start < 10
    assert result.failed == 1
    assert result.failures[0].command == "thread $T (line 5): assert_return 'run'"
    assert "timed out after 1 s" in result.failures[0].reason
    assert result.passed == 6


def test_a_thread_never_waited_for_is_joined_at_the_end(clean):
    result = _run(SHARED + f'''
(thread $T (shared (module $Mem))
  (register "mem" $Mem)
  {WRITER}
  (assert_return (invoke "get" (i32.const 0)) (i32.const 1)))
''')
    assert (result.passed, result.failed) == (4, 1)


def test_unknown_threads_and_modules_fail(clean):
    result = _run('''
(wait $Nope)
(thread $T (shared (module $Missing)))
''')
    assert result.failed == 2
    assert "unknown thread $Nope" in result.failures[0].reason
    assert "unknown module Missing" in result.failures[1].reason


def test_ending_a_runner_midway_ends_its_threads(clean):
    text = SHARED + '''
(thread $T (shared (module $Mem))
  (register "mem" $Mem)
  (module (memory (import "mem" "shared") 1 1 shared)
    (func (export "run") (result i32)
      (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))))
  (invoke "run"))
'''
    runner = ScriptRunner("t.wast", FEATURES, 30.0)
    try:
        runner.run(script.parse_script(text, "t.wast"))
        time.sleep(0.3)
        assert len(_workers()) == 1
    finally:
        runner.close(join=False)


# -- the suite's scripts -----------------------------------------------------------------------

def _u32(memory, address: int) -> int:
    return int.from_bytes(memory.buffer[address:address + 4], "little")


def _mp(runner: ScriptRunner, result) -> str:
    mem = runner.instances["Mem"].exports["shared"]
    flag, data = _u32(mem, 24), _u32(mem, 32)
    assert flag in (0, 1) and data in (0, 42), f"forbidden outcome L_0={flag} L_1={data}"
    return f"L_0={flag} L_1={data}"


def _thread(runner: ScriptRunner, result) -> str:
    (key, n), = result.observed.items()
    value = int(re.search(r"i32\.const (\d+)\)$", key).group(1))
    assert n == 1 and value in (0, 42), f"forbidden outcome: T2 read {value}"
    return f"T2 read {value}"


def _simple(runner: ScriptRunner, result) -> str:
    value = _u32(runner.instances["Mem"].exports["shared"], 0)
    assert value == 1, f"forbidden outcome: {value}"
    return f"[0]={value}"


#: litmus script -> its outcome as text (asserting it is allowed)
LITMUS = {"MP.wast": _mp, "thread.wast": _thread, "simple.wast": _simple}


def _litmus(name: str, runs: int, report) -> None:
    need_spec()
    path = SPEC_DIR / "threads" / name
    commands = script.parse_script(path.read_bytes(), str(path))
    outcomes: Counter = Counter()
    start = time.perf_counter()
    for _ in range(runs):
        runner = ScriptRunner(f"threads/{name}", FEATURES, 30.0)
        try:
            runner.run(commands)
            result = runner.result
            assert result.failed == 0, [str(f) for f in result.failures]
            outcomes[LITMUS[name](runner, result)] += 1
        finally:
            runner.close()
    seconds = time.perf_counter() - start
    row = f"{name} x{runs} ({seconds / runs * 1000:.0f} ms/run)"
    for outcome, n in sorted(outcomes.items()):
        report.count(HISTOGRAM, row, outcome, n)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", list(LITMUS))
def test_litmus_outcomes_are_allowed(name, report, clean):
    _litmus(name, LITMUS_RUNS, report)


@pytest.mark.timeout(120)
def test_wait_notify_never_hangs(clean):
    need_spec()
    path = SPEC_DIR / "threads" / "wait_notify.wast"
    text = path.read_bytes()
    for _ in range(10):
        start = time.monotonic()
        result = run_script(text, str(path), FEATURES, timeout=5.0)
        assert time.monotonic() - start < 15
        assert (result.passed, result.failed) == (12, 0), [str(f) for f in result.failures]
