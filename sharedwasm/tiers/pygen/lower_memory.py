"""Lowerings of memory instructions: loads, stores, bulk memory and atomics.

The function keeps the memory's bytes in the local ``mem`` (reloaded after calls and
``memory.grow``). Plain loads and stores use ``struct`` methods bound in the namespace and
let ``struct.error``/``IndexError`` signal an access past the end; the function's handler
turns those into the "out of bounds memory access" trap. Effective addresses are computed
without wrapping (``addr + offset`` may exceed 2^32 and then is out of bounds).
"""
from __future__ import annotations

from ...spec.opcodes import OPS
from .codegen import FunctionCompiler

__all__ = ["MEMORY"]

_M32 = "4294967295"
_M64 = "18446744073709551615"

#: load mnemonic -> template of the loaded value ({m}: bytes, {a}: effective address)
LOADS = {
    "i32.load": "ld_I(mem, {a})[0]", "i64.load": "ld_Q(mem, {a})[0]",
    "f32.load": "f32_load(mem, {a})", "f64.load": "ld_d(mem, {a})[0]",
    "i32.load8_s": f"(ld_b(mem, {{a}})[0] & {_M32})", "i32.load8_u": "mem[{a}]",
    "i32.load16_s": f"(ld_h(mem, {{a}})[0] & {_M32})", "i32.load16_u": "ld_H(mem, {a})[0]",
    "i64.load8_s": f"(ld_b(mem, {{a}})[0] & {_M64})", "i64.load8_u": "mem[{a}]",
    "i64.load16_s": f"(ld_h(mem, {{a}})[0] & {_M64})", "i64.load16_u": "ld_H(mem, {a})[0]",
    "i64.load32_s": f"(ld_i(mem, {{a}})[0] & {_M64})", "i64.load32_u": "ld_I(mem, {a})[0]",
}

#: store mnemonic -> statement template ({a}: effective address, {v}: value)
STORES = {
    "i32.store": "st_I(mem, {a}, {v})", "i64.store": "st_Q(mem, {a}, {v})",
    "f32.store": "f32_store(mem, {a}, {v})", "f64.store": "st_d(mem, {a}, {v})",
    "i32.store8": "mem[{a}] = {v}", "i32.store16": "st_H(mem, {a}, {v})",
    "i64.store8": "mem[{a}] = {v}", "i64.store16": "st_H(mem, {a}, {v})",
    "i64.store32": "st_I(mem, {a}, {v})",
}
#: narrow store -> the mask of its stored bits (skipped when the value provably fits)
STORE_MASKS = {"i32.store8": 255, "i64.store8": 255, "i32.store16": 65535,
               "i64.store16": 65535, "i64.store32": 4294967295}
#: load -> the largest value it yields
LOAD_BOUNDS = {"i32.load8_u": 255, "i64.load8_u": 255, "i32.load16_u": 65535,
               "i64.load16_u": 65535, "i64.load32_u": 4294967295}


def _address(addr: str, offset: int) -> str:
    return f"{addr} + {offset}" if offset else addr


def _load(template: str, bound: int | None):
    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        a = fc.pop()
        fc.push_op(template.replace("{a}", _address("{0}", ins[1][0].offset)), [a], True,
                   bound=bound)
    return lower


def _stored(v, mask: int | None) -> str:
    """The source of a stored value, reduced to the stored bits when it may not fit."""
    if mask is None:
        return v.val
    if v.boolean or (v.bound is not None and v.bound <= mask):
        return v.val
    if not v.deps and not v.impure and v.expr.isdigit():
        return str(int(v.expr) & mask)
    return f"{v.raw if v.raw is not None else v.expr} & {mask}"


def _store(template: str, mask: int | None):
    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        if fc.stack[-1].impure and fc.stack[-2].impure:
            fc.materialize(len(fc.stack) - 2)
        a, v = fc.pop_n(2)
        fc.flush_impure()
        fc.emit(template.replace("{a}", _address(a.expr, ins[1][0].offset))
                .replace("{v}", _stored(v, mask)))
    return lower


def _memory_size(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.push("(len(mem) >> 16)", impure=True)


def _memory_grow(fc: FunctionCompiler, ins, pos: int) -> None:
    n = fc.pop()
    fc.flush_impure()
    fc.assign_result(f"M0.grow({n.val}) & {_M32}")
    fc.emit("mem = M0.data")


def _statement(fc: FunctionCompiler, n: int, template: str) -> None:
    args = fc.pop_n(n)
    fc.flush_impure()
    fc.emit(template.format(*[a.val for a in args]))


def _memory_fill(fc: FunctionCompiler, ins, pos: int) -> None:
    _statement(fc, 3, "memory_fill(mem, {0}, {1}, {2})")


def _memory_copy(fc: FunctionCompiler, ins, pos: int) -> None:
    _statement(fc, 3, "memory_copy(mem, mem, {0}, {1}, {2})")


def _memory_init(fc: FunctionCompiler, ins, pos: int) -> None:
    _statement(fc, 3, f"memory_init(mem, DATAS, {ins[1][0]}, {{0}}, {{1}}, {{2}})")


def _data_drop(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.emit(f"DATAS[{ins[1][0]}] = b''")


def _atomic_call(name: str) -> str:
    """The ``runtime.atomics`` helper call of an atomic mnemonic, as a template on ``{ea}``
    and ``{1}``, ``{2}`` (the operands after the address)."""
    width = 1 << OPS[name].align
    if name == "memory.atomic.notify":
        return "atomic_notify(mem, {ea}, {1})"
    if name.startswith("memory.atomic.wait"):
        return f"atomic_wait(mem, {{ea}}, {width}, {{1}}, {{2}})"
    if ".atomic.load" in name:
        return f"atomic_load(mem, {{ea}}, {width})"
    if ".atomic.store" in name:
        return f"atomic_store(mem, {{ea}}, {width}, {{1}})"
    op = name.rsplit(".", 1)[1].removesuffix("_u")
    if op == "cmpxchg":
        return f"atomic_cmpxchg(mem, {{ea}}, {width}, {{1}}, {{2}})"
    return f"atomic_rmw(mem, {{ea}}, {width}, {op!r}, {{1}})"


def _atomic(name: str):
    info = OPS[name]
    template = _atomic_call(name)
    n, nres = len(info.params), len(info.results)

    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        args = fc.pop_n(n)
        fc.flush_impure()
        fields = {"ea": _address(args[0].expr, ins[1][0].offset)}
        call = template.format(None, *[a.val for a in args[1:]], **fields)
        if nres and ".atomic.load" in name:
            fc.push(call, impure=True)
        else:
            fc.assign_result(call, nres)
    return lower


def _fence(fc: FunctionCompiler, ins, pos: int) -> None:
    pass


MEMORY = {name: _load(t, LOAD_BOUNDS.get(name)) for name, t in LOADS.items()}
MEMORY.update({name: _store(t, STORE_MASKS.get(name)) for name, t in STORES.items()})
MEMORY.update({
    "memory.size": _memory_size, "memory.grow": _memory_grow, "memory.fill": _memory_fill,
    "memory.copy": _memory_copy, "memory.init": _memory_init, "data.drop": _data_drop,
    "atomic.fence": _fence,
})
for _name, _info in OPS.items():
    if _info.prefix == 0xFE and _info.align is not None:
        MEMORY[_name] = _atomic(_name)
