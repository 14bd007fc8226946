"""``wasm.Worker``: the Web Worker model with processes.

Scripts and callables as targets, messages both ways (a Module and a shared Memory travel
to the worker), ``on_message``, timeouts on every blocking call, errors raised with the
worker's traceback, a dead worker detected through its sentinel, ``terminate()`` of a
worker blocked in a wasm wait, start-up time, and no processes or segments left behind.
"""
from __future__ import annotations

import os
import queue
import signal
import time
from pathlib import Path

import pytest

import sharedwasm as wasm
from leaks import no_leaks, own_segments  # noqa: F401
from sharedwasm.concurrency import RemoteTraceback, Worker, WorkerDied, WorkerError



WORKERS = Path(__file__).resolve().parent.parent / "workers"

WAIT_WAT = '''(module (memory (import "env" "memory") 1 1 shared)
  (func (export "block") (result i32)
    (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1)))
  (func (export "set") (param i32 i32) (i32.atomic.store (local.get 0) (local.get 1))))'''




def _echo(scope, greeting):
    scope.post_message(greeting)
    while True:
        message = scope.receive(timeout=20)
        if message == "stop":
            return "stopped"
        scope.post_message(("echo", message, os.getpid()))


def test_callable_worker_messages_and_result():
    with Worker(_echo, "hi") as w:
        assert w.receive(timeout=20) == "hi"
        w.post_message([1, 2])
        kind, payload, pid = w.receive(timeout=10)
        assert (kind, payload) == ("echo", [1, 2]) and pid == w.pid != os.getpid()
        w.post_message(lambda x: x + 1)           # closures travel with dill
        assert w.receive(timeout=10)[1](1) == 2
        w.post_message("stop")
        assert w.result(timeout=10) == "stopped"
        with pytest.raises(EOFError):
            w.receive(timeout=1)
    assert "terminated" in repr(w)


def test_receive_times_out():
    with Worker(_echo, "hi") as w:
        w.receive(timeout=20)
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            w.receive(timeout=0.1)
        assert time.monotonic() - start < 2
        with pytest.raises(TimeoutError):
            w.result(timeout=0.1)


def test_script_worker_with_on_message():
    with Worker(WORKERS / "echo.py") as w:
        kind, name = w.receive(timeout=20)
        assert kind == "ready" and name == w.name
        w.post_message({"a": 1})
        assert w.receive(timeout=10) == ("echo", {"a": 1})
        w.post_message("close")
        assert w.result(timeout=10) is None
    with pytest.raises(FileNotFoundError):
        Worker(WORKERS / "missing.py")


def test_module_and_shared_memory_travel_to_a_script_worker():
    module = wasm.Module(wasm.wat2wasm(WAIT_WAT))
    with wasm.Memory(1, 1, shared=True) as mem, Worker(WORKERS / "wasm_instance.py") as w:
        w.post_message(("instantiate", module, {"env": {"memory": mem}}))
        assert w.receive(timeout=30) == ("instantiated", ["block", "set"])
        w.post_message(("call", "set", (8, 1234)))
        assert w.receive(timeout=10) == ("result", None)
        assert int.from_bytes(mem.buffer[8:12], "little") == 1234
        w.post_message(("call", "set", (9, 1)))
        kind, text = w.receive(timeout=10)
        assert kind == "error" and "unaligned atomic" in text
        w.post_message(("close",))
        w.result(timeout=10)


def test_on_message_delivers_on_a_thread():
    got: queue.Queue = queue.Queue()
    with Worker(_echo, "first") as w:
        w.on_message = got.put
        assert got.get(timeout=20) == "first"
        w.post_message(7)
        assert got.get(timeout=10)[:2] == ("echo", 7)
        with pytest.raises(WorkerError, match="on_message"):
            w.receive(timeout=1)


def _fail(scope):
    def inner():
        raise KeyError("missing thing")
    inner()


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("no")


def _fail_unpicklable(scope):
    raise _Unpicklable("odd")


def test_errors_come_back_with_the_worker_traceback():
    with Worker(_fail) as w:
        with pytest.raises(KeyError, match="missing thing") as info:
            w.result(timeout=20)
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback) and "in inner" in cause.text
    with Worker(_fail_unpicklable) as w:
        with pytest.raises(WorkerError, match="odd") as info:
            w.result(timeout=20)
    assert "_fail_unpicklable" in info.value.__cause__.text


def _exit_hard(scope):
    scope.post_message("about to die")
    os._exit(3)


def test_dead_worker_is_reported_not_waited_on():
    with Worker(_exit_hard) as w:
        assert w.receive(timeout=20) == "about to die"
        start = time.monotonic()
        with pytest.raises(WorkerDied, match="exit code 3"):
            w.receive(timeout=30)
        assert time.monotonic() - start < 5
        with pytest.raises(WorkerDied):
            w.post_message("anyone?")
    assert w.exitcode == 3


def _sleep_forever(scope):
    scope.post_message("sleeping")
    time.sleep(3600)


def test_kill_minus_9_detected_promptly():
    with Worker(_sleep_forever) as w:
        w.receive(timeout=20)
        os.kill(w.pid, signal.SIGKILL)
        start = time.monotonic()
        with pytest.raises(WorkerDied, match="-9"):
            w.result(timeout=30)
        assert time.monotonic() - start < 5


def _block_in_wasm(scope, module, mem):
    inst = wasm.Instance(module, {"env": {"memory": mem}})
    scope.post_message("blocking")
    return inst.exports.block()


def test_terminate_a_worker_blocked_in_a_wasm_wait():
    module = wasm.Module(wasm.wat2wasm(WAIT_WAT))
    with wasm.Memory(1, 1, shared=True) as mem:
        w = Worker(_block_in_wasm, module, mem)
        assert w.receive(timeout=30) == "blocking"
        deadline = time.monotonic() + 10
        while mem._inst.parking.waiters(0) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        start = time.monotonic()
        w.terminate()
        assert time.monotonic() - start < 3
        assert not w.is_alive() and w.exitcode is not None


def test_wasm_wait_in_worker_woken_by_host_notify():
    module = wasm.Module(wasm.wat2wasm(WAIT_WAT))
    with wasm.Memory(1, 1, shared=True) as mem:
        with Worker(_block_in_wasm, module, mem) as w:
            assert w.receive(timeout=30) == "blocking"
            deadline = time.monotonic() + 10
            while mem._inst.parking.waiters(0) < 1:
                assert time.monotonic() < deadline
                time.sleep(0.005)
            assert wasm.atomics.notify(mem, 0, 1) == 1
            assert w.result(timeout=10) == 0


def _hello(scope):
    scope.post_message("up")


def test_start_up_time(report):
    # a target the worker need not import (a test function would import this test module,
    # and pytest with it): the cost measured is the worker's own
    from sharedwasm.concurrency import start_thread
    with start_thread(os.getpid) as first:              # the forkserver starts once
        first.result(timeout=30)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        w = start_thread(os.getpid)
        assert w.result(timeout=20) == w.pid
        times.append(time.perf_counter() - start)
        w.terminate()
    best = min(times) * 1000
    report.count("threads", "worker start-up", "checked")
    report.note("threads", f"worker start-up to its result: best {best:.1f} ms of 5")
    assert best < 200               # ~6 ms idle (Node's new Worker: 40-47 ms)


def test_bad_target_and_terminated_worker():
    with pytest.raises(TypeError):
        Worker(42)
    w = Worker(_hello)
    w.terminate()
    w.terminate()
    with pytest.raises(WorkerError, match="terminated"):
        w.post_message(1)


def _cwd_and_pid(scope):
    return os.getcwd(), os.getpid()


def test_a_worker_takes_the_idle_spare_process(tmp_path, monkeypatch):
    from sharedwasm.concurrency import spare
    with Worker(_cwd_and_pid) as first:
        first.result(timeout=30)
    deadline = time.monotonic() + 20
    while not spare.idle_pids() and time.monotonic() < deadline:
        time.sleep(0.02)
    idle = spare.idle_pids()
    assert len(idle) == 1
    import multiprocess
    assert not {p.pid for p in multiprocess.active_children()} & idle
    monkeypatch.chdir(tmp_path)              # the spare started elsewhere: cwd travels
    with Worker(_cwd_and_pid) as second:
        cwd, pid = second.result(timeout=30)
    assert pid in idle
    assert cwd == str(tmp_path)
    spare.shutdown()
    try:
        assert spare.idle_pids() == set()
        for pid in idle:
            assert not Path(f"/proc/{pid}").exists() or \
                Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    finally:
        spare.reopen()
