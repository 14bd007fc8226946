"""Lowerings of variable and parametric instructions (locals, globals, drop, select)."""
from __future__ import annotations

from .codegen import FunctionCompiler

__all__ = ["VARIABLE"]


def _local_get(fc: FunctionCompiler, ins, pos: int) -> None:
    name = f"l{ins[1][0]}"
    fc.push(name, frozenset((name,)))


def _store_local(fc: FunctionCompiler, idx: int) -> str:
    v = fc.pop()
    name = f"l{idx}"
    if v.expr != name:
        if v.impure:
            fc.flush_impure()
        fc.write_var(name)
        fc.emit_assign(name, v)
    return name


def _local_set(fc: FunctionCompiler, ins, pos: int) -> None:
    _store_local(fc, ins[1][0])


def _local_tee(fc: FunctionCompiler, ins, pos: int) -> None:
    name = _store_local(fc, ins[1][0])
    fc.push(name, frozenset((name,)))


def _global_get(fc: FunctionCompiler, ins, pos: int) -> None:
    idx = ins[1][0]
    fc.push(f"G{idx}.value", impure=fc.mc.global_types[idx].mutable)


def _global_set(fc: FunctionCompiler, ins, pos: int) -> None:
    v = fc.pop()
    fc.flush_impure()
    fc.emit(f"G{ins[1][0]}.value = {v.val}")


def _drop(fc: FunctionCompiler, ins, pos: int) -> None:
    v = fc.pop()
    if v.impure:
        fc.flush_impure()
        fc.emit(v.expr)


def _select(fc: FunctionCompiler, ins, pos: int) -> None:
    if any(e.impure for e in fc.stack[-3:]):
        fc.flush_impure()
    c = fc.pop()
    b = fc.pop()
    a = fc.pop()
    fc.push_op("({0} if {2} else {1})", [a, b, c], boolean=a.boolean and b.boolean)


VARIABLE = {
    "local.get": _local_get, "local.set": _local_set, "local.tee": _local_tee,
    "global.get": _global_get, "global.set": _global_set, "drop": _drop,
    "select": _select, "select_t": _select,
}
