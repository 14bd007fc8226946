"""Table instances (spec 4.2.7): a Python list of references grown in place.

Elements are internal reference values: a function object (compiled or host) or ``None``
for ``funcref`` tables, any Python object or ``None`` for ``externref``. Generated code may
keep a reference to ``elements``; it is never replaced.
"""
from __future__ import annotations

from ..spec.types import MAX_TABLE, Limits, TableType
from .traps import OOB_TABLE, Trap

#: growing beyond this many elements fails (the spec lets growth fail; a list of 2^32
#: references would not fit in memory anyway)
GROW_LIMIT = 10_000_000

__all__ = ["TableInst", "table_get", "table_set", "table_fill", "table_copy", "table_init"]


class TableInst:
    __slots__ = ("elements", "type", "__weakref__")

    def __init__(self, type_: TableType, init: object = None):
        self.type = type_
        self.elements: list = [init] * type_.limits.min

    @property
    def size(self) -> int:
        return len(self.elements)

    def grow(self, delta: int, init: object = None) -> int:
        """The spec's growtable: old size, or -1 beyond the maximum (or 2^32-1)."""
        old = len(self.elements)
        new = old + delta
        lim = self.type.limits
        ceiling = MAX_TABLE if lim.max is None else lim.max
        if delta < 0 or new > ceiling or new > GROW_LIMIT:
            return -1
        if delta:
            try:
                self.elements.extend([init] * delta)
            except MemoryError:
                return -1
            self.type = TableType(self.type.elem, Limits(new, lim.max, lim.shared))
        return old

    def __repr__(self) -> str:
        return f"<TableInst {self.type.elem} size={len(self.elements)} max={self.type.limits.max}>"


def table_get(elements: list, i: int) -> object:
    if i >= len(elements):
        raise Trap(OOB_TABLE)
    return elements[i]


def table_set(elements: list, i: int, value: object) -> None:
    if i >= len(elements):
        raise Trap(OOB_TABLE)
    elements[i] = value


def table_fill(elements: list, i: int, value: object, n: int) -> None:
    if i + n > len(elements):
        raise Trap(OOB_TABLE)
    elements[i:i + n] = [value] * n


def table_copy(dst: list, src: list, d: int, s: int, n: int) -> None:
    if s + n > len(src) or d + n > len(dst):
        raise Trap(OOB_TABLE)
    if n:
        dst[d:d + n] = src[s:s + n]


def table_init(elements: list, elems: list, idx: int, d: int, s: int, n: int) -> None:
    seg = elems[idx]
    if s + n > len(seg) or d + n > len(elements):
        raise Trap(OOB_TABLE)
    if n:
        elements[d:d + n] = seg[s:s + n]
