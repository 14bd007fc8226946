"""Numeric literals of the text format (spec 6.3.2): integers and floats to binary values.

Integers come back as the signed value the binary format stores; floats as the raw IEEE bit
pattern (an unsigned int), rounded to nearest-even from the exact value of the literal, so
NaN payloads, subnormals and long hexadecimal mantissas are all exact. Every function raises
``ValueError`` with the spec's message ("constant out of range", "unknown operator"); the
parser turns it into a located ``ParseError``.
"""
from __future__ import annotations

import re

__all__ = ["parse_nat", "parse_int", "parse_uint", "parse_f32", "parse_f64", "parse_float",
           "FloatFormat", "F32", "F64"]

_DEC_INT = re.compile(r"[+-]?[0-9](?:_?[0-9])*")
_HEX_INT = re.compile(r"[+-]?0x[0-9a-fA-F](?:_?[0-9a-fA-F])*")
_DEC_FLOAT = re.compile(
    r"(?P<sign>[+-]?)(?P<int>[0-9](?:_?[0-9])*)(?:\.(?P<frac>[0-9](?:_?[0-9])*)?)?"
    r"(?:[eE](?P<exp>[+-]?[0-9](?:_?[0-9])*))?")
_HEX_FLOAT = re.compile(
    r"(?P<sign>[+-]?)0x(?P<int>[0-9a-fA-F](?:_?[0-9a-fA-F])*)"
    r"(?:\.(?P<frac>[0-9a-fA-F](?:_?[0-9a-fA-F])*)?)?"
    r"(?:[pP](?P<exp>[+-]?[0-9](?:_?[0-9])*))?")
_NAN = re.compile(r"(?P<sign>[+-]?)nan(?::0x(?P<payload>[0-9a-fA-F](?:_?[0-9a-fA-F])*))?")
_INF = re.compile(r"(?P<sign>[+-]?)inf")

OUT_OF_RANGE = "constant out of range"
UNKNOWN = "unknown operator"


def _digits(text: str, base: int) -> int:
    return int(text.replace("_", ""), base)


def _magnitude(text: str) -> int:
    """The digits of a decimal or hexadecimal integer literal, its sign left aside."""
    if _HEX_INT.fullmatch(text):
        return _digits(text.lstrip("+-")[2:], 16)
    if _DEC_INT.fullmatch(text):
        return _digits(text.lstrip("+-"), 10)
    raise ValueError(UNKNOWN)


def parse_nat(text: str, bits: int = 32) -> int:
    """An unsigned literal without sign (indices, offsets, lane indices, limits)."""
    if not text or text[0] in "+-":
        raise ValueError(UNKNOWN)
    return parse_uint(text, bits)


def parse_uint(text: str, bits: int) -> int:
    """``uN``: an unsigned literal, with optional ``+`` sign tolerated as in the spec's ``iN``."""
    value = _magnitude(text)
    if text[0] == "-":
        raise ValueError(OUT_OF_RANGE)
    if value >= 1 << bits:
        raise ValueError(OUT_OF_RANGE)
    return value


def parse_int(text: str, bits: int) -> int:
    """``iN``: an unsigned or signed literal, returned as a signed N-bit value."""
    value = _magnitude(text)
    sign = text[0]
    if sign == "-":
        if value > 1 << (bits - 1):
            raise ValueError(OUT_OF_RANGE)
        value = -value
    elif sign == "+":
        if value >= 1 << (bits - 1):
            raise ValueError(OUT_OF_RANGE)
    elif value >= 1 << bits:
        raise ValueError(OUT_OF_RANGE)
    if value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


class FloatFormat:
    """An IEEE binary interchange format: mantissa (fraction) bits and exponent bits."""

    def __init__(self, mant: int, exp: int):
        self.mant = mant
        self.exp = exp
        self.bias = (1 << (exp - 1)) - 1
        self.emin = 1 - self.bias
        self.sign_bit = 1 << (mant + exp)
        self.inf = ((1 << exp) - 1) << mant
        self.quiet = 1 << (mant - 1)

    def encode(self, negative: bool, num: int, den: int, exp2: int) -> int:
        """Bits of the nearest value to ``num / den * 2**exp2`` (ties to even)."""
        sign = self.sign_bit if negative else 0
        if num == 0:
            return sign
        mant = self.mant
        # e: the binary exponent with 2**e <= value < 2**(e+1)
        e = num.bit_length() - den.bit_length() + exp2
        if not _ge_pow2(num, den, e - exp2):
            e -= 1
        if e < self.emin:
            e = self.emin
        shift = e - mant - exp2     # significand = num/den / 2**shift
        if shift >= 0:
            q, r = divmod(num, den << shift)
            half = den << shift
        else:
            q, r = divmod(num << -shift, den)
            half = den
        twice = r * 2
        if twice > half or (twice == half and q & 1):
            q += 1
        if q >> (mant + 1):
            q >>= 1
            e += 1
        if e > self.bias:
            raise ValueError(OUT_OF_RANGE)
        if q >> mant == 0:
            return sign | q                       # subnormal (or zero after rounding)
        return sign | ((e + self.bias) << mant) | (q - (1 << mant))

    def parse(self, text: str) -> int:
        """The bit pattern of a float literal."""
        m = _HEX_FLOAT.fullmatch(text)
        if m:
            frac = (m["frac"] or "").replace("_", "")
            num = int(m["int"].replace("_", "") + frac, 16)
            exp = _exponent(m["exp"]) - 4 * len(frac)
            return self._scaled(m["sign"] == "-", num, 1, exp)
        m = _DEC_FLOAT.fullmatch(text)
        if m:
            frac = (m["frac"] or "").replace("_", "")
            num = int(m["int"].replace("_", "") + frac)
            exp10 = _exponent(m["exp"]) - len(frac)
            return self._decimal(m["sign"] == "-", num, exp10)
        m = _INF.fullmatch(text)
        if m:
            return (self.sign_bit if m["sign"] == "-" else 0) | self.inf
        m = _NAN.fullmatch(text)
        if m:
            payload = self.quiet if m["payload"] is None else _digits(m["payload"], 16)
            if payload == 0 or payload >> self.mant:
                raise ValueError(OUT_OF_RANGE)
            return (self.sign_bit if m["sign"] == "-" else 0) | self.inf | payload
        raise ValueError(UNKNOWN)

    def _scaled(self, negative: bool, num: int, den: int, exp2: int) -> int:
        if num == 0:
            return self.sign_bit if negative else 0
        # Clamp absurd exponents: beyond these bounds the result is already decided.
        limit = self.bias + self.mant + 4
        top = num.bit_length() + exp2
        if top > limit + 2:
            raise ValueError(OUT_OF_RANGE)
        if top < self.emin - self.mant - 4:
            return self.sign_bit if negative else 0
        return self.encode(negative, num, den, exp2)

    def _decimal(self, negative: bool, num: int, exp10: int) -> int:
        if num == 0:
            return self.sign_bit if negative else 0
        # log2(num * 10**exp10) is about bits(num) + 3.32 * exp10
        approx = num.bit_length() + exp10 * 3.3219280948873623
        if approx > self.bias + 8:
            raise ValueError(OUT_OF_RANGE)
        if approx < self.emin - self.mant - 8:
            return self.sign_bit if negative else 0
        if exp10 >= 0:
            return self.encode(negative, num * 10 ** exp10, 1, 0)
        return self.encode(negative, num, 10 ** -exp10, 0)


def _ge_pow2(num: int, den: int, k: int) -> bool:
    """num/den >= 2**k."""
    return num >= den << k if k >= 0 else num << -k >= den


def _exponent(text: str | None) -> int:
    return 0 if text is None else int(text.replace("_", ""))


F32 = FloatFormat(23, 8)
F64 = FloatFormat(52, 11)


def parse_f32(text: str) -> int:
    return F32.parse(text)


def parse_f64(text: str) -> int:
    return F64.parse(text)


def parse_float(text: str, bits: int) -> int:
    return (F32 if bits == 32 else F64).parse(text)
