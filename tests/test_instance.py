"""Instantiation and calling through the public API (shared/docs/API.md "Instantiate and call"
and "Runtime objects"): exports, value conversion, linking, traps, runtime objects,
exception handling across the boundary and the asyncio forms."""
from __future__ import annotations

import asyncio
import math
import struct

import pytest

import sharedwasm as wasm


def instance(text: str, imports=None) -> wasm.Instance:
    return wasm.Instance(wasm.Module(wasm.wat2wasm(text)), imports)


def f32_bits(x: float) -> int:
    if x != x:
        b = struct.unpack("<Q", struct.pack("<d", x))[0]
        return ((b >> 32) & 0x80000000) | 0x7F800000 | ((b >> 29) & 0x7FFFFF)
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64_bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def f64_of(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


NUMBERS = """(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "add64") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1)))
  (func (export "id32") (param f32) (result f32) (local.get 0))
  (func (export "bits32") (param f32) (result i32) (i32.reinterpret_f32 (local.get 0)))
  (func (export "nan32") (result f32) (f32.reinterpret_i32 (i32.const 0x7fa00001)))
  (func (export "id64") (param f64) (result f64) (local.get 0))
  (func (export "nan64") (result f64) (f64.reinterpret_i64 (i64.const 0x7ff4000000000001)))
  (func (export "swap") (param i32 f64) (result f64 i32) (local.get 1) (local.get 0))
  (func (export "nothing"))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func $loop (export "loop") (call $loop))
  (func (export "get") (result i32) (i32.const 7))
)"""


@pytest.fixture(scope="module")
def numbers():
    return instance(NUMBERS)


def test_exports_by_attribute_and_as_a_read_only_mapping(numbers):
    ex = numbers.exports
    assert ex.add is ex["add"]
    assert "add" in ex and "missing" not in ex
    assert list(ex)[:3] == ["add", "add64", "id32"] and len(ex) == 12
    assert ex.get() == 7                       # an export named like a mapping method wins
    with pytest.raises(AttributeError):
        ex.add = None
    with pytest.raises(AttributeError):
        ex.missing
    with pytest.raises(KeyError):
        ex["missing"]
    with pytest.raises(TypeError):
        ex["add"] = None                       # type: ignore[index]


def test_integers_wrap_on_the_way_in_and_come_back_signed(numbers):
    ex = numbers.exports
    assert ex.add(1, 2) == 3
    assert ex.add(0x7FFFFFFF, 1) == -0x80000000
    assert ex.add(2**32 + 5, -1) == 4
    assert ex.add(True, 1) == 2
    assert ex.add64(2**63 - 1, 1) == -2**63
    assert ex.add64(-1, 0) == -1
    with pytest.raises(TypeError):
        ex.add(1.5, 2)
    with pytest.raises(TypeError):
        ex.add(1)


def test_floats_keep_exact_bits(numbers):
    ex = numbers.exports
    assert ex.id32(0.1) == struct.unpack("<f", struct.pack("<f", 0.1))[0]   # rounded to f32
    assert ex.id32(1e300) == math.inf and ex.id32(-1e300) == -math.inf
    assert f32_bits(ex.nan32()) == 0x7FA00001                          # a signalling NaN
    assert ex.bits32(ex.nan32()) == 0x7FA00001
    assert f64_bits(ex.nan64()) == 0x7FF4000000000001
    snan = f64_of(0xFFF4000000000001)
    assert f64_bits(ex.id64(snan)) == 0xFFF4000000000001
    assert ex.id64(3) == 3.0 and isinstance(ex.id64(3), float)


def test_several_results_are_a_tuple_and_none_is_none(numbers):
    assert numbers.exports.swap(-1, 2.5) == (2.5, -1)
    assert numbers.exports.nothing() is None


def test_traps_raise_runtime_error_with_the_spec_text(numbers):
    with pytest.raises(wasm.RuntimeError, match="integer divide by zero") as info:
        numbers.exports.div(1, 0)
    assert isinstance(info.value, RuntimeError)
    assert info.value.message == "integer divide by zero"
    with pytest.raises(wasm.RuntimeError, match="call stack exhausted"):
        numbers.exports.loop()
    assert numbers.exports.div(7, 2) == 3                # still usable afterwards


REFS = """(module
  (table $t (export "table") 2 funcref)
  (func $f (export "f") (result i32) (i32.const 42))
  (elem (i32.const 0) $f)
  (func (export "id_extern") (param externref) (result externref) (local.get 0))
  (func (export "id_func") (param funcref) (result funcref) (local.get 0))
  (func (export "elem") (param i32) (result funcref) (table.get $t (local.get 0)))
  (global (export "g") (mut i32) (i32.const -3))
  (memory (export "mem") 1 3)
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
)"""


def test_references_cross_the_boundary():
    ex = instance(REFS).exports
    token = object()
    assert ex.id_extern(token) is token and ex.id_extern(None) is None
    assert ex.id_func(ex.f) is ex.f and ex.id_func(None) is None
    assert ex.elem(0) is ex.f and ex.table.get(0) is ex.f and ex.elem(1) is None
    assert ex.elem(0)() == 42
    with pytest.raises(TypeError):
        ex.id_func(lambda: 1)                  # a plain callable is not a funcref


def test_exported_memory_global_and_table_objects():
    ex = instance(REFS).exports
    mem = ex.mem
    assert isinstance(mem, wasm.Memory) and len(mem.buffer) == 65536
    ex.store(10, 0x1FF)
    assert mem.buffer[10] == 0xFF
    mem.buffer[11] = 7
    assert ex.load(11) == 7
    assert mem.grow(2) == 1 and len(mem.buffer) == 3 * 65536
    with pytest.raises(ValueError):
        mem.grow(1)                            # beyond the maximum of 3
    g = ex.g
    assert isinstance(g, wasm.Global) and g.value == -3
    g.value = 2**32 + 1
    assert g.value == 1
    t = ex.table
    assert t.length == 2 and t.grow(3) == 2 and t.length == 5
    t.set(4, ex.f)
    assert ex.elem(4) is ex.f
    with pytest.raises(IndexError):
        t.get(5)


def test_runtime_object_constructors():
    m = wasm.Memory(1, 2)
    assert m.pages == 1 and m.maximum == 2 and not m.shared
    with pytest.raises(ValueError):
        wasm.Memory(3, 2)
    with pytest.raises(TypeError):
        wasm.Memory(1, shared=True)            # a shared memory needs a maximum
    assert wasm.Memory(1, 2, shared=True).shared
    t = wasm.Table("anyfunc", 3, 5)
    assert t.length == 3 and t.element == "funcref" and t.get(0) is None
    ext = wasm.Table("externref", 2, value="x")
    assert ext.get(1) == "x"
    with pytest.raises(TypeError):
        wasm.Table("i32", 1)
    const = wasm.Global("f32", 666.6)
    assert const.value == struct.unpack("<f", struct.pack("<f", 666.6))[0]
    with pytest.raises(AttributeError):
        const.value = 1.0
    assert wasm.Global("i64").value == 0 and wasm.Global("externref").value is None


IMPORTS = """(module
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (import "env" "mem" (memory 1))
  (import "env" "g" (global $g (mut i64)))
  (import "env" "k" (global $k f64))
  (import "env" "tab" (table 1 funcref))
  (func (export "call_add") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
  (func (export "read") (result i32) (i32.load (i32.const 0)))
  (func (export "bump") (global.set $g (i64.add (global.get $g) (i64.const 1))))
  (func (export "k") (result f64) (global.get $k))
)"""


def _env(**extra):
    env = {"add": lambda a, b: a + b, "mem": wasm.Memory(1), "g": wasm.Global("i64", 5, True),
           "k": 2.5, "tab": wasm.Table("funcref", 1)}
    env.update(extra)
    return {"env": env}


def test_imports_host_functions_memory_and_globals():
    calls = []

    def add(a, b):
        calls.append((a, b))
        return a + b
    imports = _env(add=add)
    ex = instance(IMPORTS, imports).exports
    assert ex.call_add(-1, -2) == -3 and calls == [(-1, -2)]   # host sees API values
    assert ex.call_add(0x7FFFFFFF, 1) == -0x80000000           # host result wrapped
    imports["env"]["mem"].buffer[0:4] = (1234).to_bytes(4, "little")
    assert ex.read() == 1234
    ex.bump()
    assert imports["env"]["g"].value == 6
    assert ex.k() == 2.5


def test_a_host_exception_propagates_unchanged():
    class Boom(Exception):
        pass

    def add(a, b):
        raise Boom("from the host")
    ex = instance(IMPORTS, _env(add=add)).exports
    with pytest.raises(Boom, match="from the host"):
        ex.call_add(1, 2)


@pytest.mark.parametrize("imports, message", [
    (None, "unknown import"),
    ({}, "unknown import"),
    ({"env": {}}, "unknown import"),
    (_env(add=wasm.Memory(1)), "incompatible import type"),
    (_env(mem=wasm.Memory(0)), "incompatible import type"),
    (_env(mem=wasm.Memory(1, shared=True, maximum=2)), "incompatible import type"),
    (_env(g=wasm.Global("i64", 5)), "incompatible import type"),      # not mutable
    (_env(g=wasm.Global("i32", 5, True)), "incompatible import type"),
    (_env(g=7), "incompatible import type"),            # a mutable global needs a Global
    (_env(k="x"), "incompatible import type"),
    (_env(tab=wasm.Table("externref", 1)), "incompatible import type"),
    (_env(add=wasm.Function({"parameters": ["i32"], "results": ["i32"]}, abs)),
     "incompatible import type"),
])
def test_link_errors(imports, message):
    module = wasm.Module(wasm.wat2wasm(IMPORTS))
    with pytest.raises(wasm.LinkError) as info:
        wasm.Instance(module, imports)
    assert info.value.message.startswith(message)


def test_exports_of_one_instance_link_another_whole():
    first = instance(REFS)
    second = instance("""(module
      (import "a" "f" (func $f (result i32)))
      (import "a" "mem" (memory 1))
      (export "f" (func $f))
      (func (export "peek") (result i32) (i32.load8_u (i32.const 3))))""",
                      {"a": first.exports})
    assert second.exports.f is first.exports.f               # identity survives re-export
    first.exports.store(3, 99)
    assert second.exports.peek() == 99
    with pytest.raises(wasm.LinkError, match="incompatible import type"):
        instance('(module (import "a" "f" (func (param i32))))', {"a": first.exports})


def test_typed_host_functions_keep_identity_through_tables():
    hf = wasm.Function({"parameters": ["i64"], "results": ["i64"]}, lambda x: x * 2)
    assert hf(-3) == -6 and hf.type.params == ("i64",)
    ex = instance("""(module
      (import "m" "double" (func $d (param i64) (result i64)))
      (table (export "t") 1 funcref)
      (elem (i32.const 0) $d)
      (export "d" (func $d))
      (func (export "call0") (param i64) (result i64)
        (call_indirect (param i64) (result i64) (local.get 0) (i32.const 0))))""",
                  {"m": {"double": hf}}).exports
    assert ex.d is hf and ex.t.get(0) is hf
    assert ex.call0(21) == 42


def test_trapping_start_and_segments_raise_runtime_error():
    with pytest.raises(wasm.RuntimeError, match="unreachable"):
        instance("(module (func $s unreachable) (start $s))")
    with pytest.raises(wasm.RuntimeError, match="out of bounds memory access"):
        instance('(module (memory 1) (data (i32.const 65535) "ab"))')
    with pytest.raises(wasm.RuntimeError, match="out of bounds table access"):
        instance("(module (table 1 funcref) (func $f) (elem (i32.const 1) $f))")


EXCEPTIONS = """(module
  (import "env" "tag" (tag $t (param i32)))
  (import "env" "host" (func $host (param i32)))
  (tag $own (export "own") (param f64))
  (func (export "throw") (param i32) (throw $t (local.get 0)))
  (func (export "throw_own") (throw $own (f64.const 1.5)))
  (func (export "catch_host") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h) (call $host (local.get 0)))
      (i32.const -1)))
)"""


def test_exceptions_cross_the_boundary_both_ways():
    tag = wasm.Tag(["i32"])

    def host(n):
        if n:
            raise wasm.Exception(tag, [n * 10])
    ex = instance(EXCEPTIONS, {"env": {"tag": tag, "host": host}}).exports
    with pytest.raises(wasm.Exception) as info:
        ex.throw(-5)
    assert info.value.is_(tag) and info.value.get_arg(tag, 0) == -5
    assert not info.value.is_(wasm.Tag(["i32"]))
    with pytest.raises(TypeError):
        info.value.get_arg(wasm.Tag(["i32"]), 0)
    with pytest.raises(wasm.Exception) as own:
        ex.throw_own()
    assert own.value.is_(ex.own) and own.value.get_arg(ex.own, 0) == 1.5
    assert ex.catch_host(4) == 40                 # a host raise is caught by try_table
    assert ex.catch_host(0) == -1


def test_asyncio_instantiate_forms():
    data = wasm.wat2wasm(NUMBERS)

    async def main():
        source = await wasm.instantiate(data)
        inst = await wasm.instantiate(source.module)
        streamed = await wasm.instantiate_streaming(_chunks(data))
        return source, inst, streamed
    source, inst, streamed = asyncio.run(main())
    assert isinstance(source.module, wasm.Module)
    assert source.instance.exports.add(1, 2) == 3
    assert isinstance(inst, wasm.Instance) and inst.exports.add(2, 2) == 4
    assert streamed.instance.exports.add(3, 3) == 6
    # the execution tiers' subpackage (sharedwasm.compile) is loaded by now: the public
    # function of the same name must still be there
    assert isinstance(asyncio.run(wasm.compile(data)), wasm.Module)


async def _chunks(data: bytes):
    for i in range(0, len(data), 7):
        yield data[i:i + 7]


def test_exnref_values_are_wasm_exceptions():
    tag = wasm.Tag(["i64"])
    ex = instance("""(module
      (import "env" "tag" (tag $t (param i64)))
      (func (export "catch") (param i64) (result exnref)
        (block $h (result exnref)
          (try_table (catch_all_ref $h) (throw $t (local.get 0)))
          (unreachable)))
      (func (export "rethrow") (param exnref) (throw_ref (local.get 0))))""",
                  {"env": {"tag": tag}}).exports
    caught = ex.catch(-7)
    assert isinstance(caught, wasm.Exception) and caught.get_arg(tag, 0) == -7
    with pytest.raises(wasm.Exception) as info:
        ex.rethrow(caught)
    assert info.value is caught                   # one object per exception instance
    mine = wasm.Exception(tag, [3])
    with pytest.raises(wasm.Exception) as info:
        ex.rethrow(mine)
    assert info.value is mine
    with pytest.raises(wasm.RuntimeError, match="null exception reference"):
        ex.rethrow(None)
    with pytest.raises(TypeError):
        wasm.Exception(tag, [1, 2])               # the payload must fit the tag
