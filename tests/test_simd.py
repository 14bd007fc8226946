"""SIMD in the portable tier: v128 as an unsigned 128-bit int, exact lane semantics.

Edge cases of the lane operations (saturation, narrowing, NaN bits, rounding, shifts,
memory bounds) run through compiled WAT functions and through the public API, whose
v128 values are ints in [0, 2^128) with lane ``i`` of ``iNxM`` at bits ``[i*N, (i+1)*N)``.
"""
from __future__ import annotations

import struct

import pytest

from sharedwasm import Instance, Module, wat2wasm
from sharedwasm.errors import RuntimeError as Trap
from sharedwasm.runtime import simd
from sharedwasm.tiers import instantiate, invoke
from sharedwasm.text.parser import parse_module
from sharedwasm.valid.validate import validate_module


def vec(w: int, *lanes: int) -> int:
    """The v128 of the given first lanes (the rest zero)."""
    return simd.join(lanes + (0,) * (128 // w - len(lanes)), w)


def f32s(*bits: int) -> int:
    return vec(32, *bits)


def run(body: str, params: str = "", args=(), result: str = "v128", memory: str = ""):
    m = parse_module(f"""(module {memory}
      (func (export "f") {params} (result {result}) {body}))""")
    inst = instantiate(m, validate_module(m), [])
    return invoke(inst.exports["f"], list(args))[0]


def binary(op: str, a: int, b: int) -> int:
    return run(f"({op} (local.get 0) (local.get 1))", "(param v128 v128)", (a, b))


def unary(op: str, a: int, result: str = "v128") -> int:
    return run(f"({op} (local.get 0))", "(param v128)", (a,), result)


def test_lanes_are_little_endian():
    v = run("(v128.const i32x4 1 2 3 0x80000000)")
    assert v == 1 | 2 << 32 | 3 << 64 | 0x80000000 << 96
    assert simd.u_lanes(v, 32) == (1, 2, 3, 0x80000000)
    assert simd.s_lanes(v, 32)[3] == -0x80000000


def test_saturating_add_sub():
    assert simd.u_lanes(binary("i8x16.add_sat_s", vec(8, 127, 0x80, 5), vec(8, 1, 0xFF, 0xFB)),
                        8)[:3] == (127, 0x80, 0)
    assert simd.u_lanes(binary("i8x16.add_sat_u", vec(8, 200), vec(8, 100)), 8)[0] == 255
    assert simd.u_lanes(binary("i16x8.sub_sat_u", vec(16, 1), vec(16, 2)), 16)[0] == 0
    assert simd.s_lanes(binary("i16x8.sub_sat_s", vec(16, 0x8000), vec(16, 1)),
                        16)[0] == -32768


def test_narrowing_reads_signed_lanes():
    a = vec(16, 0x8000, 0x7FFF, 0xFFFF, 200, 0, 0, 0, 0)
    got = simd.u_lanes(binary("i8x16.narrow_i16x8_u", a, 0), 8)
    assert got[:4] == (0, 255, 0, 200)
    got = simd.s_lanes(binary("i8x16.narrow_i16x8_s", a, a), 8)
    assert got[:4] == (-128, 127, -1, 127) and got[8:12] == (-128, 127, -1, 127)


def test_q15mulr_dot_extmul_avgr_popcnt():
    m = vec(16, 0x8000, 0x4000)
    assert simd.s_lanes(binary("i16x8.q15mulr_sat_s", m, m), 16)[:2] == (32767, 8192)
    a = vec(16, 0x8000, 0x8000, 2, 3)
    assert simd.u_lanes(binary("i32x4.dot_i16x8_s", a, a), 32)[:2] == (0x80000000, 13)
    x = vec(32, 0xFFFFFFFF, 0, 0, 0xFFFFFFFF)
    assert simd.u_lanes(binary("i64x2.extmul_low_i32x4_u", x, x), 64)[0] == 0xFFFFFFFE00000001
    assert simd.s_lanes(binary("i64x2.extmul_high_i32x4_s", x, x), 64)[1] == 1
    assert simd.u_lanes(binary("i8x16.avgr_u", vec(8, 255, 1), vec(8, 254, 2)), 8)[:2] == (255, 2)
    assert simd.u_lanes(unary("i8x16.popcnt", vec(8, 255, 0x81)), 8)[:2] == (8, 2)


def test_shift_counts_are_modulo_lane_width():
    assert simd.u_lanes(run("(i8x16.shl (v128.const i8x16 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0) "
                            "(i32.const 9))"), 8)[0] == 2
    assert simd.s_lanes(run("(i32x4.shr_s (v128.const i32x4 -8 0 0 0) (i32.const 33))"),
                        32)[0] == -4
    assert simd.u_lanes(run("(i64x2.shr_u (v128.const i64x2 -1 0) (i32.const 127))"),
                        64)[0] == 1


def test_bit_moves_keep_nan_payloads():
    snan = 0x7FA00001
    v = f32s(snan, 0xFF800001, 0, 0)
    assert unary("f32x4.neg", v) == f32s(snan | 0x80000000, 0x7F800001, 0x80000000, 0x80000000)
    assert unary("f32x4.abs", v) == f32s(snan, 0x7F800001, 0, 0)
    assert run("(f32x4.replace_lane 2 (local.get 0) (f32x4.extract_lane 0 (local.get 0)))",
               "(param v128)", (v,)) == f32s(snan, 0xFF800001, snan, 0)
    assert run("(f32x4.splat (f32x4.extract_lane 0 (local.get 0)))", "(param v128)",
               (v,)) == f32s(snan, snan, snan, snan)
    pm = binary("f32x4.pmin", f32s(snan, 0, 0, 0), f32s(0x3F800000, 0, 0, 0))
    assert simd.u_lanes(pm, 32)[0] == snan          # pmin selects, never computes


def test_float_arithmetic_nans_and_signed_zeros():
    qnan = 0x7FC00000
    out = simd.u_lanes(binary("f32x4.add", f32s(0x7FA00001, qnan, 0x3F800000, 0),
                              f32s(0, 0, 0x7F7FFFFF, 0)), 32)
    assert out[0] & 0x7FC00000 == 0x7FC00000        # a signalling operand: arithmetic NaN
    assert out[1] & 0x7FFFFFFF == qnan              # canonical in, canonical out
    assert out[2] == 0x7F7FFFFF                     # 1 + max rounds back to max
    mins = simd.u_lanes(binary("f32x4.min", f32s(0, 0x80000000, qnan, 0x3F800000),
                               f32s(0x80000000, 0, 0, 0x3F800000)), 32)
    assert mins[:2] == (0x80000000, 0x80000000) and mins[3] == 0x3F800000
    assert mins[2] & 0x7FFFFFFF == qnan
    maxs = simd.u_lanes(binary("f64x2.max", vec(64, 0x8000000000000000, 0),
                               vec(64, 0, 0x8000000000000000)), 64)
    assert maxs == (0, 0)


def test_nearest_ties_to_even_and_overflow_round_to_inf():
    v = f32s(*[struct.unpack("<I", struct.pack("<f", x))[0] for x in (2.5, -0.5, 3.5, 1.5)])
    got = [struct.unpack("<f", struct.pack("<I", b))[0] for b in
           simd.u_lanes(unary("f32x4.nearest", v), 32)]
    assert got == [2.0, -0.0, 4.0, 2.0]
    assert simd.u_lanes(unary("f32x4.nearest", v), 32)[1] == 0x80000000
    big = f32s(0x7F7FFFFF, 0, 0, 0)
    assert simd.u_lanes(binary("f32x4.mul", big, f32s(0x40000000, 0, 0, 0)), 32)[0] == 0x7F800000


def test_conversions():
    f = struct.unpack("<4I", struct.pack("<4f", 3e9, -1.5, float("nan"), -3e9))
    assert simd.u_lanes(unary("i32x4.trunc_sat_f32x4_s", vec(32, *f)), 32) == (
        0x7FFFFFFF, 0xFFFFFFFF, 0, 0x80000000)
    assert simd.u_lanes(unary("i32x4.trunc_sat_f32x4_u", vec(32, *f)), 32) == (
        3000000000, 0, 0, 0)
    d = vec(64, *struct.unpack("<2Q", struct.pack("<2d", 1e300, -2.7)))
    assert simd.u_lanes(unary("i32x4.trunc_sat_f64x2_s_zero", d), 32) == (
        0x7FFFFFFF, 0xFFFFFFFE, 0, 0)
    assert simd.u_lanes(unary("f32x4.demote_f64x2_zero", d), 32) == (0x7F800000, 0xC02CCCCD, 0, 0)
    i = vec(32, 0xFFFFFFFF, 16777217, 0, 0)
    assert simd.u_lanes(unary("f32x4.convert_i32x4_u", i), 32)[:2] == (0x4F800000, 0x4B800000)
    assert struct.unpack("<2d", unary("f64x2.convert_low_i32x4_s", i).to_bytes(16, "little")) \
        == (-1.0, 16777217.0)
    sn = vec(32, 0x7FA00001, 0, 0, 0)
    promoted = simd.u_lanes(unary("f64x2.promote_low_f32x4", sn), 64)[0]
    assert promoted & 0x7FF8000000000000 == 0x7FF8000000000000     # arithmetic NaN


def test_bitmask_all_true_any_true_bitselect():
    assert unary("i8x16.bitmask", vec(8, 0x80, 0, 0xFF), "i32") == 0b101
    assert unary("i32x4.all_true", vec(32, 1, 2, 3, 0), "i32") == 0
    assert unary("i64x2.all_true", vec(64, 1, 1 << 63), "i32") == 1
    assert unary("v128.any_true", 1 << 127, "i32") == 1
    got = run("(v128.bitselect (local.get 0) (local.get 1) (local.get 2))",
              "(param v128 v128 v128)", (0xF0F0, 0x0F0F, 0xFF00))
    assert got == 0xF00F


def test_shuffle_and_swizzle():
    a = int.from_bytes(bytes(range(16)), "little")
    b = int.from_bytes(bytes(range(16, 32)), "little")
    got = run("(i8x16.shuffle 31 0 16 15 1 1 1 1 1 1 1 1 1 1 1 30 (local.get 0) (local.get 1))",
              "(param v128 v128)", (a, b))
    assert got.to_bytes(16, "little")[:4] == bytes([31, 0, 16, 15])
    s = int.from_bytes(bytes([15, 16, 255, 0] + [1] * 12), "little")
    assert binary("i8x16.swizzle", a, s).to_bytes(16, "little")[:4] == bytes([15, 0, 0, 0])


MEM = '(memory 1) (data (i32.const 0) "\\01\\02\\03\\04\\05\\06\\07\\80\\09\\0a\\0b\\0c\\0d\\0e\\0f\\10")'


def test_loads_extend_splat_zero_lane():
    data = bytes([1, 2, 3, 4, 5, 6, 7, 0x80, *range(9, 17)])
    assert run("(v128.load offset=1 align=1 (i32.const 0))", memory=MEM) == \
        int.from_bytes(data[1:] + b"\0", "little")
    assert simd.s_lanes(run("(v128.load8x8_s (i32.const 4))", memory=MEM), 16)[3] == -128
    assert simd.u_lanes(run("(v128.load16_splat (i32.const 0))", memory=MEM), 16) == (0x0201,) * 8
    assert run("(v128.load32_zero (i32.const 0))", memory=MEM) == 0x04030201
    got = run("(v128.load8_lane 15 (i32.const 7) (v128.const i64x2 0 0))", memory=MEM)
    assert got == 0x80 << 120


def test_stores_and_bounds_traps():
    m = parse_module("""(module (memory 1)
      (func (export "st") (param i32 v128) (v128.store (local.get 0) (local.get 1)))
      (func (export "ld") (param i32) (result v128) (v128.load (local.get 0)))
      (func (export "lane") (param i32 v128)
        (v128.store16_lane 7 (local.get 0) (local.get 1))))""")
    inst = instantiate(m, validate_module(m), [])
    ex = inst.exports
    value = (1 << 128) - 2
    invoke(ex["st"], [65520, value])
    assert invoke(ex["ld"], [65520])[0] == value
    with pytest.raises(Trap, match="out of bounds memory access"):
        invoke(ex["st"], [65521, 0])
    with pytest.raises(Trap, match="out of bounds memory access"):
        invoke(ex["ld"], [65521])
    with pytest.raises(Trap, match="out of bounds memory access"):
        invoke(ex["lane"], [65535, 0])
    assert len(inst.mems[0].data) == 65536          # a failed store never grows memory
    invoke(ex["lane"], [0, 0xABCD << 112])
    assert invoke(ex["ld"], [0])[0] & 0xFFFF == 0xABCD


def test_api_passes_v128_as_unsigned_int():
    module = Module(wat2wasm("""(module
      (global $g (export "g") (mut v128) (v128.const i32x4 1 2 3 4))
      (func (export "f") (param v128) (result v128)
        (i32x4.add (local.get 0) (global.get $g))))"""))
    inst = Instance(module)
    f = inst.exports.f
    assert f(-1) == vec(32, 0, 1, 2, 3)             # -1 wraps to all ones
    assert f(0) == vec(32, 1, 2, 3, 4)
    assert inst.exports.g.value == vec(32, 1, 2, 3, 4)
    with pytest.raises(TypeError):
        f(1.5)
