"""The native tier with several Python threads: each OS thread runs native code with its
own VM state (trap codes, stack limit, reference handles), threads run native code at the
same time, and ``vm.interrupt`` stops a loop in machine code of one thread or all."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

pytest.importorskip("llvmlite", reason="the native tier needs llvmlite (extra 'native')")

import sharedwasm as wasm  # noqa: E402
from sharedwasm.tiers.native import vm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

WAT = r"""(module
  (import "env" "host" (func $host (param i32) (result i32)))
  (memory (export "memory") 1 1 shared)
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func $rec (export "rec") (param i64) (result i64)
    (i64.add (call $rec (local.get 0)) (i64.const 1)))
  (func (export "via_host") (param i32) (result i32)
    (i32.add (call $host (local.get 0)) (i32.const 1)))
  (func (export "spin") (loop (br 0)))
  ;; counts its turns at address 4 until address 0 holds 1, then answers 42
  (func (export "await") (result i32)
    (loop $wait
      (drop (i32.atomic.rmw.add (i32.const 4) (i32.const 1)))
      (br_if $wait (i32.eqz (i32.atomic.load (i32.const 0)))))
    (i32.const 42))
  (func (export "signal") (i32.atomic.store (i32.const 0) (i32.const 1))))
"""


class HostError(Exception):
    pass


def host(x: int) -> int:
    if x < 0:
        raise HostError(x)
    if x % 7 == 0:
        return EXPORTS["div"](x, 0)          # a trap of a nested call
    return EXPORTS["fib"](x % 12)


EXPORTS: dict = {}


@pytest.fixture(scope="module", autouse=True)
def interruptible_native():
    """Native instances whose loops poll the interrupt request (not the default)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHAREDWASM_ENGINE", "native")
        mp.setenv("SHAREDWASM_NATIVE_INTERRUPTIBLE", "1")
        yield


@pytest.fixture(scope="module")
def exports(interruptible_native):
    func = wasm.Function({"parameters": ["i32"], "results": ["i32"]}, host)
    inst = wasm.Instance(wasm.Module(wasm.wat2wasm(WAT)), {"env": {"host": func}})
    EXPORTS.update(inst.exports)
    assert inst._inst.funcs[1].native_ref      # really native
    yield inst.exports
    EXPORTS.clear()


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except wasm.RuntimeError as err:
        return ("trap", err.message)
    except HostError as err:
        return ("host", err.args)


def cases(ex) -> list:
    return ([(ex["fib"], (n,)) for n in (5, 15, 20)]
            + [(ex["div"], (7, d)) for d in (0, 2, -1)] + [(ex["div"], (-2**31, -1))]
            + [(ex["rec"], (0,))]
            + [(ex["via_host"], (x,)) for x in (3, 14, -5, 11)])


@pytest.mark.timeout(120)
def test_concurrent_calls_give_the_single_threaded_outcomes(exports):
    want = [outcome(fn, *args) for fn, args in cases(exports)]
    assert ("trap", "call stack exhausted") in want and ("trap", "integer divide by zero") \
        in want and ("host", (-5,)) in want and ("ok", 6765) in want
    got: dict[int, list] = {}
    start = threading.Barrier(6)

    def worker(k: int) -> None:
        start.wait()
        seen = []
        for round_ in range(40):
            order = cases(exports)
            if k % 2:
                order.reverse()
            seen.append([outcome(fn, *args) for fn, args in order])
        got[k] = seen

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    assert len(got) == 6
    for k, seen in got.items():
        expected = want if k % 2 == 0 else want[::-1]
        assert all(results == expected for results in seen), k


def test_threads_run_native_code_at_the_same_time(exports):
    """One thread spins in machine code until this one, seeing it spin, sets a flag from
    machine code: only possible when the spinning thread does not hold the GIL."""
    memory = exports["memory"]
    result: list = []
    waiter = threading.Thread(target=lambda: result.append(outcome(exports["await"])))
    waiter.start()
    while not int.from_bytes(memory.buffer[4:8], "little"):
        waiter.join(0.001)
    exports["signal"]()
    waiter.join(30)
    if waiter.is_alive():
        vm.interrupt(TimeoutError("still waiting"), waiter.ident)
        waiter.join(30)
    assert result == [("ok", 42)]


class Stop(BaseException):
    pass


def start_catching_stop(call) -> tuple[threading.Thread, list]:
    """A started thread running ``call``; the list gets "stopped" if it raises ``Stop``."""
    result: list = []

    def run() -> None:
        try:
            call()
        except Stop:
            result.append("stopped")

    t = threading.Thread(target=run)
    t.start()
    return t, result


def test_interrupt_stops_the_loop_of_one_thread(exports):
    ready = threading.Event()
    result: list = []

    def spin() -> None:
        vm.current()
        ready.set()
        try:
            exports["spin"]()
        except Stop as err:
            result.append(("stopped", err.args))
        result.append(outcome(exports["fib"], 10))    # the request was used up

    t = threading.Thread(target=spin)
    t.start()
    ready.wait(30)
    vm.interrupt(Stop("please"), t.ident)
    t.join(30)
    assert result == [("stopped", ("please",)), ("ok", 55)]
    assert exports["fib"](10) == 55                   # other threads were not touched


def test_interrupt_of_all_threads_reaches_a_loop_below_a_host_call():
    """native -> host -> native: the inner loop stops, the exception crosses the outer
    native frames and the outermost call raises it."""
    ready = threading.Event()

    def inner(_x: int) -> int:
        ready.set()
        EXPORTS2["spin"]()
        return 0

    func = wasm.Function({"parameters": ["i32"], "results": ["i32"]}, inner)
    EXPORTS2 = wasm.Instance(wasm.Module(wasm.wat2wasm(WAT)), {"env": {"host": func}}).exports
    t, result = start_catching_stop(lambda: EXPORTS2["via_host"](1))
    ready.wait(30)
    t.join(0.2)
    vm.interrupt(Stop())
    t.join(30)
    for state in vm.states():               # withdraw the requests no native code used
        state.clear_interrupt()
    assert result == ["stopped"]


def test_interrupt_stops_a_recursion_without_loops(exports):
    """Function prologues poll too: fib(60) would run for years."""
    ready = threading.Event()

    def fib() -> None:
        vm.current()                        # the thread has a state to interrupt
        ready.set()
        exports["fib"](60)

    t, result = start_catching_stop(fib)
    ready.wait(30)
    vm.interrupt(Stop(), t.ident)
    t.join(30)
    assert result == ["stopped"]


SMALL_STACK = """
import threading
import sharedwasm as wasm
src = '''(module
  (func $rec (export "rec") (param i64) (result i64)
    (i64.add (call $rec (local.get 0)) (i64.const 1)))
  (func $deep (export "deep") (param i64 i64 i64 i64 i64 i64) (result i64)
    (i64.add (call $deep (local.get 0) (local.get 1) (local.get 2) (local.get 3)
                         (local.get 4) (local.get 5))
             (i64.add (local.get 0) (local.get 5)))))'''
ex = wasm.Instance(wasm.Module(wasm.wat2wasm(src))).exports
out = []
def run():
    for name, args in (("rec", (0,)), ("deep", (1, 2, 3, 4, 5, 6))):
        try:
            ex[name](*args)
        except wasm.RuntimeError as err:
            out.append(err.message)
for size in (256 << 10, 1 << 20, 0):
    threading.stack_size(size)
    t = threading.Thread(target=run)
    t.start()
    t.join()
print(out)
"""


def test_deep_recursion_in_threads_with_small_stacks_traps():
    """Each thread's stack limit comes from its own stack: a 256 KiB thread traps
    instead of overflowing (in a child process, which would die)."""
    env = dict(os.environ, SHAREDWASM_ENGINE="native")
    env["PYTHONPATH"] = str(ROOT)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(SMALL_STACK)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(["call stack exhausted"] * 6)


def test_each_thread_has_its_own_state():
    states: list = []
    t = threading.Thread(target=lambda: states.append(vm.current()))
    t.start()
    t.join()
    mine = vm.current()
    assert states[0] is not mine and states[0].address != mine.address
    assert mine.vm.host_cb and mine.vm.runtime_cb and mine.vm.stack_budget
    assert vm.states(threading.get_ident()) == [mine]


def test_loops_poll_only_where_something_may_stop_them(monkeypatch):
    from sharedwasm.tiers import native
    plain = wasm.Module(wasm.wat2wasm("(module (func (loop)))")).ast
    spawning = wasm.Module(wasm.wat2wasm(
        '(module (import "wasi" "thread-spawn" (func (param i32) (result i32)))'
        ' (memory (import "env" "memory") 1 1 shared) (func (loop)))')).ast
    monkeypatch.delenv("SHAREDWASM_NATIVE_INTERRUPTIBLE", raising=False)
    monkeypatch.setattr(native, "_POLL_ALWAYS", False)
    assert not native.polls_loops(plain)
    assert native.polls_loops(spawning)
    monkeypatch.setenv("SHAREDWASM_NATIVE_INTERRUPTIBLE", "1")
    assert native.polls_loops(plain)
