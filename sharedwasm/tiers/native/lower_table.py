"""Lowerings of the table instructions (keyed by mnemonic) but ``call_indirect``:
``table.get``, ``table.set``, ``table.grow``, ``table.fill``, ``table.size``,
``table.copy``, ``table.init`` and ``elem.drop``.

Tables hold Python objects (references cross as handles), so these go through the runtime
callback (``runtime_ops``), which applies the portable tier's own table operations to the
instance's tables, so bounds traps ("out of bounds table access") and the segment state
are exactly those of the portable tier, and writes to a funcref table reach its native
mirror (``NativeElements``). Two indices share one i64 argument (high word first) since
the callback takes four.
"""
from __future__ import annotations

from typing import Callable

from llvmlite import ir

from .codegen import FunctionLowerer
from .irtypes import I32, I64
from .runtime_ops import (ELEM_DROP, TABLE_COPY, TABLE_FILL, TABLE_GET, TABLE_GROW,
                          TABLE_INIT, TABLE_SET, TABLE_SIZE)

__all__ = ["TABLE"]

L = FunctionLowerer


def _u64(fc: L, v: ir.Value) -> ir.Value:
    return fc.b.zext(v, I64) if v.type == I32 else v


def _pair(hi: int, lo: int) -> ir.Constant:
    return I64((hi << 32) | lo)


def _table_size(fc: L, args: tuple) -> None:
    r = fc.runtime_call(TABLE_SIZE, I64(args[0]))
    fc.push(fc.b.trunc(r, I32))


def _table_get(fc: L, args: tuple) -> None:
    fc.push(fc.runtime_call(TABLE_GET, I64(args[0]), _u64(fc, fc.pop())))


def _table_set(fc: L, args: tuple) -> None:
    ref, i = fc.pop(), fc.pop()
    fc.runtime_call(TABLE_SET, I64(args[0]), _u64(fc, i), ref)


def _table_grow(fc: L, args: tuple) -> None:
    n, ref = fc.pop(), fc.pop()
    fc.push(fc.b.trunc(fc.runtime_call(TABLE_GROW, I64(args[0]), _u64(fc, n), ref), I32))


def _table_fill(fc: L, args: tuple) -> None:
    n, ref, i = fc.pop(), fc.pop(), fc.pop()
    fc.runtime_call(TABLE_FILL, I64(args[0]), _u64(fc, i), ref, _u64(fc, n))


def _table_copy(fc: L, args: tuple) -> None:
    n, s, d = fc.pop(), fc.pop(), fc.pop()
    fc.runtime_call(TABLE_COPY, _pair(args[0], args[1]), _u64(fc, d), _u64(fc, s),
                    _u64(fc, n))


def _table_init(fc: L, args: tuple) -> None:
    n, s, d = fc.pop(), fc.pop(), fc.pop()
    fc.runtime_call(TABLE_INIT, _pair(args[0], args[1]), _u64(fc, d), _u64(fc, s),
                    _u64(fc, n))


def _elem_drop(fc: L, args: tuple) -> None:
    fc.runtime_call(ELEM_DROP, I64(args[0]))


TABLE: dict[str, Callable] = {
    "table.get": _table_get, "table.set": _table_set, "table.grow": _table_grow,
    "table.fill": _table_fill, "table.size": _table_size, "table.copy": _table_copy,
    "table.init": _table_init, "elem.drop": _elem_drop,
}
