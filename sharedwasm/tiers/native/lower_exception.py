"""Lowerings of exception handling (keyed by mnemonic): ``try_table``, ``throw`` and
``throw_ref``, plus the handler a ``try_table`` gets at its ``end``.

``throw`` writes the payload to 8-byte slots and asks the runtime callback to raise
``WasmThrow`` (stashed like any Python error, so native code unwinds with the nonzero
trap code). Inside a ``try_table`` the check after each call leads to the construct's
handler: it calls ``CATCH`` with a constant table of the clauses (count, then kind and
tag index per clause), which either takes the exception (traps and host errors are never
taken) and returns the clause whose label to branch to, payload and exnref read back from
the slots, or leaves it pending, and the handler unwinds further (to the next enclosing
handler or out of the function). Catch labels count from outside the ``try_table``.
"""
from __future__ import annotations

from typing import Callable

from llvmlite import ir

from .codegen import Frame, FunctionLowerer
from .irtypes import I32, I64, from_slot, to_slot
from .runtime_ops import CATCH, CATCH_KINDS, THROW, THROW_REF

__all__ = ["EXCEPTION", "close_try"]

L = FunctionLowerer


def _slots(fc: L, n: int) -> ir.Value:
    return fc.entry_alloca(ir.ArrayType(I64, max(n, 1)))


def _slot(fc: L, slots, i: int) -> ir.Value:
    return fc.b.gep(slots, [I32(0), I32(i)])


def _try_table(fc: L, args: tuple) -> None:
    bt, catches = args
    params, results = fc.block_sig(bt)
    frame = Frame("try_table", params, results, len(fc.stack) - len(params),
                  fc.fn.append_basic_block("end"))
    frame.handler = fc.fn.append_basic_block("catch")
    frame.catches = catches
    fc.ctl.append(frame)
    fc.handlers.append(frame.handler)


def close_try(fc: L, frame: Frame) -> None:
    """Emit ``frame``'s handler; called at its ``end``, after the frame was popped."""
    fc.handlers.pop()
    tag_types = fc.mc.info.tag_types
    payloads = [tag_types[c.tag].params if c.kind in ("catch", "catch_ref") else ()
                for c in frame.catches]
    b = fc.b
    b.position_at_end(frame.handler)
    fc.dead = False
    words = [len(frame.catches)]
    for c in frame.catches:
        words += [CATCH_KINDS[c.kind], c.tag or 0]
    table_t = ir.ArrayType(I32, len(words))
    table = ir.GlobalVariable(fc.mc.ll, table_t, name=fc.mc.ll.get_unique_name("catches"))
    table.global_constant = True
    table.linkage = "private"
    table.initializer = ir.Constant(table_t, words)
    slots = _slots(fc, max((len(p) + 1 for p in payloads), default=1))
    taken = fc.runtime_call(CATCH, b.ptrtoint(table, I64), b.ptrtoint(slots, I64))
    if not frame.catches:
        b.unreachable()
        fc.dead = True
        return
    blocks = [fc.fn.append_basic_block(f"catch{i}") for i in range(len(frame.catches))]
    sw = b.switch(b.trunc(taken, I32), blocks[-1])
    for i, bb in enumerate(blocks[:-1]):
        sw.add_case(I32(i), bb)
    for c, params, bb in zip(frame.catches, payloads, blocks):
        b.position_at_end(bb)
        values = [from_slot(b, b.load(_slot(fc, slots, i)), t) for i, t in enumerate(params)]
        if c.kind.endswith("_ref"):
            values.append(b.load(_slot(fc, slots, len(params))))
        fc.branch_to(fc.label(c.label), values)


def _throw(fc: L, args: tuple) -> None:
    params = fc.mc.info.tag_types[args[0]].params
    values = fc.popn(len(params))
    slots = _slots(fc, len(params))
    b = fc.b
    for i, (v, t) in enumerate(zip(values, params)):
        b.store(to_slot(b, v, t), _slot(fc, slots, i))
    fc.runtime_call(THROW, I64(args[0]), b.ptrtoint(slots, I64))
    b.unreachable()
    fc.dead = True


def _throw_ref(fc: L, args: tuple) -> None:
    fc.runtime_call(THROW_REF, fc.pop())
    fc.b.unreachable()
    fc.dead = True


EXCEPTION: dict[str, Callable] = {
    "try_table": _try_table, "throw": _throw, "throw_ref": _throw_ref,
}
