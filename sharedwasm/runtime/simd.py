"""SIMD (v128) operations on the engine's internal v128 value: an int in [0, 2^128).

Lane ``i`` of an ``iNxM`` shape is bits ``[i*N, (i+1)*N)`` (little-endian lane order), so
lanes are split and joined through ``int.to_bytes``/``from_bytes`` and ``struct`` on the
16-byte buffer. Bit moves (loads, stores, shuffles, lane extraction and replacement,
bitwise ops, f32/f64 ``abs``/``neg``) never turn lanes into floats, so NaN payloads survive.
f32 lanes that take part in arithmetic are mapped to floats with ``numerics``'s NaN-exact
conversions and rounded to f32 after each operation (NaN results are arithmetic NaNs, or
canonical when every NaN operand is, as the scalar helpers give).

``OPERATIONS`` maps each lane-wise mnemonic to its function of v128 (and scalar) operands;
the memory helpers raise the trap themselves (generated code only converts errors raised
in its own frame).
"""
from __future__ import annotations

import struct
from typing import Callable

from .numerics import (f32_div, f32_from_bits, f32_sqrt, f32_to_bits, fceil, fdiv, ffloor,
                       fmax, fmin, fnearest, fround, fsqrt, ftrunc, promote, trunc_sat_i32_s,
                       trunc_sat_i32_u)
from .traps import OOB_MEMORY, Trap

__all__ = ["M128", "OPERATIONS", "u_lanes", "s_lanes", "join", "f32_lanes", "f32_join",
           "f64_lanes", "f64_join", "v128_load", "v128_store", "load_extend", "load_splat",
           "load_zero", "load_lane", "store_lane", "shuffle", "swizzle"]

M128 = (1 << 128) - 1
_U = {8: struct.Struct("<16B"), 16: struct.Struct("<8H"), 32: struct.Struct("<4I"),
      64: struct.Struct("<2Q")}
_S = {8: struct.Struct("<16b"), 16: struct.Struct("<8h"), 32: struct.Struct("<4i"),
      64: struct.Struct("<2q")}
_F64 = struct.Struct("<2d")
_SHAPES = {"i8x16": 8, "i16x8": 16, "i32x4": 32, "i64x2": 64}


# --- lanes ---------------------------------------------------------------------------------
def u_lanes(v: int, w: int) -> tuple:
    """The unsigned lanes of width ``w``."""
    return _U[w].unpack(v.to_bytes(16, "little"))


def s_lanes(v: int, w: int) -> tuple:
    """The signed lanes of width ``w``."""
    return _S[w].unpack(v.to_bytes(16, "little"))


def join(lanes, w: int) -> int:
    """The v128 of lanes of width ``w`` (each reduced modulo 2^w)."""
    m = (1 << w) - 1
    return int.from_bytes(_U[w].pack(*[x & m for x in lanes]), "little")


def f32_lanes(v: int) -> list:
    return [f32_from_bits(b) for b in _U[32].unpack(v.to_bytes(16, "little"))]


def f32_join(xs) -> int:
    return int.from_bytes(_U[32].pack(*[f32_to_bits(x) for x in xs]), "little")


def f64_lanes(v: int) -> tuple:
    return _F64.unpack(v.to_bytes(16, "little"))


def f64_join(xs) -> int:
    return int.from_bytes(_F64.pack(*xs), "little")


# --- memory --------------------------------------------------------------------------------
def _bytes(mem, ea: int, n: int) -> bytes:
    if ea + n > len(mem):
        raise Trap(OOB_MEMORY)
    return bytes(mem[ea:ea + n])


def _put(mem, ea: int, data: bytes) -> None:
    if ea + len(data) > len(mem):
        raise Trap(OOB_MEMORY)
    mem[ea:ea + len(data)] = data


def v128_load(mem, ea: int) -> int:
    return int.from_bytes(_bytes(mem, ea, 16), "little")


def v128_store(mem, ea: int, v: int) -> None:
    _put(mem, ea, v.to_bytes(16, "little"))


_HALF = {8: struct.Struct("<8B"), 16: struct.Struct("<4H"), 32: struct.Struct("<2I")}
_HALF_S = {8: struct.Struct("<8b"), 16: struct.Struct("<4h"), 32: struct.Struct("<2i")}


def load_extend(mem, ea: int, w: int, signed: bool) -> int:
    """``v128.loadNxM_s/u``: 8 bytes of lanes of width ``w``, extended to ``2w``."""
    lanes = (_HALF_S if signed else _HALF)[w].unpack(_bytes(mem, ea, 8))
    return join(lanes, 2 * w)


def load_splat(mem, ea: int, w: int) -> int:
    x = int.from_bytes(_bytes(mem, ea, w // 8), "little")
    return x * _REPEAT[w]


def load_zero(mem, ea: int, w: int) -> int:
    return int.from_bytes(_bytes(mem, ea, w // 8), "little")


def load_lane(mem, ea: int, w: int, v: int, lane: int) -> int:
    x = int.from_bytes(_bytes(mem, ea, w // 8), "little")
    sh = lane * w
    return (v & ~(((1 << w) - 1) << sh) & M128) | (x << sh)


def store_lane(mem, ea: int, w: int, v: int, lane: int) -> None:
    _put(mem, ea, ((v >> (lane * w)) & ((1 << w) - 1)).to_bytes(w // 8, "little"))


#: lane width -> the int whose product with a lane value repeats it in every lane
_REPEAT = {w: sum(1 << (i * w) for i in range(128 // w)) for w in (8, 16, 32, 64)}


def splat(x: int, w: int) -> int:
    return (x & ((1 << w) - 1)) * _REPEAT[w]


# --- byte permutations ---------------------------------------------------------------------
def shuffle(a: int, b: int, lanes: tuple) -> int:
    ab = a.to_bytes(16, "little") + b.to_bytes(16, "little")
    return int.from_bytes(bytes([ab[i] for i in lanes]), "little")


def swizzle(a: int, s: int) -> int:
    ab = a.to_bytes(16, "little")
    return int.from_bytes(bytes([ab[i] if i < 16 else 0 for i in s.to_bytes(16, "little")]),
                          "little")


# --- integer lane operations ---------------------------------------------------------------
def _sat(lo: int, hi: int) -> Callable[[int], int]:
    def clamp(x: int) -> int:
        return lo if x < lo else hi if x > hi else x
    return clamp


def _ibinary(w: int, signed: bool, fn: Callable[[int, int], int]):
    lanes = s_lanes if signed else u_lanes

    def op(a: int, b: int) -> int:
        return join(map(fn, lanes(a, w), lanes(b, w)), w)
    return op


def _iunary(w: int, signed: bool, fn: Callable[[int], int]):
    lanes = s_lanes if signed else u_lanes

    def op(a: int) -> int:
        return join(map(fn, lanes(a, w)), w)
    return op


def _shift(w: int, kind: str):
    mod = w - 1

    def op(a: int, k: int) -> int:
        k &= mod
        if kind == "shl":
            return join([x << k for x in u_lanes(a, w)], w)
        if kind == "shr_s":
            return join([x >> k for x in s_lanes(a, w)], w)
        return join([x >> k for x in u_lanes(a, w)], w)
    return op


def _all_true(w: int):
    def op(a: int) -> int:
        return int(all(u_lanes(a, w)))
    return op


def _bitmask(w: int):
    def op(a: int) -> int:
        out = 0
        for i, x in enumerate(s_lanes(a, w)):
            if x < 0:
                out |= 1 << i
        return out
    return op


def _narrow(w: int, signed: bool):
    """``narrow_i{w}...``: signed lanes of width ``w`` saturated to width ``w/2``."""
    h = w // 2
    clamp = _sat(-(1 << (h - 1)), (1 << (h - 1)) - 1) if signed else _sat(0, (1 << h) - 1)

    def op(a: int, b: int) -> int:
        return join([clamp(x) for x in s_lanes(a, w) + s_lanes(b, w)], h)
    return op


def _extend(w: int, high: bool, signed: bool):
    """``extend_low/high``: half the lanes of width ``w`` widened to ``2w``."""
    lanes = s_lanes if signed else u_lanes
    n = 64 // w

    def op(a: int) -> int:
        ls = lanes(a, w)
        return join(ls[n:] if high else ls[:n], 2 * w)
    return op


def _extmul(w: int, high: bool, signed: bool):
    lanes = s_lanes if signed else u_lanes
    n = 64 // w

    def op(a: int, b: int) -> int:
        x, y = lanes(a, w), lanes(b, w)
        if high:
            x, y = x[n:], y[n:]
        else:
            x, y = x[:n], y[:n]
        return join([p * q for p, q in zip(x, y)], 2 * w)
    return op


def _extadd(w: int, signed: bool):
    lanes = s_lanes if signed else u_lanes

    def op(a: int) -> int:
        ls = lanes(a, w)
        return join([ls[i] + ls[i + 1] for i in range(0, len(ls), 2)], 2 * w)
    return op


def dot_i16x8_s(a: int, b: int) -> int:
    p = [x * y for x, y in zip(s_lanes(a, 16), s_lanes(b, 16))]
    return join([p[i] + p[i + 1] for i in range(0, 8, 2)], 32)


_q15 = _sat(-32768, 32767)


def q15mulr_sat_s(a: int, b: int) -> int:
    return join([_q15((x * y + 0x4000) >> 15) for x, y in zip(s_lanes(a, 16), s_lanes(b, 16))],
                16)


# --- float lane operations -----------------------------------------------------------------
def _pmin(a: float, b: float) -> float:
    return b if b < a else a


def _pmax(a: float, b: float) -> float:
    return b if a < b else a


_F32_BINARY = {"add": lambda x, y: fround(x + y), "sub": lambda x, y: fround(x - y),
               "mul": lambda x, y: fround(x * y), "div": f32_div, "min": fmin, "max": fmax,
               "pmin": _pmin, "pmax": _pmax}
_F64_BINARY = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
               "mul": lambda x, y: x * y, "div": fdiv, "min": fmin, "max": fmax,
               "pmin": _pmin, "pmax": _pmax}
_F32_UNARY = {"sqrt": f32_sqrt, "ceil": fceil, "floor": ffloor, "trunc": ftrunc,
              "nearest": fnearest}
_F64_UNARY = {"sqrt": fsqrt, "ceil": fceil, "floor": ffloor, "trunc": ftrunc,
              "nearest": fnearest}
_COMPARE = {"eq": lambda x, y: x == y, "ne": lambda x, y: x != y, "lt": lambda x, y: x < y,
            "gt": lambda x, y: x > y, "le": lambda x, y: x <= y, "ge": lambda x, y: x >= y}


def _fbinary(shape: str, fn):
    if shape == "f32x4":
        return lambda a, b: f32_join(map(fn, f32_lanes(a), f32_lanes(b)))
    return lambda a, b: f64_join(map(fn, f64_lanes(a), f64_lanes(b)))


def _funary(shape: str, fn):
    if shape == "f32x4":
        return lambda a: f32_join(map(fn, f32_lanes(a)))
    return lambda a: f64_join(map(fn, f64_lanes(a)))


def _fcompare(shape: str, fn):
    if shape == "f32x4":
        return lambda a, b: join([-fn(x, y) for x, y in zip(f32_lanes(a), f32_lanes(b))], 32)
    return lambda a, b: join([-fn(x, y) for x, y in zip(f64_lanes(a), f64_lanes(b))], 64)


def _demote_lane(x: float) -> int:
    if x != x:
        return f32_to_bits(x) | 0x400000
    return f32_to_bits(fround(x))


def demote_f64x2_zero(a: int) -> int:
    return join([_demote_lane(x) for x in f64_lanes(a)] + [0, 0], 32)


def promote_low_f32x4(a: int) -> int:
    return f64_join([promote(x) for x in f32_lanes(a)[:2]])


def trunc_sat_f32x4_s(a: int) -> int:
    return join([trunc_sat_i32_s(x) for x in f32_lanes(a)], 32)


def trunc_sat_f32x4_u(a: int) -> int:
    return join([trunc_sat_i32_u(x) for x in f32_lanes(a)], 32)


def trunc_sat_f64x2_s_zero(a: int) -> int:
    return join([trunc_sat_i32_s(x) for x in f64_lanes(a)] + [0, 0], 32)


def trunc_sat_f64x2_u_zero(a: int) -> int:
    return join([trunc_sat_i32_u(x) for x in f64_lanes(a)] + [0, 0], 32)


def convert_i32x4_s(a: int) -> int:
    return f32_join([fround(float(x)) for x in s_lanes(a, 32)])


def convert_i32x4_u(a: int) -> int:
    return f32_join([fround(float(x)) for x in u_lanes(a, 32)])


def convert_low_i32x4_s(a: int) -> int:
    return f64_join([float(x) for x in s_lanes(a, 32)[:2]])


def convert_low_i32x4_u(a: int) -> int:
    return f64_join([float(x) for x in u_lanes(a, 32)[:2]])


# --- the table -----------------------------------------------------------------------------
def _integer_ops() -> dict:
    out: dict = {}
    for shape, w in _SHAPES.items():
        lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
        um = (1 << w) - 1
        out[f"{shape}.add"] = _ibinary(w, False, lambda x, y: x + y)
        out[f"{shape}.sub"] = _ibinary(w, False, lambda x, y: x - y)
        out[f"{shape}.neg"] = _iunary(w, False, lambda x: -x)
        out[f"{shape}.abs"] = _iunary(w, True, abs)
        out[f"{shape}.all_true"] = _all_true(w)
        out[f"{shape}.bitmask"] = _bitmask(w)
        for k in ("shl", "shr_s", "shr_u"):
            out[f"{shape}.{k}"] = _shift(w, k)
        out[f"{shape}.eq"] = _ibinary(w, False, lambda x, y: -(x == y))
        out[f"{shape}.ne"] = _ibinary(w, False, lambda x, y: -(x != y))
        for sign in ("s", "u"):
            signed = sign == "s"
            for rel, fn in (("lt", _COMPARE["lt"]), ("gt", _COMPARE["gt"]),
                            ("le", _COMPARE["le"]), ("ge", _COMPARE["ge"])):
                out[f"{shape}.{rel}_{sign}"] = _ibinary(w, signed, lambda x, y, f=fn: -f(x, y))
            if w < 64:
                out[f"{shape}.min_{sign}"] = _ibinary(w, signed, min)
                out[f"{shape}.max_{sign}"] = _ibinary(w, signed, max)
            if w < 32:
                clamp = _sat(lo, hi) if signed else _sat(0, um)
                out[f"{shape}.add_sat_{sign}"] = _ibinary(w, signed,
                                                          lambda x, y, c=clamp: c(x + y))
                out[f"{shape}.sub_sat_{sign}"] = _ibinary(w, signed,
                                                          lambda x, y, c=clamp: c(x - y))
            if w > 8:
                h = w // 2
                half = f"i{h}x{128 // h}"
                out[f"{shape}.extend_low_{half}_{sign}"] = _extend(h, False, signed)
                out[f"{shape}.extend_high_{half}_{sign}"] = _extend(h, True, signed)
                out[f"{shape}.extmul_low_{half}_{sign}"] = _extmul(h, False, signed)
                out[f"{shape}.extmul_high_{half}_{sign}"] = _extmul(h, True, signed)
                if w < 64:
                    out[f"{shape}.extadd_pairwise_{half}_{sign}"] = _extadd(h, signed)
            if w < 32:
                wide = f"i{2 * w}x{64 // w}"
                out[f"{shape}.narrow_{wide}_{sign}"] = _narrow(2 * w, signed)
        if w > 8:
            out[f"{shape}.mul"] = _ibinary(w, False, lambda x, y: x * y)
        if w < 32:
            out[f"{shape}.avgr_u"] = _ibinary(w, False, lambda x, y: (x + y + 1) >> 1)
    out["i8x16.popcnt"] = _iunary(8, False, int.bit_count)
    out["i16x8.q15mulr_sat_s"] = q15mulr_sat_s
    out["i32x4.dot_i16x8_s"] = dot_i16x8_s
    return out


def _float_ops() -> dict:
    out: dict = {}
    for shape, binary, unary in (("f32x4", _F32_BINARY, _F32_UNARY),
                                 ("f64x2", _F64_BINARY, _F64_UNARY)):
        for n, fn in binary.items():
            out[f"{shape}.{n}"] = _fbinary(shape, fn)
        for n, fn in unary.items():
            out[f"{shape}.{n}"] = _funary(shape, fn)
        for n, fn in _COMPARE.items():
            out[f"{shape}.{n}"] = _fcompare(shape, fn)
    out.update({
        "f32x4.demote_f64x2_zero": demote_f64x2_zero,
        "f64x2.promote_low_f32x4": promote_low_f32x4,
        "i32x4.trunc_sat_f32x4_s": trunc_sat_f32x4_s,
        "i32x4.trunc_sat_f32x4_u": trunc_sat_f32x4_u,
        "i32x4.trunc_sat_f64x2_s_zero": trunc_sat_f64x2_s_zero,
        "i32x4.trunc_sat_f64x2_u_zero": trunc_sat_f64x2_u_zero,
        "f32x4.convert_i32x4_s": convert_i32x4_s, "f32x4.convert_i32x4_u": convert_i32x4_u,
        "f64x2.convert_low_i32x4_s": convert_low_i32x4_s,
        "f64x2.convert_low_i32x4_u": convert_low_i32x4_u,
    })
    return out


#: lane-wise mnemonic -> function of its operands (v128 ints; shift counts as i32)
OPERATIONS: dict[str, Callable] = {**_integer_ops(), **_float_ops()}
