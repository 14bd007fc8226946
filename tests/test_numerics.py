"""Edge cases of runtime.numerics: the wasm semantics Python does not give for free."""
from __future__ import annotations

import math
import struct

import pytest

from sharedwasm.errors import RuntimeError as Trap
from sharedwasm.runtime import numerics as n


def bits64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


@pytest.mark.parametrize("b", [0x7FA00000, 0xFFA00001, 0x7FC00000, 0xFFFFFFFF, 0x7F800001,
                               0x00000001, 0x80000000, 0x7F7FFFFF, 0x7F800000])
def test_f32_bits_round_trip_keeps_signalling_nans(b):
    assert n.f32_to_bits(n.f32_from_bits(b)) == b


def test_fround_overflow_and_ties():
    assert n.fround(3.5e38) == math.inf
    assert n.fround(-3.5e38) == -math.inf
    assert n.fround(3.4028235677973362e+38) == 3.4028234663852886e+38
    assert n.fround(1 + 2**-24) == 1.0            # tie to even
    assert n.fround(1 + 3 * 2**-24) == 1 + 2**-22


def test_int_to_f32_rounds_once():
    # just above an f32 tie; rounding to f64 first lands on the tie, then ties-to-even is wrong
    v = 2**62 + 2**38 + 1
    assert n.fround(float(v)) == 2.0**62
    assert n.convert_i64_u_f32(v) == 2.0**62 + 2.0**39
    assert n.convert_i64_s_f32(0xFFFFFFFFFFFFFFFF) == -1.0
    assert n.convert_i64_u_f32(0xFFFFFFFFFFFFFFFF) == 2.0**64
    assert n.int_to_f32(16777217) == 16777216.0       # tie to even
    assert n.int_to_f32(16777219) == 16777220.0


def test_div_rem_traps_and_truncation():
    assert n.div_s32(0xFFFFFFF9, 2) == 0xFFFFFFFD        # -7 / 2 == -3
    assert n.rem_s32(0xFFFFFFF9, 2) == 0xFFFFFFFF        # -7 % 2 == -1
    assert n.rem_s32(0x80000000, 0xFFFFFFFF) == 0
    assert n.div_s64(7, 0xFFFFFFFFFFFFFFFE) == 0xFFFFFFFFFFFFFFFD
    with pytest.raises(Trap, match="integer overflow"):
        n.div_s32(0x80000000, 0xFFFFFFFF)
    with pytest.raises(Trap, match="integer divide by zero"):
        n.rem_s64(1, 0)
    with pytest.raises(Trap, match="integer divide by zero"):
        n.div_u(1, 0)


def test_bit_counting_and_rotates():
    assert n.clz32(0) == 32 and n.clz64(1) == 63
    assert n.ctz32(0) == 32 and n.ctz64(0x8000000000000000) == 63
    assert n.rotl32(0x80000001, 1) == 3
    assert n.rotr32(1, 33) == 0x80000000
    assert n.rotl64(0x8000000000000000, 65) == 1


def test_min_max_zero_signs_and_nan():
    assert math.copysign(1, n.fmin(0.0, -0.0)) < 0
    assert math.copysign(1, n.fmin(-0.0, 0.0)) < 0
    assert math.copysign(1, n.fmax(-0.0, 0.0)) > 0
    assert math.isnan(n.fmin(math.nan, 1.0)) and math.isnan(n.fmax(1.0, math.nan))


def test_rounding_keeps_negative_zero_and_quiets_nan():
    assert str(n.fnearest(-0.5)) == "-0.0"
    assert n.fnearest(2.5) == 2.0 and n.fnearest(3.5) == 4.0
    assert str(n.fceil(-0.5)) == "-0.0"
    assert str(n.ftrunc(-0.9)) == "-0.0"
    assert n.ffloor(-0.5) == -1.0
    assert n.fnearest(2.0**60) == 2.0**60
    snan = n.f64_from_bits(0x7FF4000000000000)
    assert bits64(n.fceil(snan)) & 0x0008000000000000      # quiet bit set


def test_sqrt_div_special_values():
    assert math.isnan(n.fsqrt(-1.0))
    assert str(n.fsqrt(-0.0)) == "-0.0"
    assert n.fdiv(1.0, -0.0) == -math.inf
    assert math.isnan(n.fdiv(0.0, 0.0))
    assert n.f32_div(1.0, 3.0) == n.fround(1 / 3)


@pytest.mark.parametrize("fn,x,msg", [
    (n.trunc_i32_s, 2147483648.0, "integer overflow"),
    (n.trunc_i32_s, math.nan, "invalid conversion to integer"),
    (n.trunc_i32_u, -1.0, "integer overflow"),
    (n.trunc_i64_s, 9223372036854775808.0, "integer overflow"),
    (n.trunc_i64_u, math.inf, "integer overflow"),
])
def test_trapping_truncation(fn, x, msg):
    with pytest.raises(Trap, match=msg):
        fn(x)


def test_truncation_range_edges():
    assert n.trunc_i32_s(-2147483648.9) == 0x80000000
    assert n.trunc_i32_u(-0.9) == 0
    assert n.trunc_i64_s(-9223372036854775808.0) == 0x8000000000000000
    assert n.trunc_sat_i32_s(1e10) == 0x7FFFFFFF
    assert n.trunc_sat_i32_s(-1e10) == 0x80000000
    assert n.trunc_sat_i64_u(-5.0) == 0
    assert n.trunc_sat_i64_s(math.nan) == 0


def test_f32_memory_access_keeps_nan_bits_and_traps():
    mem = bytearray(8)
    x = n.f32_from_bits(0x7FA00001)
    n.f32_store(mem, 4, x)
    assert mem[4:8] == struct.pack("<I", 0x7FA00001)
    assert n.f32_to_bits(n.f32_load(mem, 4)) == 0x7FA00001
    with pytest.raises(Trap, match="out of bounds memory access"):
        n.f32_load(mem, 5)


def test_promote_quiets_signalling_nan_only():
    assert n.promote(1.5) == 1.5
    assert bits64(n.promote(n.f32_from_bits(0x7FA00000))) == 0x7FFC000000000000
