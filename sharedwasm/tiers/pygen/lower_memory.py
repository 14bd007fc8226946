"""Lowerings of memory instructions: loads, stores, bulk memory and atomics.

The function keeps the memory's bytes in the local ``mem`` (reloaded after calls and
``memory.grow``). Plain loads and stores use ``struct`` methods bound in the namespace and
let ``struct.error``/``IndexError`` signal an access past the end; the function's handler
turns those into the "out of bounds memory access" trap. Effective addresses are computed
without wrapping (``addr + offset`` may exceed 2^32 and then is out of bounds).

On a plain memory (``ModuleCompiler.mem_views``) the 16/32/64-bit integer and f64
accesses and the sign-extending loads index the memory's typed views (locals ``mu32``,
``ms8``, ... of ``VIEWED``; ``runtime.memory.VIEWS``) by ``ea >> k``, much cheaper than a
``struct`` call. The index needs no test when the address is known aligned (a constant, or
``x << s`` with ``s >= k``: then it is ``x`` shifted and masked, ``Entry.scaled``); else an
unaligned address takes the ``struct`` path. An index past the end raises ``IndexError``
(the same trap). The views are reloaded wherever ``mem`` is (``memory.grow`` releases
them). f32 keeps its helpers: a float32 view would quiet signalling NaNs. Shared memories
keep ``struct`` (their ``data`` is a view of the mapping sized to the current size).
"""
from __future__ import annotations

import re

from ...spec.opcodes import OPS
from .codegen import Entry, FunctionCompiler

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


#: access -> (local of the typed view, attribute of ``MemoryInst``, log2 of its width,
#: the loaded value as a template on the element ``{x}``)
VIEWED = {
    "i32.load": ("mu32", "u32", 2, "{x}"), "i64.load32_u": ("mu32", "u32", 2, "{x}"),
    "i64.load": ("mu64", "u64", 3, "{x}"), "f64.load": ("mf64", "f64", 3, "{x}"),
    "i32.load16_u": ("mu16", "u16", 1, "{x}"), "i64.load16_u": ("mu16", "u16", 1, "{x}"),
    "i32.load8_s": ("ms8", "s8", 0, f"({{x}} & {_M32})"),
    "i64.load8_s": ("ms8", "s8", 0, f"({{x}} & {_M64})"),
    "i32.load16_s": ("ms16", "s16", 1, f"({{x}} & {_M32})"),
    "i64.load16_s": ("ms16", "s16", 1, f"({{x}} & {_M64})"),
    "i64.load32_s": ("ms32", "s32", 2, f"({{x}} & {_M64})"),
    "i32.store": ("mu32", "u32", 2, ""), "i64.store32": ("mu32", "u32", 2, ""),
    "i64.store": ("mu64", "u64", 3, ""), "f64.store": ("mf64", "f64", 3, ""),
    "i32.store16": ("mu16", "u16", 1, ""), "i64.store16": ("mu16", "u16", 1, ""),
}
_SIMPLE = re.compile(r"[a-z_]+[0-9]*\Z")


def views_used(body: list) -> dict[str, str]:
    """The typed views (local -> attribute) the accesses of ``body`` index."""
    out = {}
    for ins in body:
        v = VIEWED.get(ins[0])
        if v is not None:
            out[v[0]] = v[1]
    return out


def _address(addr: str, offset: int) -> str:
    return f"{addr} + {offset}" if offset else addr


def _index(a: Entry, offset: int, k: int) -> str | None:
    """``ea >> k`` when the effective address is known to be a multiple of ``2**k``
    (a constant, or ``x << s`` with ``s >= k`` and an aligned offset), else None."""
    if not k:
        return _address(a.expr, offset)
    if offset & ((1 << k) - 1):
        return None
    if not a.deps and not a.impure and a.expr.isdigit():
        ea = int(a.expr) + offset
        return str(ea >> k) if ea & ((1 << k) - 1) == 0 else None
    if a.scaled is None or a.scaled[1] < k:
        return None
    x, s, bound = a.scaled
    mask = 0xFFFFFFFF >> k
    shifted = f"({x} << {s - k})" if s > k else x
    idx = shifted if bound << (s - k) <= mask else f"({shifted} & {mask})"
    return f"{idx} + {offset >> k}" if offset else idx


def _ea_name(fc: FunctionCompiler, ea: str) -> tuple[str, str]:
    """(expression evaluating ``ea`` first, name holding it after) for a two-way access."""
    if _SIMPLE.match(ea):
        return ea, ea
    t = fc.temp()
    return f"({t} := {ea})", t


def _load(name: str, template: str, bound: int | None):
    view = VIEWED.get(name)

    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        a = fc.pop()
        offset = ins[1][0].offset
        if view is None or view[0] not in fc.views:
            fc.push_op(template.replace("{a}", _address("{0}", offset)), [a], True,
                       bound=bound)
            return
        local, _, k, value = view
        idx = _index(a, offset, k)
        if idx is not None:
            expr = value.replace("{x}", f"{local}[{idx}]")
        else:
            first, t = _ea_name(fc, _address(a.expr, offset))
            slow = template.replace("{a}", t)
            fast = value.replace("{x}", f"{local}[{t} >> {k}]")
            expr = f"({fast} if not {first} & {(1 << k) - 1} else {slow})"
        fc.push_op(expr.replace("{", "{{").replace("}", "}}"), [a], True, bound=bound)
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


def _store(name: str, template: str, mask: int | None):
    view = VIEWED.get(name)

    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        if fc.stack[-1].impure and fc.stack[-2].impure:
            fc.materialize(len(fc.stack) - 2)
        a, v = fc.pop_n(2)
        fc.flush_impure()
        offset = ins[1][0].offset
        stored = _stored(v, mask)
        if view is None or view[0] not in fc.views:
            fc.emit(template.replace("{a}", _address(a.expr, offset)).replace("{v}", stored))
            return
        local, _, k, _ = view
        idx = _index(a, offset, k)
        if idx is not None:
            fc.emit(f"{local}[{idx}] = {stored}")
            return
        first, t = _ea_name(fc, _address(a.expr, offset))
        fc.emit(f"if {first} & {(1 << k) - 1}: "
                + template.replace("{a}", t).replace("{v}", stored))
        fc.emit(f"else: {local}[{t} >> {k}] = {stored}")
    return lower


def _memory_size(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.push("(len(mem) >> 16)", impure=True)


def _memory_grow(fc: FunctionCompiler, ins, pos: int) -> None:
    n = fc.pop()
    fc.flush_impure()
    fc.assign_result(f"M0.grow({n.val}) & {_M32}")
    fc.emit(fc.memory_reload())


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


MEMORY = {name: _load(name, t, LOAD_BOUNDS.get(name)) for name, t in LOADS.items()}
MEMORY.update({name: _store(name, t, STORE_MASKS.get(name)) for name, t in STORES.items()})
MEMORY.update({
    "memory.size": _memory_size, "memory.grow": _memory_grow, "memory.fill": _memory_fill,
    "memory.copy": _memory_copy, "memory.init": _memory_init, "data.drop": _data_drop,
    "atomic.fence": _fence,
})
for _name, _info in OPS.items():
    if _info.prefix == 0xFE and _info.align is not None:
        MEMORY[_name] = _atomic(_name)
