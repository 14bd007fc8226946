"""Lowerings of control instructions, calls and exceptions (keyed by mnemonic).

Each lowering is ``fn(fc, ins, pos)`` with ``fc`` the ``FunctionCompiler``; the structural
part (wrappers, branches, dispatch) is in ``codegen``.
"""
from __future__ import annotations

from .codegen import Ctl, Entry, FunctionCompiler

__all__ = ["CONTROL", "emit_catch_clauses"]


def _unreachable(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.flush_impure()
    fc.emit('raise Trap("unreachable")')
    fc.kill()


def _nop(fc: FunctionCompiler, ins, pos: int) -> None:
    pass


def _block(fc: FunctionCompiler, ins, pos: int) -> None:
    c = fc.open("block", pos, ins[1][0])
    if c.wrapped:
        fc.wrapper_open()
    c.body_start = len(fc.lines)


def _loop(fc: FunctionCompiler, ins, pos: int) -> None:
    c = fc.open("loop", pos, ins[1][0])
    if c.wrapped:
        fc.wrapper_open()
    c.body_start = len(fc.lines)


def _if(fc: FunctionCompiler, ins, pos: int) -> None:
    cond = fc.pop()
    c = fc.open("if", pos, ins[1][0])
    c.snapshot = list(fc.stack)
    if c.wrapped:
        fc.wrapper_open()
    fc.emit(f"if {cond.expr}:")
    fc.indent += 1
    c.body_start = len(fc.lines)


def _else(fc: FunctionCompiler, ins, pos: int) -> None:
    c = fc.ctl[-1]
    if not fc.dead:
        fc.fallthrough(c)
        c.then_alive = True
    fc.close_body(c.body_start)
    fc.emit("else:")
    fc.indent += 1
    c.body_start = len(fc.lines)
    fc.stack = list(c.snapshot)
    c.has_else = True
    fc.dead = False


def _try_table(fc: FunctionCompiler, ins, pos: int) -> None:
    bt, catches = ins[1]
    c = fc.open("try_table", pos, bt)
    c.catches = catches
    c.snapshot = fc.stack[:c.base]
    fc.emit("try:")
    fc.indent += 1
    if c.wrapped:
        fc.wrapper_open()
    c.body_start = len(fc.lines)


def _end(fc: FunctionCompiler, ins, pos: int) -> None:
    c = fc.ctl[-1]
    alive = not fc.dead
    if alive:
        fc.fallthrough(c)
    if c.kind == "if":
        fc.close_body(c.body_start)
        alive = alive or c.then_alive or not c.has_else
    elif c.kind == "try_table":
        _end_try(fc, c, alive)
        return
    _leave(fc, c, alive)
    fc.set_results(c.base, c.nresults)
    fc.dead = not (alive or c.reached)


def _leave(fc: FunctionCompiler, c: Ctl, alive: bool) -> bool:
    """Pop construct ``c``; close its wrapper loop if it has one (True then)."""
    fc.ctl.pop()
    if not c.wrapped:
        return False
    if alive:
        fc.emit("break")
    fc.close_body(c.body_start)
    fc.dispatch(c)
    return True


def emit_catch_clauses(fc: FunctionCompiler, c: Ctl, x: str) -> bool:
    """Emit ``try_table`` ``c``'s clauses for the caught exception ``x``, in order.

    Starts from the stack at the ``try_table``'s entry. True when a ``catch_all`` clause
    ends the list (no fall-through re-raise is then needed).
    """
    fc.stack = list(c.snapshot)
    for clause in c.catches:
        kind = clause.kind
        pushed = 0
        tagged = kind in ("catch", "catch_ref")
        if tagged:
            n = len(fc.mc.tag_types[clause.tag].params)
            fc.emit(f"if {x}.tag is TAG{clause.tag}:")
            fc.indent += 1
            deps = frozenset((x,))
            for i in range(n):
                fc.stack.append(Entry(f"{x}.payload[{i}]", deps))
            pushed = n
        if kind.endswith("_ref"):
            fc.stack.append(Entry(x, frozenset((x,))))
            pushed += 1
        fc.branch(clause.label)
        del fc.stack[len(fc.stack) - pushed:]
        if not tagged:
            return True
        fc.indent -= 1
    return False


def _end_try(fc: FunctionCompiler, c: Ctl, alive: bool) -> None:
    if _leave(fc, c, alive):
        fc.indent -= 1                 # the try: its body is the wrapper loop
    else:
        fc.close_body(c.body_start)
    x = f"x{c.id}"
    fc.emit(f"except WasmThrow as {x}_:")
    fc.indent += 1
    fc.emit(f"{x} = {x}_.exn")
    fc.after_call()
    if not emit_catch_clauses(fc, c, x):
        fc.emit("raise")
    fc.indent -= 1
    fc.stack = list(c.snapshot)
    fc.set_results(c.base, c.nresults)
    fc.dead = not (alive or c.reached)


def _br(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.branch(ins[1][0])
    fc.kill()


def _br_if(fc: FunctionCompiler, ins, pos: int) -> None:
    cond = fc.pop()
    fc.flush_impure()
    fc.emit(f"if {cond.expr}:")
    fc.indent += 1
    fc.branch(ins[1][0])
    fc.indent -= 1


def _br_table(fc: FunctionCompiler, ins, pos: int) -> None:
    idx = fc.pop()
    fc.flush_impure()
    labels, default = ins[1]
    if all(d == default for d in labels):
        if idx.impure:
            fc.emit(idx.expr)
        fc.branch(default)
        fc.kill()
        return
    t = idx.expr
    if not t.isidentifier() and not t.isdigit():
        t = fc.temp()
        fc.emit(f"{t} = {idx.expr}")
    groups: dict[int, list[int]] = {}
    for i, d in enumerate(labels):
        if d != default:
            groups.setdefault(d, []).append(i)
    word = "if"
    for d, idxs in groups.items():
        if len(idxs) == 1:
            test = f"{t} == {idxs[0]}"
        elif idxs[-1] - idxs[0] == len(idxs) - 1:
            test = f"{idxs[0]} <= {t} <= {idxs[-1]}"
        else:
            test = f"{t} in {{{', '.join(map(str, idxs))}}}"
        fc.emit(f"{word} {test}:")
        fc.indent += 1
        fc.branch(d)
        fc.indent -= 1
        word = "elif"
    fc.emit("else:")
    fc.indent += 1
    fc.branch(default)
    fc.indent -= 1
    fc.kill()


def _return(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.emit_return()
    fc.kill()


def _args_in_order(fc: FunctionCompiler, n: int) -> list[Entry]:
    """Pop ``n`` call arguments; impure ones below are evaluated first."""
    args = fc.pop_n(n)
    fc.flush_impure()
    return args


def _call(fc: FunctionCompiler, ins, pos: int) -> None:
    idx = ins[1][0]
    ft = fc.mc.func_types[idx]
    args = _args_in_order(fc, len(ft.params))
    fc.assign_result(f"f{idx}({', '.join(a.val for a in args)})", len(ft.results))
    fc.after_call()


def _indirect_callee(fc: FunctionCompiler, typeidx: int, tableidx: int,
                     n: int) -> tuple[str, list[Entry]]:
    """Pop the table index and ``n`` arguments; (temp bound to the checked callee, args)."""
    if any(e.impure for e in fc.stack[len(fc.stack) - n - 1:]):
        fc.flush_impure()
    idx = fc.pop()
    args = _args_in_order(fc, n)
    t = fc.temp()
    fc.emit(f"{t} = call_target(E{tableidx}, {idx.expr}, TY{typeidx})")
    return t, args


def _call_indirect(fc: FunctionCompiler, ins, pos: int) -> None:
    typeidx, tableidx = ins[1]
    ft = fc.mc.module.types[typeidx]
    t, args = _indirect_callee(fc, typeidx, tableidx, len(ft.params))
    fc.assign_result(f"{t}({', '.join(a.val for a in args)})", len(ft.results))
    fc.after_call()


def _in_try(fc: FunctionCompiler) -> bool:
    return any(c.kind == "try_table" for c in fc.ctl)


def _return_call(fc: FunctionCompiler, ins, pos: int) -> None:
    """Tail call: the function returns a ``TailCall`` that its trampoline makes (Python
    has no tail calls). A callee that makes no tail calls itself is called directly when
    no ``try_table`` of this frame could catch what it throws."""
    idx = ins[1][0]
    ft = fc.mc.func_types[idx]
    args = _args_in_order(fc, len(ft.params))
    vals = ", ".join(a.val for a in args)
    if idx in fc.mc.tail_funcs:
        # ``f<idx>.tail``, not the global ``t<idx>``: a temporary of this frame may be named so
        fc.emit(f"return TailCall(f{idx}.tail, ({vals}{',' if args else ''}))")
    elif idx >= fc.mc.n_imported and not _in_try(fc):
        fc.emit(f"return f{idx}({vals})")
    else:
        fn = f"f{idx}" if idx >= fc.mc.n_imported else f'getattr(f{idx}, "tail", f{idx})'
        fc.emit(f"return TailCall({fn}, ({vals}{',' if args else ''}))")
    fc.kill()


def _return_call_indirect(fc: FunctionCompiler, ins, pos: int) -> None:
    typeidx, tableidx = ins[1]
    t, args = _indirect_callee(fc, typeidx, tableidx, len(fc.mc.module.types[typeidx].params))
    vals = "".join(f"{a.val}, " for a in args)
    fc.emit(f'return TailCall(getattr({t}, "tail", {t}), ({vals}))')
    fc.kill()


def _throw(fc: FunctionCompiler, ins, pos: int) -> None:
    tag = ins[1][0]
    n = len(fc.mc.tag_types[tag].params)
    args = _args_in_order(fc, n)
    payload = "".join(f"{a.val}, " for a in args)
    fc.emit(f"raise WasmThrow(ExceptionInst(TAG{tag}, ({payload})))")
    fc.kill()


def _throw_ref(fc: FunctionCompiler, ins, pos: int) -> None:
    v = fc.pop()
    fc.flush_impure()
    fc.emit(f"raise throw_ref({v.expr})")
    fc.kill()


CONTROL = {
    "unreachable": _unreachable, "nop": _nop, "block": _block, "loop": _loop, "if": _if,
    "else": _else, "end": _end, "try_table": _try_table, "br": _br, "br_if": _br_if,
    "br_table": _br_table, "return": _return, "call": _call,
    "call_indirect": _call_indirect, "throw": _throw, "throw_ref": _throw_ref,
    "return_call": _return_call, "return_call_indirect": _return_call_indirect,
}
