"""Lowerings of memory instructions (keyed by mnemonic): loads, stores, size, grow, bulk
memory and the threads proposal's atomics.

Every access computes the effective address in 64 bits and checks it against the size
held since the last reload (``FunctionLowerer.check_range``). Atomics check alignment
first ("unaligned atomic"), then bounds (re-reading a shared memory's size before
trapping), and are LLVM ``seq_cst`` atomic instructions on the same addresses the host's
``libatomic`` calls use, so every agent shares one protocol; those that acquire, and
``memory.size``, refresh the size held. wait/notify call back into ``runtime.atomics``.
"""
from __future__ import annotations

from typing import Callable

from llvmlite import ir

from ...spec.opcodes import OPS
from . import vm
from .codegen import FunctionLowerer
from .irtypes import I8, I16, I32, I64, LLTYPE, PTR, field
from .runtime_ops import DATA_DROP, MEMORY_GROW, MEMORY_INIT, NOTIFY, WAIT32, WAIT64

__all__ = ["MEMORY"]

L = FunctionLowerer
MEMORY: dict[str, Callable] = {}
_INT = {1: I8, 2: I16, 4: I32, 8: I64}


def _load(t: str, width: int, signed: bool | None):
    ty = LLTYPE[t]
    mem_ty = ty if signed is None else _INT[width]

    def rule(fc: L, args: tuple) -> None:
        ptr = fc.access(fc.pop(), args[0].offset, width, mem_ty)
        v = fc.b.load(ptr, align=1)
        if signed is not None:
            v = fc.b.sext(v, ty) if signed else fc.b.zext(v, ty)
        fc.push(v)
    return rule


def _store(t: str, width: int, narrow: bool):
    ty = LLTYPE[t]
    mem_ty = _INT[width] if narrow else ty

    def rule(fc: L, args: tuple) -> None:
        v = fc.pop()
        ptr = fc.access(fc.pop(), args[0].offset, width, mem_ty)
        fc.b.store(fc.b.trunc(v, mem_ty) if narrow else v, ptr, align=1)
    return rule


for _name, _info in OPS.items():
    if _info.align is None or _info.prefix is not None:
        continue
    _t, _op = _name.split(".")
    _w = 1 << _info.align
    if _op.startswith("load"):
        _signed = None if _op == "load" else _op.endswith("_s")
        MEMORY[_name] = _load(_t, _w, _signed)
    else:
        MEMORY[_name] = _store(_t, _w, _op != "store")


def _memory_size(fc: L, args: tuple) -> None:
    pages = fc.current_pages()
    fc.push(pages)
    fc.refresh_size(pages)


def _memory_grow(fc: L, args: tuple) -> None:
    delta = fc.pop()
    if fc.mc.shared_memory:
        r = fc.runtime_call(MEMORY_GROW, fc.b.zext(delta, I64))
        fc.push(fc.b.trunc(r, I32))
        return
    b = fc.b
    pages_ptr = b.inttoptr(b.load(field(b, fc.mdesc, 8, I64)), I32.as_pointer())
    old = b.load(pages_ptr)
    new = b.add(b.zext(old, I64), b.zext(delta, I64))
    ok = b.icmp_unsigned("<=", new, b.load(field(b, fc.mdesc, 16, I64)))
    b.store(b.select(ok, b.trunc(new, I32), old), pages_ptr)
    fc.push(b.select(ok, old, I32(0xFFFF_FFFF)))
    fc.reload_memory()


def _memory_fill(fc: L, args: tuple) -> None:
    n, val, d = fc.pop(), fc.pop(), fc.pop()
    b = fc.b
    d64, n64 = b.zext(d, I64), b.zext(n, I64)
    fc.check_range(d64, n64, recheck=True)
    fn = fc.mc.intrinsic("llvm.memset.p0i8.i64", ir.VoidType(), [PTR, I8, I64, ir.IntType(1)])
    b.call(fn, [fc.pointer(d64, I8), b.trunc(val, I8), n64, ir.IntType(1)(0)])


def _memory_copy(fc: L, args: tuple) -> None:
    n, s, d = fc.pop(), fc.pop(), fc.pop()
    b = fc.b
    d64, s64, n64 = b.zext(d, I64), b.zext(s, I64), b.zext(n, I64)
    fc.check_range(s64, n64, recheck=True)
    fc.check_range(d64, n64, recheck=True)
    fn = fc.mc.intrinsic("llvm.memmove.p0i8.p0i8.i64", ir.VoidType(),
                         [PTR, PTR, I64, ir.IntType(1)])
    b.call(fn, [fc.pointer(d64, I8), fc.pointer(s64, I8), n64, ir.IntType(1)(0)])


def _memory_init(fc: L, args: tuple) -> None:
    n, s, d = fc.pop(), fc.pop(), fc.pop()
    b = fc.b
    fc.runtime_call(MEMORY_INIT, I64(args[0]), b.zext(d, I64), b.zext(s, I64), b.zext(n, I64))


def _data_drop(fc: L, args: tuple) -> None:
    fc.runtime_call(DATA_DROP, I64(args[0]))


MEMORY.update({"memory.size": _memory_size, "memory.grow": _memory_grow,
               "memory.fill": _memory_fill, "memory.copy": _memory_copy,
               "memory.init": _memory_init, "data.drop": _data_drop})

# -- atomics --------------------------------------------------------------------------------------


def _atomic_pointer(fc: L, addr, offset: int, width: int):
    b = fc.b
    ea = fc.effective_address(addr, offset)
    if width > 1:
        fc.trap_if(b.icmp_unsigned("!=", b.and_(ea, I64(width - 1)), I64(0)),
                   vm.TRAP_CODES["unaligned atomic"])
    fc.check_range(ea, width, recheck=True)
    return fc.pointer(ea, _INT[width])


def _atomic_load(t: str, width: int):
    def rule(fc: L, args: tuple) -> None:
        ptr = _atomic_pointer(fc, fc.pop(), args[0].offset, width)
        v = fc.b.load_atomic(ptr, "seq_cst", width)
        fc.push(fc.b.zext(v, LLTYPE[t]) if _INT[width] != LLTYPE[t] else v)
        fc.refresh_size()
    return rule


def _atomic_store(t: str, width: int):
    def rule(fc: L, args: tuple) -> None:
        v = fc.pop()
        ptr = _atomic_pointer(fc, fc.pop(), args[0].offset, width)
        narrow = fc.b.trunc(v, _INT[width]) if _INT[width] != LLTYPE[t] else v
        fc.b.store_atomic(narrow, ptr, "seq_cst", width)
    return rule


def _atomic_rmw(t: str, width: int, op: str):
    def rule(fc: L, args: tuple) -> None:
        v = fc.pop()
        ptr = _atomic_pointer(fc, fc.pop(), args[0].offset, width)
        b = fc.b
        wide = _INT[width] != LLTYPE[t]
        old = b.atomic_rmw(op, ptr, b.trunc(v, _INT[width]) if wide else v, "seq_cst")
        fc.push(b.zext(old, LLTYPE[t]) if wide else old)
        fc.refresh_size()
    return rule


def _atomic_cmpxchg(t: str, width: int):
    def rule(fc: L, args: tuple) -> None:
        new, expected = fc.pop(), fc.pop()
        ptr = _atomic_pointer(fc, fc.pop(), args[0].offset, width)
        b = fc.b
        wide = _INT[width] != LLTYPE[t]
        if wide:
            new, expected = b.trunc(new, _INT[width]), b.trunc(expected, _INT[width])
        pair = b.cmpxchg(ptr, expected, new, "seq_cst", "seq_cst")
        old = b.extract_value(pair, 0)
        fc.push(b.zext(old, LLTYPE[t]) if wide else old)
        fc.refresh_size()
    return rule


def _notify(fc: L, args: tuple) -> None:
    count, addr = fc.pop(), fc.pop()
    b = fc.b
    ea = fc.effective_address(addr, args[0].offset)
    r = fc.runtime_call(NOTIFY, ea, b.zext(count, I64))
    fc.push(b.trunc(r, I32))


def _wait(op: int, t: str):
    def rule(fc: L, args: tuple) -> None:
        timeout, expected, addr = fc.pop(), fc.pop(), fc.pop()
        b = fc.b
        ea = fc.effective_address(addr, args[0].offset)
        exp = b.zext(expected, I64) if t == "i32" else expected
        r = fc.runtime_call(op, ea, exp, timeout)
        fc.push(b.trunc(r, I32))
    return rule


def _fence(fc: L, args: tuple) -> None:
    fc.b.fence("seq_cst")
    fc.refresh_size()


_RMW_OPS = {"add": "add", "sub": "sub", "and": "and", "or": "or", "xor": "xor",
            "xchg": "xchg"}
for _name, _info in OPS.items():
    if _info.feature != "threads" or _info.align is None or "." not in _name[4:]:
        continue
    _t = _name[:3]
    _w = 1 << _info.align
    _last = _name.rsplit(".", 1)[1]
    if _name.startswith("memory."):
        continue
    if ".atomic.load" in _name:
        MEMORY[_name] = _atomic_load(_t, _w)
    elif ".atomic.store" in _name:
        MEMORY[_name] = _atomic_store(_t, _w)
    elif _last.startswith("cmpxchg"):
        MEMORY[_name] = _atomic_cmpxchg(_t, _w)
    else:
        MEMORY[_name] = _atomic_rmw(_t, _w, _RMW_OPS[_last.split("_")[0]])
MEMORY["memory.atomic.notify"] = _notify
MEMORY["memory.atomic.wait32"] = _wait(WAIT32, "i32")
MEMORY["memory.atomic.wait64"] = _wait(WAIT64, "i64")
MEMORY["atomic.fence"] = _fence
