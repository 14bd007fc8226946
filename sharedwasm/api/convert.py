"""Python values <-> the engine's internal values, per value type (the JS API's ToWebAssemblyValue
and ToJSValue, in Python).

At the API: i32/i64 take any Python int (wrapped modulo 2^N) and come back signed; f32/f64
are floats (an f32 argument is rounded to the nearest f32; NaN payloads keep their bits:
an f32 NaN's payload sits in the top 23 bits of the float's mantissa, as a float-to-double
widening puts it, but never quieted); ``externref`` is any Python object with ``None`` for
null; ``funcref`` is a wasm function (``Function``) or ``None``; ``exnref`` is a
``wasm.Exception`` or ``None``; ``v128`` is an unsigned 128-bit int (any int argument is
wrapped modulo 2^128; lane ``i`` of an ``iNxM`` shape is bits ``[i*N, (i+1)*N)``).

Internally i32/i64 are unsigned ints (an i32 may be a ``bool``) and f32 an f32-valued float
with the same NaN layout, so the conversions are cheap; exported-function wrappers are
generated from the snippets in ``ARG_CODE``/``RESULT_CODE`` so a call does no per-argument
dispatch.
"""
from __future__ import annotations

import operator
import struct
from typing import Any, Callable

from ..runtime.numerics import fround
# the bit patterns of API floats: the engine's mapping (an f32 NaN's payload as described above)
from ..runtime.numerics import f32_from_bits as f32_from_bits, f32_to_bits as f32_to_bits
from ..runtime.numerics import f64_from_bits as f64_from_bits, f64_to_bits as f64_to_bits

_pack_d = struct.Struct("<d").pack
_unpack_d = struct.Struct("<d").unpack
_pack_q = struct.Struct("<Q").pack
_unpack_q = struct.Struct("<Q").unpack

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF


def to_f32(value: Any) -> float:
    """The nearest f32 value as a float; overflow gives infinity, NaN bits are kept by hand."""
    x = float(value)
    if x != x:
        bits = _unpack_q(_pack_d(x))[0]
        mantissa = bits & (0x7FFFFF << 29)        # the top 23 bits of the f64 mantissa
        if not mantissa:
            mantissa = 0x8000000000000            # a payload only in dropped bits: quiet NaN
        return _unpack_d(_pack_q((bits & 0xFFF0000000000000) | mantissa))[0]
    return fround(x)


def to_f64(value: Any) -> float:
    return value if type(value) is float else float(value)


def to_i32(value: Any) -> int:
    return _index(value) & MASK32


def to_i64(value: Any) -> int:
    return _index(value) & MASK64


def _index(value: Any) -> int:
    if type(value) is int:
        return value
    try:
        return value.__index__()
    except AttributeError:
        raise TypeError(f"an integer is required, not {type(value).__name__!r}") from None


def from_i32(value: int) -> int:
    """Signed; an engine i32 may be a ``bool`` (comparisons), which becomes an int."""
    return value - 0x100000000 if value & 0x80000000 else value | 0


def from_i64(value: int) -> int:
    return value - 0x10000000000000000 if value & 0x8000000000000000 else value


MASK128 = (1 << 128) - 1


def to_v128(value: Any) -> int:
    return _index(value) & MASK128


def _identity(value: Any) -> Any:
    return value


class RefCodec:
    """Reference conversions that need the object layer (bound by ``objects`` at import)."""

    funcref_in: Callable[[Any], Any] = _identity
    funcref_out: Callable[[Any], Any] = _identity
    exnref_in: Callable[[Any], Any] = _identity
    exnref_out: Callable[[Any], Any] = _identity


def to_wasm(value_type: str, value: Any) -> Any:
    """One Python value as the engine's value of ``value_type`` (TypeError when it cannot be)."""
    return _TO_WASM[value_type](value)


def to_python(value_type: str, value: Any) -> Any:
    """One engine value of ``value_type`` as the API's Python value."""
    return _TO_PYTHON[value_type](value)


_TO_WASM: dict[str, Callable[[Any], Any]] = {
    "i32": to_i32, "i64": to_i64, "f32": to_f32, "f64": to_f64, "v128": to_v128,
    "externref": _identity,
    "funcref": lambda v: RefCodec.funcref_in(v),
    "exnref": lambda v: RefCodec.exnref_in(v),
}
_TO_PYTHON: dict[str, Callable[[Any], Any]] = {
    "i32": from_i32, "i64": from_i64, "f32": _identity, "f64": _identity, "v128": _identity,
    "externref": _identity,
    "funcref": lambda v: RefCodec.funcref_out(v),
    "exnref": lambda v: RefCodec.exnref_out(v),
}

#: value type -> Python expression converting the API value named ``{v}`` to the engine's
#: (in generated call wrappers; the names used are those of ``WRAPPER_NAMESPACE``)
ARG_CODE = {
    "i32": "_index({v}) & 0xFFFFFFFF",
    "i64": "_index({v}) & 0xFFFFFFFFFFFFFFFF",
    "f32": "_f32({v})",
    "f64": "({v} if {v}.__class__ is float else _f64({v}))",
    "externref": "{v}",
    "funcref": "_funcref_in({v})",
    "exnref": "_exnref_in({v})",
    "v128": "_index({v}) & 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
}
#: value type -> expression converting the engine's value named ``{v}`` to the API's
RESULT_CODE = {
    "i32": "({v} - 0x100000000 if {v} & 0x80000000 else {v} | 0)",
    "i64": "({v} - 0x10000000000000000 if {v} & 0x8000000000000000 else {v})",
    "f32": "{v}",
    "f64": "{v}",
    "externref": "{v}",
    "funcref": "_funcref_out({v})",
    "exnref": "_exnref_out({v})",
    "v128": "{v}",
}
def wrapper_namespace() -> dict[str, Any]:
    """The globals that generated wrappers' snippets refer to."""
    return {"_index": operator.index, "_f32": to_f32, "_f64": float,
            "_funcref_in": lambda v: RefCodec.funcref_in(v),
            "_funcref_out": lambda v: RefCodec.funcref_out(v),
            "_exnref_in": lambda v: RefCodec.exnref_in(v),
            "_exnref_out": lambda v: RefCodec.exnref_out(v)}
