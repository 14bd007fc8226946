"""Global instances (spec 4.2.9): a typed cell holding one internal value."""
from __future__ import annotations

from ..spec.types import GlobalType

__all__ = ["GlobalInst", "default_value"]

#: the default (zero) value of each value type in the internal representation
_UNSET = object()
_DEFAULTS = {"i32": 0, "i64": 0, "f32": 0.0, "f64": 0.0, "funcref": None, "externref": None,
             "exnref": None, "v128": 0}


def default_value(t: str) -> object:
    """The spec's default value of a value type (v128: the int 0)."""
    return _DEFAULTS[t]


class GlobalInst:
    """``value`` is the internal value (unsigned ints, floats, references)."""

    __slots__ = ("type", "value", "__weakref__")

    def __init__(self, type_: GlobalType, value: object = _UNSET):
        self.type = type_
        self.value = default_value(type_.type) if value is _UNSET else value

    def __repr__(self) -> str:
        mut = "mut " if self.type.mutable else ""
        return f"<GlobalInst {mut}{self.type.type} {self.value!r}>"
