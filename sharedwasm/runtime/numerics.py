"""Exact WebAssembly numerics (spec 4.3) on the engine's internal values.

Internal values: i32/i64 are unsigned Python ints; f64 is a Python float; f32 is a Python
float holding an exact f32 value. An f32 NaN is kept as the f64 NaN whose mantissa is the
f32 mantissa shifted left by 29 (sign kept), so payloads and signalling NaNs survive; the
conversions between bits and values below do that mapping by hand because the C
float<->double casts quiet signalling NaNs.

Generated code inlines the cheap operations (add, masks, compares) and calls the helpers
here for the rest; helpers that can trap raise ``Trap`` themselves.
"""
from __future__ import annotations

import math
import struct

from .traps import INT_DIV_ZERO, INT_OVERFLOW, INVALID_CONV, OOB_MEMORY, Trap

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF
INF = math.inf
NAN = math.nan        # the canonical NaN (0x7ff8000000000000)

_copysign = math.copysign
_ceil = math.ceil
_floor = math.floor
_sqrt = math.sqrt
_S_F = struct.Struct("<f")
_S_I = struct.Struct("<I")
_S_D = struct.Struct("<d")
_S_Q = struct.Struct("<Q")
_pack_f, _unpack_f = _S_F.pack, _S_F.unpack
_pack_I, _unpack_I = _S_I.pack, _S_I.unpack
_pack_d, _unpack_d = _S_D.pack, _S_D.unpack
_pack_Q, _unpack_Q = _S_Q.pack, _S_Q.unpack
_unpack_from_f, _unpack_from_I = _S_F.unpack_from, _S_I.unpack_from
_pack_into_f, _pack_into_I = _S_F.pack_into, _S_I.pack_into

# ---------------------------------------------------------------------------------------
# bit patterns <-> values


def f32_from_bits(b: int) -> float:
    """The f32 value of a 32-bit pattern (NaN payloads mapped by hand)."""
    if b & 0x7F800000 == 0x7F800000 and b & 0x7FFFFF:
        return _unpack_d(_pack_Q(((b & 0x80000000) << 32) | 0x7FF0000000000000
                                 | ((b & 0x7FFFFF) << 29)))[0]
    return _unpack_f(_pack_I(b))[0]


def f32_to_bits(x: float) -> int:
    """The 32-bit pattern of an f32 value (inverse of ``f32_from_bits``)."""
    if x != x:
        b = _unpack_Q(_pack_d(x))[0]
        mant = (b >> 29) & 0x7FFFFF
        return ((b >> 32) & 0x80000000) | 0x7F800000 | (mant or 0x400000)
    return _unpack_I(_pack_f(x))[0]


def f64_from_bits(b: int) -> float:
    return _unpack_d(_pack_Q(b))[0]


def f64_to_bits(x: float) -> int:
    return _unpack_Q(_pack_d(x))[0]


def fround(x: float) -> float:
    """Round a double to the nearest f32 value (ties to even); overflow gives infinity."""
    try:
        return _unpack_f(_pack_f(x))[0]
    except OverflowError:
        return _copysign(INF, x)


def f32_load(data, addr: int) -> float:
    """Load an f32 from memory (out of bounds traps)."""
    try:
        x = _unpack_from_f(data, addr)[0]
        if x != x:
            return f32_from_bits(_unpack_from_I(data, addr)[0])
        return x
    except Exception:
        raise Trap(OOB_MEMORY) from None


def f32_store(data, addr: int, x: float) -> None:
    """Store an f32 to memory keeping NaN bits (out of bounds traps)."""
    try:
        if x == x:
            _pack_into_f(data, addr, x)
        else:
            _pack_into_I(data, addr, f32_to_bits(x))
    except Exception:
        raise Trap(OOB_MEMORY) from None


# ---------------------------------------------------------------------------------------
# integers


def signed32(a: int) -> int:
    return (a ^ 0x80000000) - 0x80000000


def signed64(a: int) -> int:
    return (a ^ 0x8000000000000000) - 0x8000000000000000


def clz32(a: int) -> int:
    return 32 - a.bit_length()


def clz64(a: int) -> int:
    return 64 - a.bit_length()


def ctz32(a: int) -> int:
    return (a & -a).bit_length() - 1 if a else 32


def ctz64(a: int) -> int:
    return (a & -a).bit_length() - 1 if a else 64


def rotl32(a: int, k: int) -> int:
    k &= 31
    return ((a << k) | (a >> (32 - k))) & M32


def rotr32(a: int, k: int) -> int:
    k &= 31
    return ((a >> k) | (a << (32 - k))) & M32


def rotl64(a: int, k: int) -> int:
    k &= 63
    return ((a << k) | (a >> (64 - k))) & M64


def rotr64(a: int, k: int) -> int:
    k &= 63
    return ((a >> k) | (a << (64 - k))) & M64


def div_s32(a: int, b: int) -> int:
    if not b:
        raise Trap(INT_DIV_ZERO)
    if a == 0x80000000 and b == M32:
        raise Trap(INT_OVERFLOW)
    a = (a ^ 0x80000000) - 0x80000000
    b = (b ^ 0x80000000) - 0x80000000
    q = abs(a) // abs(b)
    return (-q if (a < 0) != (b < 0) else q) & M32


def div_s64(a: int, b: int) -> int:
    if not b:
        raise Trap(INT_DIV_ZERO)
    if a == 0x8000000000000000 and b == M64:
        raise Trap(INT_OVERFLOW)
    a = (a ^ 0x8000000000000000) - 0x8000000000000000
    b = (b ^ 0x8000000000000000) - 0x8000000000000000
    q = abs(a) // abs(b)
    return (-q if (a < 0) != (b < 0) else q) & M64


def rem_s32(a: int, b: int) -> int:
    if not b:
        raise Trap(INT_DIV_ZERO)
    a = (a ^ 0x80000000) - 0x80000000
    b = (b ^ 0x80000000) - 0x80000000
    r = abs(a) % abs(b)
    return (-r if a < 0 else r) & M32


def rem_s64(a: int, b: int) -> int:
    if not b:
        raise Trap(INT_DIV_ZERO)
    a = (a ^ 0x8000000000000000) - 0x8000000000000000
    b = (b ^ 0x8000000000000000) - 0x8000000000000000
    r = abs(a) % abs(b)
    return (-r if a < 0 else r) & M64


def div_u(a: int, b: int) -> int:
    if not b:
        raise Trap(INT_DIV_ZERO)
    return a // b


def rem_u(a: int, b: int) -> int:
    if not b:
        raise Trap(INT_DIV_ZERO)
    return a % b


# ---------------------------------------------------------------------------------------
# floats (shared by f32 and f64: f32 callers round results with ``fround`` where needed)


def fdiv(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a != a:
            return a + b
        if a == 0.0:
            return NAN
        return _copysign(INF, a) * _copysign(1.0, b)


def f32_div(a: float, b: float) -> float:
    return fround(fdiv(a, b))


def fsqrt(x: float) -> float:
    if x < 0.0:
        return NAN
    return _sqrt(x)


def f32_sqrt(x: float) -> float:
    if x < 0.0:
        return NAN
    return fround(_sqrt(x))


def fmin(a: float, b: float) -> float:
    if a < b:
        return a
    if b < a:
        return b
    if a == b:
        return a if a or _copysign(1.0, a) < 0.0 else b
    return a + b


def fmax(a: float, b: float) -> float:
    if a > b:
        return a
    if b > a:
        return b
    if a == b:
        return a if a or _copysign(1.0, a) > 0.0 else b
    return a + b


def fceil(x: float) -> float:
    if x != x:
        return x + x
    if -4503599627370496.0 < x < 4503599627370496.0:
        return _copysign(float(_ceil(x)), x)
    return x


def ffloor(x: float) -> float:
    if x != x:
        return x + x
    if -4503599627370496.0 < x < 4503599627370496.0:
        return _copysign(float(_floor(x)), x)
    return x


def ftrunc(x: float) -> float:
    if x != x:
        return x + x
    if -4503599627370496.0 < x < 4503599627370496.0:
        return _copysign(float(int(x)), x)
    return x


def fnearest(x: float) -> float:
    if x != x:
        return x + x
    if -4503599627370496.0 < x < 4503599627370496.0:
        return _copysign(float(round(x)), x)
    return x


def fcopysign(a: float, b: float) -> float:
    return _copysign(a, b)


# ---------------------------------------------------------------------------------------
# conversions

#: (exclusive lower bound, exclusive upper bound) of floats whose truncation fits
_TRUNC_RANGE = {
    "i32_s": (-2147483649.0, 2147483648.0),
    "i32_u": (-1.0, 4294967296.0),
    "i64_s": (-9223372036854777856.0, 9223372036854775808.0),
    "i64_u": (-1.0, 18446744073709551616.0),
}


def _make_trunc(kind: str, mask: int):
    lo, hi = _TRUNC_RANGE[kind]

    def trunc(x: float) -> int:
        if lo < x < hi:
            return int(x) & mask
        if x != x:
            raise Trap(INVALID_CONV)
        raise Trap(INT_OVERFLOW)
    trunc.__name__ = f"trunc_{kind}"
    return trunc


def _make_trunc_sat(kind: str, mask: int, smin: int, smax: int):
    lo, hi = _TRUNC_RANGE[kind]

    def trunc_sat(x: float) -> int:
        if lo < x < hi:
            return int(x) & mask
        if x != x:
            return 0
        return (smin if x < 0 else smax) & mask
    trunc_sat.__name__ = f"trunc_sat_{kind}"
    return trunc_sat


trunc_i32_s = _make_trunc("i32_s", M32)
trunc_i32_u = _make_trunc("i32_u", M32)
trunc_i64_s = _make_trunc("i64_s", M64)
trunc_i64_u = _make_trunc("i64_u", M64)
trunc_sat_i32_s = _make_trunc_sat("i32_s", M32, -2**31, 2**31 - 1)
trunc_sat_i32_u = _make_trunc_sat("i32_u", M32, 0, M32)
trunc_sat_i64_s = _make_trunc_sat("i64_s", M64, -2**63, 2**63 - 1)
trunc_sat_i64_u = _make_trunc_sat("i64_u", M64, 0, M64)


def int_to_f32(v: int) -> float:
    """A (signed or unsigned) integer rounded once to the nearest f32 (ties to even)."""
    if -9007199254740992 <= v <= 9007199254740992:
        return fround(float(v))
    m = -v if v < 0 else v
    shift = m.bit_length() - 24
    q = m >> shift
    r = m & ((1 << shift) - 1)
    half = 1 << (shift - 1)
    if r > half or (r == half and q & 1):
        q += 1
    q <<= shift
    return fround(float(-q if v < 0 else q))


def convert_i64_s_f32(a: int) -> float:
    return int_to_f32((a ^ 0x8000000000000000) - 0x8000000000000000)


def convert_i64_u_f32(a: int) -> float:
    return int_to_f32(a)


def convert_i32_u_f32(a: int) -> float:
    return fround(float(a))


def convert_i32_s_f32(a: int) -> float:
    return fround(float((a ^ 0x80000000) - 0x80000000))


def promote(x: float) -> float:
    """f64.promote_f32: exact for numbers; NaNs come out quiet (arithmetic)."""
    return x * 1.0
