"""Memory access in the portable tier: typed views for aligned accesses, struct for the rest.

Every load and store width at aligned and unaligned addresses, with offsets, at the last
valid address and one past it; an out-of-bounds store writes nothing; signalling-NaN f64
bits survive; the views follow the memory when it grows in a callee, in a callee that
throws into a caught ``try_table``, and while the user holds a view. Each check runs in
both the structured and the flat form.
"""
from __future__ import annotations

import struct

import pytest

import sharedwasm as w
from sharedwasm.tiers.pygen import codegen

pytestmark = pytest.mark.usefixtures("portable_engine")

WAT = r"""
(module
  (memory (export "mem") 1 100)
  (tag $t)
  (func (export "ld32") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "ld32o") (param i32) (result i32) (i32.load offset=4 (local.get 0)))
  (func (export "ld32o1") (param i32) (result i32) (i32.load offset=1 (local.get 0)))
  (func (export "ld32s") (param i32) (result i32) (i32.load (i32.shl (local.get 0) (i32.const 2))))
  (func (export "ld32s3") (param i32) (result i32) (i32.load offset=8 (i32.shl (local.get 0) (i32.const 3))))
  (func (export "ld64s") (param i32) (result i64) (i64.load (i32.shl (local.get 0) (i32.const 2))))
  (func (export "ld64") (param i32) (result i64) (i64.load (local.get 0)))
  (func (export "ld16") (param i32) (result i32) (i32.load16_u (local.get 0)))
  (func (export "ld16s") (param i32) (result i32) (i32.load16_s (local.get 0)))
  (func (export "ld8s") (param i32) (result i32) (i32.load8_s offset=3 (local.get 0)))
  (func (export "ld8s64") (param i32) (result i64) (i64.load8_s (local.get 0)))
  (func (export "ld16s64") (param i32) (result i64) (i64.load16_s (local.get 0)))
  (func (export "ld32s64") (param i32) (result i64) (i64.load32_s (local.get 0)))
  (func (export "ld64_32") (param i32) (result i64) (i64.load32_u (local.get 0)))
  (func (export "ldf64") (param i32) (result f64) (f64.load (local.get 0)))
  (func (export "ldf64bits") (param i32) (result i64) (i64.reinterpret_f64 (f64.load (local.get 0))))
  (func (export "copyf64") (param i32 i32) (f64.store (local.get 1) (f64.load (local.get 0))))
  (func (export "st32") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "st32s") (param i32 i32) (i32.store offset=12 (i32.shl (local.get 0) (i32.const 2)) (local.get 1)))
  (func (export "st64") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "st16") (param i32 i32) (i32.store16 (local.get 0) (local.get 1)))
  (func (export "st64_32") (param i32 i64) (i64.store32 (local.get 0) (local.get 1)))
  (func (export "stconst") (i32.store (i32.const 65532) (i32.const 0x01020304)))
  (func (export "ldconst") (result i32) (i32.load (i32.const 65532)))
  (func (export "ldconstbad") (result i32) (i32.load (i32.const 65536)))
  (func $grow (param i32) (result i32) (memory.grow (local.get 0)))
  (func $growthrow (drop (memory.grow (i32.const 1))) (throw $t))
  ;; grow in a callee, then access the new pages through the reloaded views
  (func (export "growcall") (result i32)
    (i32.store (i32.const 0) (i32.const 77))
    (drop (call $grow (i32.const 1)))
    (i32.store (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 4)) (i32.const 5))
    (i32.add (i32.load (i32.const 0))
      (i32.load (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 4)))))
  (func (export "growthrow") (result i32)
    (i32.store (i32.const 8) (i32.const 11))
    (block $h (try_table (catch $t $h) (call $growthrow)))
    (i32.store (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 8)) (i32.const 9))
    (i32.add (i32.load (i32.const 8))
      (i32.load (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 8)))))
  (func (export "growloop") (param $n i32) (result i32) (local $i i32)
    (loop $l
      (drop (memory.grow (i32.const 1)))
      (i32.store (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 4)) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (memory.size))
)
"""


@pytest.fixture(params=[False, True], ids=["structured", "flat"])
def fresh(request, monkeypatch):
    monkeypatch.setattr(codegen, "FLAT_ALWAYS", request.param)
    return lambda: w.Instance(w.Module(w.wat2wasm(WAT))).exports


def trap(f, *a):
    with pytest.raises(w.RuntimeError, match="out of bounds memory access"):
        f(*a)


def test_loads_stores_bounds_and_nan_bits(fresh):
    e = fresh()
    buf = e.mem.buffer
    buf[:64] = bytes(range(0, 256, 4))
    raw = bytes(buf[:64])
    for a in range(0, 24):
        assert e.ld32(a) == struct.unpack_from("<i", raw, a)[0], a
        assert e.ld32o(a) == struct.unpack_from("<i", raw, a + 4)[0]
        assert e.ld32o1(a) == struct.unpack_from("<i", raw, a + 1)[0]
        assert e.ld64(a) == struct.unpack_from("<q", raw, a)[0]
        assert e.ld16(a) == struct.unpack_from("<H", raw, a)[0]
        assert e.ld16s(a) == struct.unpack_from("<h", raw, a)[0]
        assert e.ld8s(a) == struct.unpack_from("<b", raw, a + 3)[0]
        assert e.ld8s64(a) == struct.unpack_from("<b", raw, a)[0]
        assert e.ld16s64(a) == struct.unpack_from("<h", raw, a)[0]
        assert e.ld32s64(a) == struct.unpack_from("<i", raw, a)[0]
        assert e.ld64_32(a) == struct.unpack_from("<I", raw, a)[0]
        assert e.ldf64bits(a) == struct.unpack_from("<q", raw, a)[0]
    for i in range(4):
        assert e.ld32s(i) == struct.unpack_from("<i", raw, 4 * i)[0]
        assert e.ld64s(i) == struct.unpack_from("<q", raw, 4 * i)[0]
        assert e.ld32s3(i) == struct.unpack_from("<i", raw, 8 * i + 8)[0]
    # bounds
    for f, last in ((e.ld32, 65532), (e.ld64, 65528), (e.ld16, 65534), (e.ldf64, 65528),
                    (e.ld64_32, 65532), (e.ld16s, 65534), (e.ld8s64, 65535), (e.ld16s64, 65534),
                    (e.ld32s64, 65532), (e.ld8s, 65532)):
        f(last); f(last - 1)
        trap(f, last + 1); trap(f, last + 2); trap(f, 65536); trap(f, -1); trap(f, -4); trap(f, -8)
    trap(e.ld32o, 65532); e.ld32o(65528); trap(e.ld32o, -4); trap(e.ld32o1, 65532)
    e.ld32s(16383); trap(e.ld32s, 16384); trap(e.ld32s, 0x3FFFFFFF); trap(e.ld32s, -1)
    trap(e.ld64s, 16383); e.ld64s(16382)
    trap(e.st32s, 16381, 1); e.st32s(16380, 1)
    e.stconst(); assert e.ldconst() == 0x01020304; trap(e.ldconstbad)
    # stores, aligned and not
    for a in range(0, 16):
        e.st32(a, -2 & 0xFFFFFFFF); assert e.ld32(a) == -2
        e.st64(a, -3); assert e.ld64(a) == -3
        e.st16(a, 0x12345); assert e.ld16(a) == 0x2345
        e.st64_32(a, 0x1_8765_4321); assert e.ld64_32(a) == 0x87654321
    for f, last in ((e.st32, 65532), (e.st64, 65528), (e.st16, 65534), (e.st64_32, 65532)):
        f(last, 1); trap(f, last + 1, 1); trap(f, last + 4, 1); trap(f, -1 & 0xFFFFFFFF, 1)
    # an out-of-bounds store writes nothing
    before = bytes(e.mem.buffer[-8:]); trap(e.st64, 65532, -1); assert bytes(e.mem.buffer[-8:]) == before
    # signalling NaN bits through f64 load/store, aligned and not
    snan = 0x7FF4000000000001
    for src, dst in ((0, 16), (3, 21)):
        struct.pack_into("<Q", e.mem.buffer, src, snan)
        e.copyf64(src, dst)
        assert struct.unpack_from("<Q", e.mem.buffer, dst)[0] == snan
        assert e.ldf64bits(src) == snan
    # grow in a callee / a callee that grows and throws
    e = fresh()
    assert e.growcall() == 82, e.growcall
    assert e.growthrow() == 20
    # grow while a user view pins the buffer
    e = fresh()
    pin = e.mem.buffer
    assert e.growcall() == 82
    del pin
    assert e.growloop(10) == 12
