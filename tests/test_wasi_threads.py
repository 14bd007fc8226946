"""wasi-threads across processes, with hand-written text-format programs.

Spawn and join with atomics and wait/notify (threads add to a counter and print through a
parent-side stream, the main thread waits until all are done), ``proc_exit`` in a thread
while the main thread is blocked in a wait or spinning, nested spawns, a trapping thread,
``thread-spawn`` without ``wasi_thread_start``, the configuration threads see (args,
preopens), the main thread returning while threads still run; through the API and the
command line; no processes or segments left behind.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sharedwasm as wasm
from sharedwasm.runtime.shared_memory import list_segments
from sharedwasm.wasi import WASI
from sharedwasm.wasi.threads import SPAWN_NO_ENTRY, ThreadGroup, run, uses_threads

pytestmark = pytest.mark.timeout(60)

HEADER = '''
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "env" "memory" (memory 1 1 shared))
  (export "memory" (memory 0))
  ;; write the byte $char to descriptor $fd (iovec and byte at 300 + 16 * $fd)
  (func $put (param $fd i32) (param $char i32)
    (local $at i32)
    (local.set $at (i32.add (i32.const 300) (i32.mul (local.get $fd) (i32.const 16))))
    (i32.store8 (i32.add (local.get $at) (i32.const 8)) (local.get $char))
    (i32.store (local.get $at) (i32.add (local.get $at) (i32.const 8)))
    (i32.store (i32.add (local.get $at) (i32.const 4)) (i32.const 1))
    (drop (call $fd_write (local.get $fd) (local.get $at) (i32.const 1) (i32.const 72))))
  (func $wait_forever (param $addr i32)
    (loop $again
      (drop (memory.atomic.wait32 (local.get $addr) (i32.const 0) (i64.const -1)))
      (br $again)))
'''

#: four threads add their argument (1..4) to the sum at 0, store their tid at 16 + 4*arg,
#: print "t", count themselves at 4 and notify; main waits for the count, prints the sum
SUM = '(module' + HEADER + '''
  (func (export "wasi_thread_start") (param $tid i32) (param $arg i32)
    (i32.store (i32.add (i32.const 16) (i32.shl (local.get $arg) (i32.const 2)))
               (local.get $tid))
    (drop (i32.atomic.rmw.add (i32.const 0) (local.get $arg)))
    (call $put (i32.const 1) (i32.const 116))
    (drop (i32.atomic.rmw.add (i32.const 4) (i32.const 1)))
    (drop (memory.atomic.notify (i32.const 4) (i32.const -1))))
  (func (export "_start")
    (local $i i32) (local $tid i32) (local $n i32)
    (loop $spawning
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (local.set $tid (call $spawn (local.get $i)))
      (if (i32.le_s (local.get $tid) (i32.const 0))
        (then (call $proc_exit (i32.sub (i32.const 0) (local.get $tid)))))
      (br_if $spawning (i32.lt_u (local.get $i) (i32.const 4))))
    (block $all
      (loop $waiting
        (local.set $n (i32.atomic.load (i32.const 4)))
        (br_if $all (i32.eq (local.get $n) (i32.const 4)))
        (drop (memory.atomic.wait32 (i32.const 4) (local.get $n) (i64.const -1)))
        (br $waiting)))
    (call $put (i32.const 1) (i32.add (i32.const 48) (i32.atomic.load (i32.const 0))))
    (call $put (i32.const 1) (i32.const 10))))
'''


def program(thread: str, main: str, *, entry: bool = True) -> str:
    """A module whose threads run ``thread`` (locals $tid, $arg) and main runs ``main``."""
    start = (f'(func (export "wasi_thread_start") (param $tid i32) (param $arg i32) {thread})'
             if entry else "")
    return f'(module {HEADER} {start} (func (export "_start") {main}))'


def spawn(arg: int) -> str:
    return f"(drop (call $spawn (i32.const {arg})))"


BLOCK = "(call $wait_forever (i32.const 8))"
SPIN = "(loop $spin (br $spin))"
#: arg 1: proc_exit(7); arg 2: trap; arg 3: block forever; arg 4: spawn arg 1, then block
THREAD = f'''
    (if (i32.eq (local.get $arg) (i32.const 1)) (then (call $proc_exit (i32.const 7))))
    (if (i32.eq (local.get $arg) (i32.const 2)) (then unreachable))
    (if (i32.eq (local.get $arg) (i32.const 4)) (then {spawn(1)}))
    {BLOCK}'''


def own_segments() -> list[str]:
    return [n for n in list_segments() if n.startswith(f"sharedwasm_{os.getpid()}_")]


@pytest.fixture(autouse=True)
def no_leaks():
    before = set(own_segments())
    yield
    import multiprocess
    assert set(own_segments()) <= before, "a shared memory segment leaked"
    assert not multiprocess.active_children(), "a worker process was left running"


def module_of(text: str) -> wasm.Module:
    return wasm.Module(wasm.wat2wasm(text))


# -- the API -----------------------------------------------------------------------------------
def test_spawn_and_join_with_wait_notify():
    module = module_of(SUM)
    assert uses_threads(module)
    out = io.BytesIO()
    with ThreadGroup(module) as group:
        name = group.memory._inst.name
        assert group.memory.shared
        with WASI(args=["sum"], stdout=out, thread_spawn=group.spawn) as wasi:
            code = group.start(wasi, wasm.Instance(module, group.imports(wasi)))
        tids = group.memory.buffer[20:36].cast("I").tolist()
        assert group.threads() == []
    assert code == 0
    assert out.getvalue() == b"tttt:\n"        # 48 + (1+2+3+4) is ':'; threads first
    assert len(set(tids)) == 4 and all(t > 0 for t in tids)
    assert name not in list_segments()


def test_proc_exit_in_a_thread_interrupts_a_blocked_main_thread():
    module = module_of(program(THREAD, spawn(3) + spawn(1) + BLOCK))
    assert run(module, args=["p"]) == 7


def test_proc_exit_in_a_thread_interrupts_a_spinning_main_thread():
    assert run(module_of(program(THREAD, spawn(1) + SPIN))) == 7


def test_nested_spawn_goes_through_the_parent():
    assert run(module_of(program(THREAD, spawn(4) + BLOCK))) == 7


def test_trap_in_a_thread_fails_the_program():
    module = module_of(program(THREAD, spawn(3) + spawn(2) + BLOCK))
    with pytest.raises(wasm.RuntimeError, match="unreachable"):
        run(module)


def test_trap_in_the_main_thread_ends_the_threads():
    with pytest.raises(wasm.RuntimeError, match="unreachable"):
        run(module_of(program(THREAD, spawn(3) + "(unreachable)")))


def test_spawn_without_wasi_thread_start_returns_an_error():
    main = "(call $proc_exit (i32.sub (i32.const 0) (call $spawn (i32.const 1))))"
    module = module_of(program("", main, entry=False))
    assert run(module) == -SPAWN_NO_ENTRY == 28


def test_main_returning_ends_the_program_and_its_threads():
    module = module_of(program(THREAD, spawn(3) + spawn(3)))
    with ThreadGroup(module) as group:
        with WASI(thread_spawn=group.spawn) as wasi:
            assert group.start(wasi, wasm.Instance(module, group.imports(wasi))) == 0
        assert group.threads() == []


def test_threads_see_the_same_args_and_preopens(tmp_path):
    # exit code: argc * 10 + the errno of fd_prestat_get(3) (0 when the preopen is there)
    thread = '''(drop (call $args_sizes_get (i32.const 80) (i32.const 84)))
        (call $proc_exit (i32.add (i32.mul (i32.load (i32.const 80)) (i32.const 10))
                                  (call $fd_prestat_get (i32.const 3) (i32.const 88))))'''
    module = module_of(program(thread, spawn(1) + BLOCK))
    assert run(module, args=["p", "a", "b"], preopens={"/d": tmp_path}) == 30
    assert run(module, args=["p"]) == 18        # EBADF: no descriptor 3


# -- the command line -------------------------------------------------------------------------
def cli(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sharedwasm", "run", str(path), *args],
                          capture_output=True, timeout=60)


def test_command_line(tmp_path):
    cases = {
        "sum": (SUM, 0, b"tttt:\n", b""),
        "exit": (program(THREAD, spawn(3) + spawn(1) + BLOCK), 7, b"", b""),
        "trap": (program(THREAD, spawn(2) + BLOCK), 134, b"",
                 b"sharedwasm: error: wasm trap: unreachable\n"),
    }
    for name, (text, status, stdout, stderr) in cases.items():
        path = tmp_path / f"{name}.wat"
        path.write_text(text)
        done = cli(path)
        assert (done.returncode, done.stdout, done.stderr) == (status, stdout, stderr), name
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True)
    assert leftover.stdout == b""


def test_main_thread_outside_the_python_main_thread():
    """The main thread spins until interrupted."""
    import threading
    results: list = []
    module = module_of(program(THREAD, spawn(1) + SPIN))
    runner = threading.Thread(target=lambda: results.append(run(module)))
    runner.start()
    runner.join(30)
    assert results == [7]


def test_a_killed_thread_fails_the_program():
    import threading
    import time

    import multiprocess
    from sharedwasm.wasi.threads import ThreadError

    def kill_first_worker() -> None:
        for _ in range(200):
            children = multiprocess.active_children()
            if children:
                time.sleep(0.2)
                os.kill(children[0].pid, 9)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    try:
        with pytest.raises(ThreadError, match=r"thread 1 died \(exit code -9\)"):
            run(module_of(program(THREAD, spawn(3) + BLOCK)))
    finally:
        killer.join()
