"""Lowerings of control, parametric and variable instructions (keyed by mnemonic).

Tail calls (``return_call*``) end the function with ``FunctionLowerer.tail_call``.
Reference globals hold Python objects, so their ``global.get``/``set`` go through the
runtime callback; numeric ones are loads and stores of the global's cell.
"""
from __future__ import annotations

from llvmlite import ir

from . import vm
from .codegen import (CTX_FUNCS, CTX_GLOBALS, CTX_TABLES, VM_TRAP_ARG, Frame, FunctionLowerer,
                      Unsupported)
from .irtypes import I32, I64, LLTYPE, PTR, REFTYPES, field
from .lower_exception import close_try
from .runtime_ops import GLOBAL_GET, GLOBAL_SET

__all__ = ["CONTROL"]

L = FunctionLowerer


def _unreachable(fc: L, args: tuple) -> None:
    fc.trap("unreachable")


def _nop(fc: L, args: tuple) -> None:
    pass


def _block(fc: L, args: tuple) -> None:
    params, results = fc.block_sig(args[0])
    end = fc.fn.append_basic_block("end")
    fc.ctl.append(Frame("block", params, results, len(fc.stack) - len(params), end))


def _loop(fc: L, args: tuple) -> None:
    params, results = fc.block_sig(args[0])
    b = fc.b
    frame = Frame("loop", params, results, len(fc.stack) - len(params),
                  fc.fn.append_basic_block("end"))
    values = fc.popn(len(params))
    entry = b.block
    frame.header = fc.fn.append_basic_block("loop")
    b.branch(frame.header)
    b.position_at_end(frame.header)
    for t, v in zip(params, values):
        phi = b.phi(LLTYPE[t])
        phi.add_incoming(v, entry)
        frame.header_phis.append(phi)
        fc.push(phi)
    if fc.mc.poll_loops:
        fc.poll_interrupt()
    fc.ctl.append(frame)


def _if(fc: L, args: tuple) -> None:
    params, results = fc.block_sig(args[0])
    cond = fc.truth(fc.pop())
    frame = Frame("if", params, results, len(fc.stack) - len(params),
                  fc.fn.append_basic_block("end"))
    frame.if_params = fc.peekn(len(params))
    then = fc.fn.append_basic_block("then")
    frame.else_bb = fc.fn.append_basic_block("else")
    fc.b.cbranch(cond, then, frame.else_bb)
    fc.b.position_at_end(then)
    fc.ctl.append(frame)


def _else(fc: L, args: tuple) -> None:
    frame = fc.ctl[-1]
    if not fc.dead:
        fc.fall_to_end(frame, fc.popn(len(frame.results)))
    del fc.stack[frame.height:]
    fc.stack.extend(frame.if_params)
    fc.b.position_at_end(frame.else_bb)
    frame.has_else = True
    fc.dead = False


def _end(fc: L, args: tuple) -> None:
    frame = fc.ctl.pop()
    if not fc.dead:
        fc.fall_to_end(frame, fc.popn(len(frame.results)))
    if frame.kind == "if" and not frame.has_else:
        fc.b.position_at_end(frame.else_bb)
        fc.fall_to_end(frame, frame.if_params)
    elif frame.kind == "try_table":
        close_try(fc, frame)
    del fc.stack[frame.height:]
    fc.b.position_at_end(frame.end_bb)
    if not frame.reached:
        fc.b.unreachable()
        fc.dead = True
        return
    fc.dead = False
    fc.stack.extend(frame.end_phis or ())


def _br(fc: L, args: tuple) -> None:
    frame = fc.label(args[0])
    fc.branch_to(frame, fc.peekn(len(frame.label_types)))


def _br_if(fc: L, args: tuple) -> None:
    cond = fc.truth(fc.pop())
    frame = fc.label(args[0])
    fc.branch_if(cond, frame, fc.peekn(len(frame.label_types)))


def _br_table(fc: L, args: tuple) -> None:
    labels, default = args
    index = fc.pop()
    b = fc.b
    edges: dict[int, ir.Block] = {}
    order = []
    for depth in (*labels, default):
        if depth not in edges:
            edges[depth] = fc.fn.append_basic_block()
            order.append(depth)
    sw = b.switch(index, edges[default])
    for i, depth in enumerate(labels):
        sw.add_case(I32(i), edges[depth])
    for depth in order:
        frame = fc.label(depth)
        b.position_at_end(edges[depth])
        fc.branch_to(frame, fc.peekn(len(frame.label_types)))
    fc.dead = True


def _return(fc: L, args: tuple) -> None:
    fc.emit_return(fc.peekn(len(fc.ftype.results)))


def _callee(fc: L, idx: int) -> tuple:
    """(code, context) of function ``idx``: direct when defined here, else its record."""
    mc = fc.mc
    if idx >= mc.n_imported:
        return mc.llfuncs[idx], fc.ctx
    b = fc.b
    funcs = b.load(field(b, fc.ctx, CTX_FUNCS, PTR))
    return fc.record_callee(b.gep(funcs, [I64(24 * idx)]), mc.func_types[idx])


def _call(fc: L, args: tuple) -> None:
    fc.call_value(*_callee(fc, args[0]), fc.mc.func_types[args[0]])


def _return_call(fc: L, args: tuple) -> None:
    fc.tail_call(*_callee(fc, args[0]), fc.mc.func_types[args[0]])


def _indirect_record(fc: L, type_index: int, table: int):
    """The checked table record ``call_indirect`` calls (traps as the portable tier)."""
    ft = fc.mc.module.types[type_index]
    if fc.mc.table_types[table].elem != "funcref":
        raise Unsupported("call_indirect through a non-funcref table")
    b = fc.b
    i = b.zext(fc.pop(), I64)
    tables = b.load(field(b, fc.ctx, CTX_TABLES, PTR))
    desc = b.load(field(b, tables, 8 * table, PTR))
    size = b.load(field(b, desc, 8, I64))
    fc.trap_if(b.icmp_unsigned(">=", i, size), vm.TRAP_CODES["undefined element"])
    entries = b.load(field(b, desc, 0, PTR))
    rec = b.gep(entries, [b.mul(i, I64(24))])
    code = b.load(field(b, rec, 0, I64))
    b.store(b.trunc(i, I32), field(b, fc.vm, VM_TRAP_ARG, I32))
    fc.trap_if(b.icmp_unsigned("==", code, I64(0)), vm.TRAP_CODES["uninitialized element"])
    tid = b.load(field(b, rec, 16, I64))
    fc.trap_if(b.icmp_unsigned("!=", tid, I64(vm.type_id(ft))),
               vm.TRAP_CODES["indirect call type mismatch"])
    return rec


def _call_indirect(fc: L, args: tuple) -> None:
    fc.record_call(_indirect_record(fc, *args), fc.mc.module.types[args[0]])


def _return_call_indirect(fc: L, args: tuple) -> None:
    ft = fc.mc.module.types[args[0]]
    fc.tail_call(*fc.record_callee(_indirect_record(fc, *args), ft), ft)


def _drop(fc: L, args: tuple) -> None:
    fc.pop()


def _select(fc: L, args: tuple) -> None:
    cond = fc.truth(fc.pop())
    b_, a = fc.pop(), fc.pop()
    fc.push(fc.b.select(cond, a, b_))


def _local_get(fc: L, args: tuple) -> None:
    fc.push(fc.b.load(fc.locals[args[0]]))


def _local_set(fc: L, args: tuple) -> None:
    fc.b.store(fc.pop(), fc.locals[args[0]])


def _local_tee(fc: L, args: tuple) -> None:
    fc.b.store(fc.stack[-1], fc.locals[args[0]])


def _cell(fc: L, idx: int):
    t = fc.mc.global_types[idx].type
    if t not in LLTYPE:
        raise Unsupported(f"global of type {t}")
    b = fc.b
    cells = b.load(field(b, fc.ctx, CTX_GLOBALS, PTR))
    return b.bitcast(b.load(field(b, cells, 8 * idx, PTR)), LLTYPE[t].as_pointer())


def _is_ref(fc: L, idx: int) -> bool:
    return fc.mc.global_types[idx].type in REFTYPES


def _global_get(fc: L, args: tuple) -> None:
    if _is_ref(fc, args[0]):
        fc.push(fc.runtime_call(GLOBAL_GET, I64(args[0])))
    else:
        fc.push(fc.b.load(_cell(fc, args[0])))


def _global_set(fc: L, args: tuple) -> None:
    if _is_ref(fc, args[0]):
        fc.runtime_call(GLOBAL_SET, I64(args[0]), fc.pop())
        return
    cell = _cell(fc, args[0])
    fc.b.store(fc.pop(), cell)


CONTROL = {
    "unreachable": _unreachable, "nop": _nop, "block": _block, "loop": _loop, "if": _if,
    "else": _else, "end": _end, "br": _br, "br_if": _br_if, "br_table": _br_table,
    "return": _return, "call": _call, "call_indirect": _call_indirect,
    "return_call": _return_call, "return_call_indirect": _return_call_indirect, "drop": _drop,
    "select": _select, "select_t": _select, "local.get": _local_get,
    "local.set": _local_set, "local.tee": _local_tee, "global.get": _global_get,
    "global.set": _global_set,
}
