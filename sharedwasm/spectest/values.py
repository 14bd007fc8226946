"""Script values <-> the public API's Python values, and the matching of expected results.

The script gives numbers as exact bit patterns; the public API speaks Python values: ints
for i32/i64 (results signed), floats for f32/f64, ``None`` for null references, any object
for ``externref``. Floats carry exact bits both ways: an f64 is the float with those bits,
an f32 is the float of the same value, with a NaN's payload widened into the top of the
f64 mantissa (sign kept, no quieting), so ``f32_bits(f32_value(b)) == b`` for every ``b``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..api.convert import f32_from_bits as f32_value, f32_to_bits as f32_bits
from ..api.convert import f64_from_bits as f64_value, f64_to_bits as f64_bits
from ..text import script

F32_CANONICAL = 0x7FC00000
F64_CANONICAL = 0x7FF8000000000000


class Unsupported(Exception):
    """A script value the public API has no Python value for."""


@dataclass(frozen=True, slots=True)
class HostRef:
    """The script's ``ref.extern N``: an opaque host object, equal when ``N`` is."""

    index: int

    def __repr__(self) -> str:
        return f"(ref.extern {self.index})"


# -- arguments -------------------------------------------------------------------------------

def _arg_const(c: script.Const) -> Any:
    if c.type == "f32":
        return f32_value(c.value)      # type: ignore[arg-type]
    if c.type == "f64":
        return f64_value(c.value)      # type: ignore[arg-type]
    if c.type == "v128":
        return int.from_bytes(c.value, "little")    # type: ignore[arg-type]
    return c.value                     # i32/i64: the API wraps any int


def argument(value: script.Value) -> Any:
    """The Python value the public API takes for a script argument."""
    if isinstance(value, script.Const):
        return _arg_const(value)
    if isinstance(value, script.RefNull):
        return None
    if isinstance(value, script.RefExtern):
        return HostRef(value.index)    # type: ignore[arg-type]
    raise Unsupported(f"argument {value!r} cannot be passed")


# -- results ---------------------------------------------------------------------------------

def _nan_matches(bits: int, width: int, kind: str) -> bool:
    if width == 32:
        magnitude, canonical = bits & 0x7FFFFFFF, F32_CANONICAL
    else:
        magnitude, canonical = bits & 0x7FFFFFFFFFFFFFFF, F64_CANONICAL
    if kind == "canonical":
        return magnitude == canonical
    return magnitude & canonical == canonical        # arithmetic: the quiet bit is set


def _float_bits(t: str, value: Any) -> int | None:
    if not isinstance(value, float):
        return None
    return f32_bits(value) if t == "f32" else f64_bits(value)


def matches(expected: script.Result, actual: Any) -> bool:
    """Whether one API result value is what the script expects (floats compared by bits)."""
    if isinstance(expected, script.Const):
        t = expected.type
        if t in ("i32", "i64"):
            mask = 0xFFFFFFFF if t == "i32" else 0xFFFFFFFFFFFFFFFF
            return isinstance(actual, int) and not isinstance(actual, bool) \
                and actual & mask == expected.value
        if t == "v128":
            return isinstance(actual, int) and not isinstance(actual, bool) \
                and actual == int.from_bytes(expected.value, "little")   # type: ignore[arg-type]
        return _float_bits(t, actual) == expected.value
    if isinstance(expected, script.NanPattern):
        bits = _float_bits(expected.type, actual)
        return bits is not None and _nan_matches(bits, 32 if expected.type == "f32" else 64,
                                                 expected.kind)
    if isinstance(expected, script.RefNull):
        return actual is None
    if isinstance(expected, script.RefExtern):
        if expected.index is None:
            return actual is not None
        return isinstance(actual, HostRef) and actual.index == expected.index
    if isinstance(expected, script.RefFunc):
        return actual is not None and callable(actual)
    if isinstance(expected, script.RefExn):
        return actual is not None
    if isinstance(expected, script.Either):
        return any(matches(alt, actual) for alt in expected.values)
    if isinstance(expected, script.V128Pattern):
        return _v128_matches(expected, actual)
    return False


def _v128_matches(expected: script.V128Pattern, actual: Any) -> bool:
    """Lane by lane: raw lane bits must be equal, NaN-pattern lanes must match the pattern."""
    if not isinstance(actual, int) or isinstance(actual, bool):
        return False
    width = 128 // len(expected.lanes)
    mask = (1 << width) - 1
    for i, lane in enumerate(expected.lanes):
        bits = (actual >> (i * width)) & mask
        if isinstance(lane, script.NanPattern):
            if not _nan_matches(bits, width, lane.kind):
                return False
        elif bits != lane:
            return False
    return True


def as_results(value: Any, count: int) -> tuple:
    """An API call's return value as a tuple of ``count`` results (None for no results)."""
    if count == 0:
        return () if value is None else (value,)
    if count == 1:
        return (value,)
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


# -- printing --------------------------------------------------------------------------------

def show_expected(expected: script.Result) -> str:
    """A script-like spelling of an expected result, for failure reports."""
    if isinstance(expected, script.Const):
        if expected.type in ("f32", "f64"):
            width = 8 if expected.type == "f32" else 16
            value = (f32_value if expected.type == "f32" else f64_value)(expected.value)
            return f"({expected.type}.const {_float_text(value)} 0x{expected.value:0{width}x})"
        if isinstance(expected.value, bytes):
            return f"(v128.const 0x{int.from_bytes(expected.value, 'little'):032x})"
        return f"({expected.type}.const {expected.value})"
    if isinstance(expected, script.NanPattern):
        return f"({expected.type}.const nan:{expected.kind})"
    if isinstance(expected, script.RefNull):
        return f"(ref.null {expected.heaptype or ''})".replace(" )", ")")
    if isinstance(expected, script.RefExtern):
        return "(ref.extern)" if expected.index is None else f"(ref.extern {expected.index})"
    if isinstance(expected, script.RefFunc):
        return "(ref.func)"
    if isinstance(expected, script.Either):
        return "(either " + " ".join(show_expected(v) for v in expected.values) + ")"
    return repr(expected)


def show_actual(value: Any, hint: script.Result | None = None) -> str:
    """An API result, with the bits of floats in the type the script expected."""
    if isinstance(value, float):
        t = getattr(hint, "type", "f64")
        if t == "f32":
            return f"(f32.const {_float_text(value)} 0x{f32_bits(value):08x})"
        return f"(f64.const {_float_text(value)} 0x{f64_bits(value):016x})"
    if isinstance(value, int) and getattr(hint, "type", None) == "v128" \
            or isinstance(hint, script.V128Pattern):
        return f"(v128.const 0x{value:032x})"
    if isinstance(value, bool) or not isinstance(value, int) or hint is None:
        return "null" if value is None else repr(value)
    t = getattr(hint, "type", "i64")
    mask = 0xFFFFFFFF if t == "i32" else 0xFFFFFFFFFFFFFFFF
    return f"({t}.const {value & mask})" if t in ("i32", "i64") else repr(value)


def _float_text(value: float) -> str:
    return "nan" if math.isnan(value) else repr(value)
