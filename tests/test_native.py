"""The native tier (``tiers/native``): kernels agree with the portable tier, traps surface
as ``wasm.RuntimeError`` without harming the process, host calls, tables, memories and
globals are shared with Python, unsupported modules fall back, and spec scripts pass with
``SHAREDWASM_ENGINE=native``."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("llvmlite", reason="the native tier needs llvmlite (extra 'native')")

from sharedwasm.errors import RuntimeError as Trap  # noqa: E402
from sharedwasm.runtime import HostFunc  # noqa: E402
from sharedwasm.runtime.instance import invoke  # noqa: E402
from sharedwasm.runtime.numerics import f32_from_bits, f32_to_bits  # noqa: E402
from sharedwasm.spec.opcodes import OPS  # noqa: E402
from sharedwasm.spec.types import FuncType  # noqa: E402
from sharedwasm.text.parser import parse_module  # noqa: E402
from sharedwasm.tiers import instantiate as tiers_instantiate  # noqa: E402
from sharedwasm.tiers import native  # noqa: E402
from sharedwasm.tiers.native.module import LOWERINGS  # noqa: E402
from sharedwasm.tiers.pygen import compile_module as portable_compile  # noqa: E402
from sharedwasm.valid.validate import validate_module  # noqa: E402

from suites import SPEC_DIR, need_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def load(wat: str, externs=()):
    """(native instance, module) of ``wat``; fails if the module fell back."""
    m = parse_module(wat)
    info = validate_module(m)
    inst = native.instantiate(m, info, list(externs))
    assert native.fallback_reason(m) is None
    return inst, m


def load_portable(wat: str, externs=()):
    m = parse_module(wat)
    info = validate_module(m)
    return tiers_instantiate(m, info, list(externs), compiled=portable_compile(m, info))


def call(inst, name, *args):
    return invoke(inst.exports[name], args)


KERNELS = r"""
(module
  (memory (export "memory") 40)
  (func (export "loop") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (loop $next
      (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $s))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "sieve") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $c i32)
    (memory.fill (i32.const 0) (i32.const 1) (local.get $n))
    (local.set $i (i32.const 2))
    (block $crossed (loop $outer
      (br_if $crossed (i32.ge_u (i32.mul (local.get $i) (local.get $i)) (local.get $n)))
      (if (i32.load8_u (local.get $i))
        (then
          (local.set $j (i32.mul (local.get $i) (local.get $i)))
          (block $done (loop $inner
            (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
            (i32.store8 (local.get $j) (i32.const 0))
            (local.set $j (i32.add (local.get $j) (local.get $i)))
            (br $inner)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $outer)))
    (local.set $i (i32.const 2))
    (block $counted (loop $count
      (br_if $counted (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $c (i32.add (local.get $c) (i32.load8_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $count)))
    (local.get $c))
  (func (export "prefix") (param $n i32) (result i64) (local $i i32) (local $s i64)
    (block $filled (loop $fill
      (br_if $filled (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.shl (local.get $i) (i32.const 2))
                 (i32.add (i32.mul (local.get $i) (i32.const 7)) (i32.const 3)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill)))
    (local.set $i (i32.const 0))
    (block $summed (loop $sum
      (br_if $summed (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $s (i64.add (local.get $s) (i64.load32_u (i32.shl (local.get $i) (i32.const 2)))))
      (i64.store offset=1000000 (i32.shl (local.get $i) (i32.const 3)) (local.get $s))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $sum)))
    (local.get $s))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load offset=4 (local.get 0)))
  (func (export "unreachable") (unreachable))
  (func $deep (export "deep") (param i32) (result i32)
    (i32.add (call $deep (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "pair") (param f32 i64) (result i64 f32) (local.get 1) (local.get 0))
  (func (export "bits") (param i32) (result i32) (i32.reinterpret_f32 (f32.reinterpret_i32 (local.get 0))))
  (func (export "min") (param f32 f32) (result f32) (f32.min (local.get 0) (local.get 1)))
  (func (export "nearest") (param f64) (result f64) (f64.nearest (local.get 0)))
)
"""


@pytest.fixture(scope="module")
def both():
    inst, _m = load(KERNELS)
    return inst, load_portable(KERNELS)


@pytest.mark.parametrize("name,args", [
    ("loop", (1,)), ("loop", (1000,)), ("loop", (77777,)),
    ("fib", (0,)), ("fib", (1,)), ("fib", (20,)),
    ("sieve", (10,)), ("sieve", (100_000,)),
    ("prefix", (1,)), ("prefix", (5000,)),
    ("pair", (1.5, 2**64 - 1)), ("min", (-0.0, 0.0)), ("nearest", (2.5,)), ("nearest", (-3.5,)),
])
def test_kernels_match_portable(both, name, args):
    nat, por = both
    assert call(nat, name, *args) == call(por, name, *args)


def test_signalling_nan_bits_survive(both):
    nat, _ = both
    assert call(nat, "bits", 0x7FA00001) == [0x7FA00001]
    r = call(nat, "pair", f32_from_bits(0xFFA00002), 5)
    assert r[0] == 5 and f32_to_bits(r[1]) == 0xFFA00002
    got = call(nat, "min", f32_from_bits(0x7FA00000), 1.0)[0]
    assert f32_to_bits(got) & 0x7FC00000 == 0x7FC00000     # an arithmetic NaN


@pytest.mark.parametrize("name,args,message", [
    ("div", (1, 0), "integer divide by zero"),
    ("div", (0x8000_0000, 0xFFFF_FFFF), "integer overflow"),
    ("trunc", (float("nan"),), "invalid conversion to integer"),
    ("trunc", (2.0**31,), "integer overflow"),
    ("load", (40 * 65536 - 7,), "out of bounds memory access"),
    ("load", (0xFFFF_FFFF,), "out of bounds memory access"),
    ("unreachable", (), "unreachable"),
    ("deep", (0,), "call stack exhausted"),
])
def test_traps(both, name, args, message):
    nat, _ = both
    with pytest.raises(Trap) as info:
        call(nat, name, *args)
    assert info.value.message == message
    assert call(nat, "fib", 10) == [55]       # the instance still works after a trap


def test_memory_growth_is_seen_by_both_sides():
    inst, _ = load(KERNELS)
    mem = inst.mems[0]
    assert call(inst, "size") == [40]
    with pytest.raises(Trap):
        call(inst, "load", 40 * 65536)
    assert call(inst, "grow", 2) == [40]
    assert mem.pages == 42 and len(mem.data) == 42 * 65536
    mem.data[40 * 65536 + 4:40 * 65536 + 8] = (1234).to_bytes(4, "little")
    assert call(inst, "load", 40 * 65536) == [1234]
    assert mem.grow(1) == 42 and call(inst, "size") == [43]
    assert call(inst, "grow", 70000) == [0xFFFF_FFFF]


HOSTS = """
(module
  (import "env" "add" (func $add (param i32 f32) (result f64)))
  (import "env" "fail" (func $fail))
  (import "env" "reenter" (func $reenter (param i32) (result i32)))
  (global $g (export "g") (mut i64) (i64.const 7))
  (table $t (export "t") 4 funcref)
  (type $ii (func (param i32) (result i32)))
  (elem (i32.const 0) $double $reenter)
  (func $double (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "use_add") (param i32) (result f64) (call $add (local.get 0) (f32.const 0.5)))
  (func (export "use_fail") (call $fail))
  (func (export "via_table") (param i32 i32) (result i32)
    (call_indirect $t (type $ii) (local.get 1) (local.get 0)))
  (func (export "bad_type") (param i32) (call_indirect $t (param f64) (f64.const 1) (local.get 0)))
  (func (export "bump") (result i64)
    (global.set $g (i64.add (global.get $g) (i64.const 1))) (global.get $g))
)
"""


def test_host_functions_tables_and_globals():
    seen = []
    holder = {}

    def reenter(x):
        seen.append(x)
        return invoke(holder["inst"].exports["double"], (x,))[0] + 1

    def fail():
        raise ValueError("from the host")

    externs = [HostFunc(FuncType(("i32", "f32"), ("f64",)), lambda a, b: a + b),
               HostFunc(FuncType(), fail),
               HostFunc(FuncType(("i32",), ("i32",)), reenter)]
    inst, _ = load(HOSTS, externs)
    holder["inst"] = inst
    assert call(inst, "use_add", 3) == [3.5]
    with pytest.raises(ValueError, match="from the host"):
        call(inst, "use_fail")
    assert call(inst, "via_table", 0, 21) == [42]
    assert call(inst, "via_table", 1, 5) == [11] and seen == [5]
    with pytest.raises(Trap, match="uninitialized element"):
        call(inst, "via_table", 2, 1)
    with pytest.raises(Trap, match="undefined element"):
        call(inst, "via_table", 9, 1)
    with pytest.raises(Trap, match="indirect call type mismatch"):
        call(inst, "bad_type", 0)
    # the table and the global are shared with Python
    inst.exports["t"].elements[2] = inst.exports["double"]
    assert call(inst, "via_table", 2, 4) == [8]
    inst.exports["t"].grow(2, inst.exports["double"])
    assert call(inst, "via_table", 5, 4) == [8]
    g = inst.exports["g"]
    assert call(inst, "bump") == [8] and g.value == 8
    g.value = 100
    assert call(inst, "bump") == [101]


def test_unsupported_module_falls_back():
    wat = """(module
      (func (export "f") (result i32) (i32x4.extract_lane 1 (i32x4.splat (i32.const 3)))))"""
    m = parse_module(wat)
    inst = native.instantiate(m, validate_module(m), [])
    assert "i32x4" in native.fallback_reason(m)
    assert call(inst, "f") == [3]


REFS = r"""
(module
  (import "env" "pass" (func $pass (param externref) (result externref)))
  (type $i (func (result i32)))
  (table $f 2 funcref)
  (table $x 2 externref)
  (global $g (export "g") (mut externref) (ref.null extern))
  (global $h (mut funcref) (ref.func $seven))
  (func $seven (result i32) (i32.const 7))
  (func (export "is_null") (param externref) (result i32) (ref.is_null (local.get 0)))
  (func (export "through_host") (param externref) (result externref)
    (call $pass (local.get 0)))
  (func (export "pick") (param externref externref i32) (result externref)
    (select (result externref) (local.get 0) (local.get 1) (local.get 2)))
  (func (export "set_global") (param externref) (global.set $g (local.get 0)))
  (func (export "get_global") (result externref) (global.get $g))
  (func (export "table_set") (param i32 externref) (table.set $x (local.get 0) (local.get 1)))
  (func (export "table_get") (param i32) (result externref) (table.get $x (local.get 0)))
  (func (export "table_grow") (param externref i32) (result i32)
    (table.grow $x (local.get 0) (local.get 1)))
  (func (export "table_fill") (param i32 externref i32)
    (table.fill $x (local.get 0) (local.get 1) (local.get 2)))
  (func (export "install") (param i32)
    (table.set $f (local.get 0) (global.get $h)))
  (func (export "call") (param i32) (result i32) (call_indirect $f (type $i) (local.get 0)))
  (func (export "funcref") (result funcref) (ref.func $seven))
  (func (export "loop_refs") (param externref i32) (result externref) (local externref)
    (loop $l (result externref)
      (local.set 2 (select (result externref) (local.get 0) (local.get 2) (local.get 1)))
      (br_if $l (local.tee 1 (i32.sub (local.get 1) (i32.const 1))))
      (local.get 2)))
)"""


def test_reference_values_run_natively():
    from sharedwasm.tiers.native import vm
    seen = []

    def pass_(v):
        seen.append(v)
        return v
    host = HostFunc(FuncType(("externref",), ("externref",)), pass_)
    inst, _m = load(REFS, [host])
    box, other = object(), ["x"]
    assert call(inst, "is_null", None) == [1] and call(inst, "is_null", box) == [0]
    assert call(inst, "through_host", box)[0] is box and seen == [box]
    assert call(inst, "pick", box, other, 1)[0] is box
    assert call(inst, "pick", box, other, 0)[0] is other
    call(inst, "set_global", other)
    assert inst.exports["g"].value is other and call(inst, "get_global")[0] is other
    call(inst, "table_set", 1, box)
    assert call(inst, "table_get", 1)[0] is box and call(inst, "table_get", 0) == [None]
    with pytest.raises(Trap, match="out of bounds table access"):
        call(inst, "table_get", 2)
    assert call(inst, "table_grow", other, 2) == [2] and call(inst, "table_get", 3)[0] is other
    call(inst, "table_fill", 0, box, 4)
    assert inst.tables[1].elements == [box] * 4
    with pytest.raises(Trap, match="out of bounds table access"):
        call(inst, "table_fill", 3, box, 2)
    with pytest.raises(Trap, match="uninitialized element 1"):
        call(inst, "call", 1)
    call(inst, "install", 1)
    assert call(inst, "call", 1) == [7]
    assert call(inst, "funcref")[0] is inst.funcs[1]
    assert call(inst, "loop_refs", box, 5)[0] is box
    assert not vm.current().refs          # handles are released when native code returns


EXCEPTIONS = r"""
(module
  (import "env" "tag" (tag $t (param i32)))
  (import "env" "host" (func $host (param i32)))
  (tag $e (export "e") (param i64 f32))
  (tag $x (param externref))
  (func $throw (export "throw") (param i32) (throw $t (local.get 0)))
  (func (export "throw_e") (throw $e (i64.const -3) (f32.const 2.5)))
  (func (export "catch") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h) (call $throw (local.get 0)))
      (i32.const -1)))
  (func (export "catch_host") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h) (call $host (local.get 0)))
      (i32.const -1)))
  (func (export "kinds") (param i32) (result i32)
    (block $all
      (block $e (result i64 f32)
        (block $t (result i32 exnref)
          (try_table (catch_ref $t $t) (catch $e $e) (catch_all $all)
            (if (i32.eqz (local.get 0)) (then (call $throw (i32.const 5))))
            (if (i32.eq (local.get 0) (i32.const 1))
              (then (throw $e (i64.const 9) (f32.const 1))))
            (throw $x (ref.null extern)))
          (return (i32.const -1)))
        (drop)
        (return))
      (drop)
      (return (i32.wrap_i64)))
    (i32.const 100))
  (func (export "rethrow_outer") (result i32)
    (block $h (result i32)
      (try_table (catch $t $h)
        (block $in (result exnref)
          (try_table (catch_all_ref $in) (call $throw (i32.const 8)))
          (unreachable))
        (throw_ref))
      (i32.const -1)))
  (func (export "traps_pass") (result i32)
    (block $h
      (try_table (catch_all $h) (call $trap)))
    (i32.const 1))
  (func $trap (unreachable))
)"""


def test_exceptions_run_natively():
    from sharedwasm.runtime.exceptions import TagInst, WasmThrow
    tag = TagInst(FuncType(("i32",), ()))
    host = HostFunc(FuncType(("i32",), ()), lambda n: None)
    inst, _m = load(EXCEPTIONS, [tag, host])
    assert call(inst, "catch", 42) == [42]
    assert call(inst, "kinds", 0) == [5] and call(inst, "kinds", 1) == [9]
    assert call(inst, "kinds", 2) == [100]
    assert call(inst, "rethrow_outer") == [8]
    with pytest.raises(Trap, match="unreachable"):
        call(inst, "traps_pass")
    with pytest.raises(WasmThrow) as info:
        call(inst, "throw_e")
    assert info.value.exn.tag is inst.tags[1] and info.value.exn.payload == (2**64 - 3, 2.5)


def test_exceptions_cross_host_functions_natively(monkeypatch):
    """Through the public API: a Python ``wasm.Exception`` is caught by ``try_table``,
    host errors propagate unchanged, wasm throws surface as ``wasm.Exception``."""
    import sharedwasm as wasm
    monkeypatch.setenv("SHAREDWASM_ENGINE", "native")
    tag = wasm.Tag(["i32"])

    def host(n):
        if n == 1:
            raise KeyError("host")
        if n:
            raise wasm.Exception(tag, [n * 10])
    module = wasm.Module(wasm.wat2wasm(EXCEPTIONS))
    ex = wasm.Instance(module, {"env": {"tag": tag, "host": host}}).exports
    assert native.fallback_reason(module._ast) is None
    assert ex.catch_host(4) == 40 and ex.catch_host(0) == -1
    with pytest.raises(KeyError, match="host"):
        ex.catch_host(1)
    with pytest.raises(wasm.Exception) as info:
        ex.throw_e()
    assert info.value.is_(ex.e) and info.value.payload == (-3, 2.5)
    # a second instance catches what the first one throws, through a host function
    user = wasm.Instance(wasm.Module(wasm.wat2wasm("""(module
      (import "env" "tag" (tag $t (param i32)))
      (import "env" "f" (func $f (param i32) (result i32)))
      (func (export "g") (param i32) (result i32)
        (block $h (result i32)
          (try_table (catch $t $h) (drop (call $f (local.get 0))))
          (return (i32.const -2)))
        (i32.add (i32.const 1000))))""")),
        {"env": {"tag": tag, "f": lambda n: ex.throw(n) if n else 5}}).exports
    assert user.g(0) == -2 and user.g(3) == 1003


TAIL_CALLS = r"""
(module
  (type $l (func (param i64) (result i64)))
  (table 2 funcref)
  (elem (i32.const 0) $count $odd)
  (tag $t)
  (func $count (export "count") (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 0))
      (else (return_call $count (i64.sub (local.get 0) (i64.const 1))))))
  (func $odd (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))
      (else (return_call_indirect (type $l) (i64.sub (local.get 0) (i64.const 1))
                                  (i32.const 2)))))
  (func (export "indirect") (param i64) (result i64)
    (return_call_indirect (type $l) (local.get 0) (i32.const 1)))
  (func $mixed (export "mixed") (param i32 i64) (result i64)
    (if (result i64) (i32.eqz (local.get 0)) (then (local.get 1))
      (else (return_call $narrow (local.get 0)))))
  (func $narrow (param i32) (result i64)
    (return_call $mixed (i32.sub (local.get 0) (i32.const 1)) (i64.extend_i32_u (local.get 0))))
  (func $throws (result i64) (throw $t))
  (func (export "escapes") (result i64)
    (block $h
      (try_table (catch_all $h) (return_call $throws)))
    (i64.const -1))
)"""


def test_tail_calls_run_natively():
    inst, _m = load(TAIL_CALLS)
    assert call(inst, "count", 1_000_000) == [0]
    with pytest.raises(Trap, match="undefined element"):
        call(inst, "indirect", 1)
    assert call(inst, "indirect", 0) == [1]
    assert call(inst, "mixed", 100_000, 0) == [1]
    from sharedwasm.runtime.exceptions import WasmThrow
    with pytest.raises(WasmThrow):            # the tail callee runs outside the try_table
        call(inst, "escapes")


TABLE_OPS = r"""
(module
  (type $i (func (result i32)))
  (table $t 4 funcref)
  (table $u 3 funcref)
  (elem $e func $one $two $three)
  (elem $d func $three)
  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (func $three (result i32) (i32.const 3))
  (func (export "init") (param i32 i32 i32) (table.init $t $e (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32) (table.copy $u $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop") (elem.drop $e))
  (func (export "size") (result i32) (i32.add (i32.mul (table.size $t) (i32.const 10)) (table.size $u)))
  (func (export "call_t") (param i32) (result i32) (call_indirect $t (type $i) (local.get 0)))
  (func (export "call_u") (param i32) (result i32) (call_indirect $u (type $i) (local.get 0))))
"""


def test_table_bulk_operations_run_natively():
    inst, _m = load(TABLE_OPS)
    assert call(inst, "size") == [43]
    with pytest.raises(Trap, match="uninitialized element 1"):
        call(inst, "call_t", 1)
    call(inst, "init", 1, 0, 3)
    assert [call(inst, "call_t", i)[0] for i in (1, 2, 3)] == [1, 2, 3]
    with pytest.raises(Trap, match="out of bounds table access"):
        call(inst, "init", 2, 0, 3)
    with pytest.raises(Trap, match="out of bounds table access"):
        call(inst, "init", 0, 2, 2)
    call(inst, "init", 4, 3, 0)                       # n = 0 at the ends is fine
    call(inst, "copy", 0, 1, 3)
    assert [call(inst, "call_u", i)[0] for i in (0, 1, 2)] == [1, 2, 3]
    with pytest.raises(Trap, match="out of bounds table access"):
        call(inst, "copy", 1, 0, 3)
    with pytest.raises(Trap, match="undefined element"):
        call(inst, "call_u", 3)
    call(inst, "drop")
    with pytest.raises(Trap, match="out of bounds table access"):
        call(inst, "init", 0, 0, 1)
    call(inst, "init", 0, 0, 0)


def test_simd_module_falls_back_and_shares_its_table():
    """A module with v128 functions runs on the portable tier; its table entries, as seen
    by a native module, trap "indirect call type mismatch" rather than being called."""
    wat = """(module (table (export "t") 2 funcref) (elem (i32.const 0) $v $k)
      (func $v (result v128) (v128.const i64x2 1 2))
      (func $k (result i32) (i32.const 7))
      (func (export "f") (result i32) (i64x2.extract_lane 1 (call $v)) (i32.wrap_i64)))"""
    m = parse_module(wat)
    simd = native.instantiate(m, validate_module(m), [])
    assert "v128" in native.fallback_reason(m)
    assert call(simd, "f") == [2]
    table = simd.exports["t"]
    user, _ = load("""(module (import "m" "t" (table 2 funcref)) (type $i (func (result i32)))
      (func (export "g") (param i32) (result i32) (call_indirect (type $i) (local.get 0))))""",
                   [table])
    assert call(user, "g", 1) == [7]
    with pytest.raises(Trap, match="indirect call type mismatch"):
        call(user, "g", 0)


def test_every_non_simd_instruction_is_lowered():
    missing = {n for n, info in OPS.items() if info.feature != "simd" and n not in LOWERINGS}
    assert missing == set()


def test_dump_writes_llvm_ir(tmp_path, monkeypatch):
    monkeypatch.setenv("SHAREDWASM_DUMP", str(tmp_path))
    load("(module (func (export \"f\") (result i32) (i32.const 42)))")
    dumped = list(tmp_path.glob("*.ll"))
    assert dumped and "define" in dumped[0].read_text()


def _run(code: str, env_extra: dict | None = None, timeout: int = 120):
    env = dict(os.environ, **(env_extra or {}))
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'tests'}"
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=str(ROOT))


def test_runaway_recursion_and_reentry_never_crash():
    """In a child process: deep wasm recursion, wasm -> host -> wasm recursion and a
    trap inside a nested call all end as traps and the process exits normally."""
    r = _run("""
        import sharedwasm as wasm
        src = '''(module
          (import "env" "back" (func $back (param i32) (result i32)))
          (func $down (export "down") (param i32) (result i32)
            (call $back (i32.add (local.get 0) (i32.const 1))))
          (func $rec (export "rec") (param i64) (result i64)
            (i64.add (call $rec (local.get 0)) (i64.const 1))))'''
        exports = {}
        def back(x):
            return exports["down"](x)
        inst = wasm.Instance(wasm.Module(wasm.wat2wasm(src)),
                             {"env": {"back": wasm.Function({"parameters": ["i32"],
                                                             "results": ["i32"]}, back)}})
        exports.update(inst.exports)
        for name, arg in (("rec", 0), ("down", 0), ("rec", 1)):
            try:
                inst.exports[name](arg)
            except wasm.RuntimeError as err:
                print(name, "trap", err.message)
            except RecursionError:
                print(name, "recursion")
        print("alive")
    """, {"SHAREDWASM_ENGINE": "native"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "rec trap call stack exhausted"
    assert lines[1] in ("down trap call stack exhausted", "down recursion")
    assert lines[-1] == "alive"


SPEC_FILES = ["i32", "i64", "f32", "f64", "conversions", "br_table", "call_indirect",
              "memory", "address", "fac", "loop", "if", "float_exprs", "bulk",
              "table_copy", "table_init", "simd_const"]


def test_spec_scripts_pass_natively():
    need_spec()
    paths = [str(SPEC_DIR / "core" / f"{name}.wast") for name in SPEC_FILES]
    r = _run(f"""
        from sharedwasm.spectest.runner import run_file
        for path in {paths!r}:
            res = run_file(path, timeout=60)
            print(path.rsplit('/', 1)[1], res.passed, res.failed, res.skipped)
    """, {"SHAREDWASM_ENGINE": "native"}, timeout=240)
    assert r.returncode == 0, r.stderr
    counts = {line.split()[0]: tuple(map(int, line.split()[1:])) for line in r.stdout.splitlines()}
    assert len(counts) == len(SPEC_FILES)
    for name, (passed, failed, _skipped) in counts.items():
        assert failed == 0 and passed > 0, (name, passed, failed)


def test_shared_memory_atomics_interoperate():
    """Native atomic.rmw.add and the host-side libatomic protocol on the same words."""
    pytest.importorskip("ctypes")
    from sharedwasm.runtime import atomics
    try:
        atomics.libatomic()
    except ImportError as err:
        pytest.skip(str(err))
    wat = """(module (memory (export "m") 1 1 shared)
      (func (export "add") (param i32 i32) (result i32)
        (i32.atomic.rmw.add (local.get 0) (local.get 1)))
      (func (export "cas") (param i32 i32 i32) (result i32)
        (i32.atomic.rmw.cmpxchg (local.get 0) (local.get 1) (local.get 2)))
      (func (export "notify") (param i32) (result i32)
        (memory.atomic.notify (local.get 0) (i32.const 1)))
      (func (export "load") (param i32) (result i32) (i32.atomic.load (local.get 0))))"""
    inst, _ = load(wat)
    mem = inst.mems[0]
    try:
        for _ in range(100):
            call(inst, "add", 8, 2)
            atomics.atomic_rmw(mem.data, 8, 4, "add", 1)
        assert call(inst, "load", 8) == [300]
        assert call(inst, "cas", 8, 300, 7) == [300] and call(inst, "load", 8) == [7]
        assert call(inst, "notify", 8) == [0]
        with pytest.raises(Trap, match="unaligned atomic"):
            call(inst, "add", 9, 1)
        with pytest.raises(Trap, match="out of bounds memory access"):
            call(inst, "add", 65536, 1)
    finally:
        mem.close()


FILL_AND_SUM = """(module
  (memory (export "m") 1 2 {shared})
  ;; stores i at word i for i in [0, n); the loop LLVM vectorizes keeps its trap
  (func (export "fill") (param $n i32) (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.shl (local.get $i) (i32.const 2)) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "sum") (param $n i32) (result i64) (local $i i32) (local $s i64)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $s (i64.add (local.get $s)
        (i64.load32_u (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $s))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"""


@pytest.mark.parametrize("shared", ["", "shared"])
def test_vectorized_loops_trap_at_the_first_access_outside(shared):
    """Every word before the first out-of-bounds store is written, none after; a loop of
    loads traps too, and after a grow the same loops run to the new end."""
    inst, _ = load(FILL_AND_SUM.format(shared=shared))
    mem = inst.mems[0]
    try:
        words = 65536 // 4
        call(inst, "fill", 1000)
        assert call(inst, "sum", 1000) == [sum(range(1000))]
        with pytest.raises(Trap, match="out of bounds memory access"):
            call(inst, "fill", words + 37)
        data = bytes(mem.data)
        assert all(int.from_bytes(data[4 * i:4 * i + 4], "little") == i
                   for i in range(words))
        with pytest.raises(Trap, match="out of bounds memory access"):
            call(inst, "sum", words + 1)
        assert call(inst, "sum", words) == [sum(range(words))]
        assert call(inst, "grow", 1) == [1]
        call(inst, "fill", 2 * words)
        assert call(inst, "sum", 2 * words) == [sum(range(2 * words))]
    finally:
        if shared:
            mem.close()


def test_shared_memory_grown_elsewhere_is_seen_after_an_atomic_load():
    """A function that waits (atomic loads) for another thread to grow the memory and set
    a flag then reads the new page: the acquiring load refreshed the size it checks."""
    import threading
    import time
    wat = """(module (memory (export "m") 1 2 shared)
      (func (export "await_then_read") (result i32)
        (i32.atomic.store (i32.const 4) (i32.const 1))
        (loop $wait (br_if $wait (i32.eqz (i32.atomic.load (i32.const 0)))))
        (i32.load (i32.const 65536)))
      (func (export "grow_and_signal")
        (drop (memory.grow (i32.const 1)))
        (i32.store (i32.const 65536) (i32.const 99))
        (i32.atomic.store (i32.const 0) (i32.const 1))))"""
    inst, _ = load(wat)
    mem = inst.mems[0]
    try:
        out: list = []
        reader = threading.Thread(target=lambda: out.append(call(inst, "await_then_read")))
        reader.start()
        deadline = time.monotonic() + 60
        while mem.data[4] != 1 and time.monotonic() < deadline:    # the reader is waiting
            time.sleep(0.001)
        call(inst, "grow_and_signal")
        reader.join(60)
        assert not reader.is_alive() and out == [[99]]
    finally:
        mem.close()
