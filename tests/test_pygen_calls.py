"""Calls in the portable tier: tail calls (trampoline, ``try_table`` semantics) and the
depth of the wasm call stack (recursion limit raised while wasm runs, never a crash)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from sharedwasm.errors import RuntimeError as Trap
from sharedwasm.runtime import HostFunc, WasmThrow, callstack
from sharedwasm.spec.types import FuncType
from sharedwasm.text.parser import parse_module
from sharedwasm.tiers import instantiate, invoke
from sharedwasm.tiers.pygen import codegen
from sharedwasm.valid.validate import validate_module

pytestmark = pytest.mark.usefixtures("portable_engine")


@pytest.fixture(params=["auto", "flat"])
def mode(request, monkeypatch):
    """Run a test with the structured lowering, then with every function flat."""
    monkeypatch.setattr(codegen, "FLAT_ALWAYS", request.param == "flat")
    return request.param


def load(wat: str, externs=()):
    m = parse_module(wat)
    return instantiate(m, validate_module(m), list(externs))


def call(inst, name, *args):
    return invoke(inst.exports[name], args)


TAIL_IN_TRY = """
(module
  (tag $e (param i32))
  (type $t (func (result i32)))
  (table funcref (elem $thrower))
  (func $thrower (result i32) (throw $e (i32.const 7)))
  (func $ok (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func (export "direct") (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $e $h) (return_call $thrower))))
  (func (export "indirect") (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $e $h) (return_call_indirect (type $t) (i32.const 0)))))
  (func (export "caught-by-caller") (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $e $h) (call $direct-alias))))
  (func $direct-alias (result i32)
    (block $h (try_table (result i32) (catch_all $h) (return_call $thrower)) (return))
    (i32.const 99))
  (func (export "plain-in-try") (param i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $e $h) (return_call $ok (local.get 0)))))
)
"""


def test_tail_call_in_try_table_leaves_the_frame_first(mode):
    inst = load(TAIL_IN_TRY)
    for name in ("direct", "indirect"):
        with pytest.raises(WasmThrow) as info:
            call(inst, name)
        assert info.value.exn.payload == (7,)
    # the exception reaches the try_table of the frame that made the ordinary call
    assert call(inst, "caught-by-caller") == [7]
    assert call(inst, "plain-in-try", 41) == [42]


TAIL_REC = """
(module
  (type $t (func (param i64 i64) (result i64)))
  (table funcref (elem $even $odd))
  (func $count (export "count") (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0)) (then (local.get 0))
      (else (return_call $count (i64.sub (local.get 0) (i64.const 1))))))
  (func $even (export "even") (param i64 i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0)) (then (local.get 1))
      (else (return_call_indirect (type $t)
        (i64.sub (local.get 0) (i64.const 1)) (i64.add (local.get 1) (i64.const 2))
        (i32.const 1)))))
  (func $odd (export "odd") (param i64 i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 0))
      (else (return_call $even (i64.sub (local.get 0) (i64.const 1)) (local.get 1)))))
  (func $pair (param i32 i32) (result i32 i32) (local.get 1) (local.get 0))
  (func (export "swap") (param i32 i32) (result i32 i32)
    (return_call $pair (local.get 0) (local.get 1)))
)
"""


def test_deep_tail_recursion_runs_in_constant_stack(mode):
    inst = load(TAIL_REC)
    assert call(inst, "count", 200_000) == [0]
    assert call(inst, "even", 100_001, 0) == [0]
    assert call(inst, "even", 100_000, 0) == [100_000]
    assert call(inst, "odd", 3, 5) == [7]
    assert call(inst, "swap", 1, 2) == [2, 1]


def test_tail_calls_to_imports_and_host_functions():
    lib = load(TAIL_REC)
    seen = []
    host = HostFunc(FuncType(("i64",), ("i64",)), lambda x: seen.append(x) or x * 2)
    inst = load("""
      (module
        (import "lib" "count" (func $count (param i64) (result i64)))
        (import "env" "h" (func $h (param i64) (result i64)))
        (type $t (func (param i64) (result i64)))
        (table funcref (elem $h $count))
        (func (export "to-count") (param i64) (result i64) (return_call $count (local.get 0)))
        (func (export "to-host") (param i64) (result i64) (return_call $h (local.get 0)))
        (func (export "via-table") (param i64 i32) (result i64)
          (return_call_indirect (type $t) (local.get 0) (local.get 1))))
    """, [lib.exports["count"], host])
    # the imported function's own tail calls still run in its trampoline: no deep stack
    assert call(inst, "to-count", 100_000) == [0]
    assert call(inst, "via-table", 50_000, 1) == [0]
    assert call(inst, "to-host", 21) == [42]
    assert call(inst, "via-table", 4, 0) == [8]
    assert seen == [21, 4]
    with pytest.raises(Trap, match="undefined element"):
        call(inst, "via-table", 1, 5)


REC = """
(module
  (import "env" "h" (func $h (param i32) (result i32)))
  (func $rec (export "rec") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $rec (i32.sub (local.get 0) (i32.const 1)))))))
  (func (export "via-host") (param i32) (result i32)
    (call $h (i32.add (local.get 0) (i32.const 1))))
)
"""


def test_recursion_a_few_thousand_deep_and_limit_restored():
    host = HostFunc(FuncType(("i32",), ("i32",)), lambda x: x)
    inst = load(REC, [host])
    before = sys.getrecursionlimit()
    depth = min(10_000, callstack.DEPTH_LIMIT - 100)
    assert call(inst, "rec", depth) == [depth]
    with pytest.raises(Trap, match="call stack exhausted"):
        call(inst, "rec", callstack.DEPTH_LIMIT + 10)
    assert sys.getrecursionlimit() == before
    assert call(inst, "rec", 10) == [10]


def test_host_code_inside_wasm_sees_the_raised_limit_only_meanwhile():
    limits = []
    host = HostFunc(FuncType(("i32",), ("i32",)),
                    lambda x: limits.append(sys.getrecursionlimit()) or x)
    inst = load(REC, [host])
    before = sys.getrecursionlimit()
    assert call(inst, "via-host", 1) == [2]
    assert limits == [max(before, callstack.DEPTH_LIMIT)]
    assert sys.getrecursionlimit() == before


_RUNAWAY = textwrap.dedent("""
    import sys, threading
    import sharedwasm as wasm
    wat = '''(module
      (import "h" "h" (func $h (param i32) (result i32)))
      (type $t (func (param i32) (result i32)))
      (table funcref (elem $h))
      (func (export "f") (param i32) (result i32)
        (call_indirect (type $t) (i32.add (local.get 0) (i32.const 1)) (i32.const 0))))'''
    class Host:                      # a callable object: every cycle crosses C
        def __call__(self, n):
            return list(map(inst.exports.f, [n]))[0]
    inst = wasm.Instance(wasm.Module(wasm.wat2wasm(wat)), {"h": {"h": Host()}})
    def run():
        try:
            inst.exports.f(0)
        except (wasm.RuntimeError, RecursionError) as err:
            print("clean:", type(err).__name__)
    run()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
""")


@pytest.mark.timeout(120)
def test_runaway_recursion_through_host_functions_never_crashes():
    proc = subprocess.run([sys.executable, "-c", _RUNAWAY], capture_output=True, text=True,
                          timeout=110)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("clean:") == 2, proc.stdout + proc.stderr[-2000:]


def test_recursion_limit_is_restored_after_a_call_from_python():
    """Speed is measured by bench/bench_exec.py; here only the call's side effects."""
    import sharedwasm as wasm
    wat = ('(module (func (export "add") (param i32 i32) (result i32) '
           '(i32.add (local.get 0) (local.get 1))))')
    add = wasm.Instance(wasm.Module(wasm.wat2wasm(wat))).exports.add
    before = sys.getrecursionlimit()
    assert add(1, 2) == 3 and add(-1, 0) == -1
    assert sys.getrecursionlimit() == before