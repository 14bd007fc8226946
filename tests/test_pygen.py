"""The portable tier: WAT modules compiled to Python and run through runtime.instantiate."""
from __future__ import annotations

import os
import traceback

import pytest

from sharedwasm.tiers import compile_module, instantiate, invoke
from sharedwasm.errors import CompileError
from sharedwasm.errors import RuntimeError as Trap
from sharedwasm.runtime import HostFunc, WasmThrow
from sharedwasm.spec.types import FuncType
from sharedwasm.text.parser import parse_module
from sharedwasm.valid.validate import validate_module

pytestmark = pytest.mark.usefixtures("portable_engine")


def load(wat: str, externs=()):
    m = parse_module(wat)
    info = validate_module(m)
    return instantiate(m, info, list(externs))


def call(inst, name, *args):
    return invoke(inst.exports[name], args)


KERNELS = """
(module
  (memory 1)
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2)) (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "sum") (param $n i32) (result i64) (local $i i32) (local $s i64)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $s))
  (func (export "lt") (param i32 i32) (result i32) (i32.lt_s (local.get 0) (local.get 1)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_u (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load offset=2 (local.get 0)))
  (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "switch") (param i32) (result i32)
    (block $d (block $c (block $b (block $a
      (br_table $a $b $c $b $d (local.get 0)))
      (return (i32.const 10)))
      (return (i32.const 11)))
      (return (i32.const 12)))
    (i32.const 13))
  (func (export "swap") (param i32 i32) (result i32 i32) (local.get 1) (local.get 0))
  (func (export "loop-params") (param i32) (result i32)
    (i32.const 0) (local.get 0)
    (loop $l (param i32 i32) (result i32)
      (local.set 0)
      (i32.add (local.get 0))
      (local.get 0) (i32.const 1) (i32.sub)
      (local.tee 0) (i32.eqz) (if (param i32) (result i32) (then) (else (local.get 0) (br $l)))))
  (func (export "rec") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call 11 (i32.sub (local.get 0) (i32.const 1)))))))
  (func (export "inf") (call 12))
  (func (export "bad") (unreachable))
)
"""


@pytest.fixture(scope="module")
def kernels():
    return load(KERNELS)


def test_recursion_and_loops(kernels):
    assert call(kernels, "fib", 20) == [6765]
    assert call(kernels, "sum", 1000) == [499500]


def test_results_are_plain_ints_never_bools(kernels):
    (r,) = call(kernels, "lt", 0xFFFFFFFF, 1)      # -1 < 1 signed
    assert r == 1 and type(r) is int


def test_multi_value_and_loop_params(kernels):
    assert call(kernels, "swap", 1, 2) == [2, 1]
    assert call(kernels, "loop-params", 4) == [10]


def test_br_table(kernels):
    assert [call(kernels, "switch", i)[0] for i in range(6)] == [10, 11, 12, 11, 13, 13]


def test_traps(kernels):
    with pytest.raises(Trap, match="integer divide by zero"):
        call(kernels, "div", 1, 0)
    with pytest.raises(Trap, match="out of bounds memory access"):
        call(kernels, "load", 65534)
    with pytest.raises(Trap, match="out of bounds memory access"):
        call(kernels, "load", 0xFFFFFFFF)
    with pytest.raises(Trap, match="unreachable"):
        call(kernels, "bad")


def test_memory_grow_in_place():
    inst = load(KERNELS)
    data = inst.mems[0].data
    assert call(inst, "grow", 1) == [1]
    assert call(inst, "size") == [2]
    assert inst.mems[0].data is data
    call(inst, "store8", 70000, 0x1FF)
    assert data[70000] == 0xFF
    assert call(inst, "grow", 70000) == [0xFFFFFFFF]


def test_deep_recursion_and_exhaustion_do_not_crash(kernels):
    assert call(kernels, "rec", 500) == [500]
    with pytest.raises(Trap, match="call stack exhausted"):
        call(kernels, "inf")
    assert call(kernels, "rec", 10) == [10]       # still usable afterwards


def test_traceback_shows_generated_source(kernels):
    try:
        call(kernels, "bad")
    except Trap as err:
        text = "".join(traceback.format_exception(err))
    assert 'raise Trap("unreachable")' in text


def test_host_function_errors_propagate_unchanged():
    def host(x):
        raise IndexError("from the host")
    ft = FuncType(("i32",), ())
    inst = load("""(module (import "m" "f" (func $f (param i32)))
                    (memory 1)
                    (func (export "go") (call $f (i32.load (i32.const 0)))))""",
                [HostFunc(ft, host)])
    with pytest.raises(IndexError, match="from the host"):
        call(inst, "go")


def test_call_indirect_checks():
    inst = load("""(module
      (type $v (func (result i32)))
      (table 3 funcref)
      (elem (i32.const 0) $a $b)
      (func $a (result i32) (i32.const 7))
      (func $b (param i32) (result i32) (local.get 0))
      (func (export "ci") (param i32) (result i32) (call_indirect (type $v) (local.get 0))))""")
    assert call(inst, "ci", 0) == [7]
    with pytest.raises(Trap, match="indirect call type mismatch"):
        call(inst, "ci", 1)
    with pytest.raises(Trap, match="uninitialized element"):
        call(inst, "ci", 2)
    with pytest.raises(Trap, match="undefined element"):
        call(inst, "ci", 3)


def test_exceptions_catch_rethrow_and_escape():
    inst = load("""(module
      (tag $e (param i32))
      (func $throw (param i32) (throw $e (local.get 0)))
      (func (export "catch") (param i32) (result i32)
        (block $h (result i32)
          (try_table (catch $e $h) (call $throw (local.get 0)))
          (i32.const -1)))
      (func (export "rethrow") (param i32) (result i32)
        (block $h (result i32 exnref)
          (try_table (catch_ref $e $h) (call $throw (local.get 0)))
          (return (i32.const 0)))
        (throw_ref))
      (func (export "escape") (call $throw (i32.const 5))))""")
    assert call(inst, "catch", 7) == [7]
    with pytest.raises(WasmThrow) as info:
        call(inst, "rethrow", 9)
    assert info.value.exn.payload == (9,)
    with pytest.raises(WasmThrow):
        call(inst, "escape")


def test_segments_apply_in_order_then_trap():
    m = parse_module("""(module (memory 1)
      (data (i32.const 0) "ab") (data (i32.const 65535) "cd"))""")
    info = validate_module(m)
    with pytest.raises(Trap, match="out of bounds memory access"):
        instantiate(m, info, [])


def test_simd_function_runs_and_an_unlowered_one_fails_alone(monkeypatch):
    wat = """(module
      (func (export "f") (result i32) (i32x4.extract_lane 1 (v128.const i32x4 1 2 3 4)))
      (func (export "g") (result i32) (i32.const 3)))"""
    assert call(load(wat), "f") == [2]
    from sharedwasm.tiers.pygen import module as pygen_module
    monkeypatch.delitem(pygen_module.LOWERINGS, "i32x4.extract_lane")
    inst = load(wat.replace("extract_lane 1", "extract_lane 2"))   # a module not cached
    assert call(inst, "g") == [3]
    with pytest.raises(CompileError, match="SIMD is not supported by this tier yet"):
        call(inst, "f")


def test_dump_writes_generated_source(tmp_path, monkeypatch):
    monkeypatch.setenv("SHAREDWASM_DUMP", str(tmp_path))
    m = parse_module('(module (func (export "x") (result i32) (i32.const 42)))')
    compiled = compile_module(m, validate_module(m))
    files = os.listdir(tmp_path)
    assert len(files) == 1
    text = (tmp_path / files[0]).read_text()
    assert text == compiled.source and "# func 0" in text
