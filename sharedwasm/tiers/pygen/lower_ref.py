"""Lowerings of reference and table instructions (keyed by mnemonic)."""
from __future__ import annotations

from .codegen import FunctionCompiler

__all__ = ["REFERENCE"]


def _ref_null(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.push_const("None")


def _ref_is_null(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.push_op("({0} is None)", [fc.pop()], boolean=True)


def _ref_func(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.push_const(f"F{ins[1][0]}")


def _statement(fc: FunctionCompiler, n: int, template: str) -> None:
    """A side-effecting helper call consuming ``n`` operands."""
    args = fc.pop_n(n)
    fc.flush_impure()
    fc.emit(template.format(*[a.val for a in args]))


def _table_get(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.push_op(f"table_get(E{ins[1][0]}, {{0}})", [fc.pop()], impure=True)


def _table_set(fc: FunctionCompiler, ins, pos: int) -> None:
    _statement(fc, 2, f"table_set(E{ins[1][0]}, {{0}}, {{1}})")


def _table_size(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.push(f"len(E{ins[1][0]})", impure=True)


def _table_grow(fc: FunctionCompiler, ins, pos: int) -> None:
    init, n = fc.pop_n(2)
    fc.flush_impure()
    fc.assign_result(f"T{ins[1][0]}.grow({n.val}, {init.expr}) & 4294967295")


def _table_fill(fc: FunctionCompiler, ins, pos: int) -> None:
    _statement(fc, 3, f"table_fill(E{ins[1][0]}, {{0}}, {{1}}, {{2}})")


def _table_copy(fc: FunctionCompiler, ins, pos: int) -> None:
    dst, src = ins[1]
    _statement(fc, 3, f"table_copy(E{dst}, E{src}, {{0}}, {{1}}, {{2}})")


def _table_init(fc: FunctionCompiler, ins, pos: int) -> None:
    elem, table = ins[1]
    _statement(fc, 3, f"table_init(E{table}, ELEMS, {elem}, {{0}}, {{1}}, {{2}})")


def _elem_drop(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.emit(f"ELEMS[{ins[1][0]}] = ()")


REFERENCE = {
    "ref.null": _ref_null, "ref.is_null": _ref_is_null, "ref.func": _ref_func,
    "table.get": _table_get, "table.set": _table_set, "table.size": _table_size,
    "table.grow": _table_grow, "table.fill": _table_fill, "table.copy": _table_copy,
    "table.init": _table_init, "elem.drop": _elem_drop,
}
