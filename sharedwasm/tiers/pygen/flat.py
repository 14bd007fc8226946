"""The flat lowering: one function as a state machine over its labels.

Used for a function whose structured lowering would nest deeper than CPython allows (20
statically nested loops/``try`` blocks, ~100 indentation levels). Every point a branch
can reach (a loop's head, the end of a branched-to construct, an ``else``, the start and
the end of a ``try_table`` body, a ``try_table``'s catch clauses) starts a *state*; the
function is one ``while True:`` whose body selects the state numbered ``pc`` by a balanced
tree of ``if pc < k`` tests. A transfer is ``pc = k`` followed by ``continue``, so no wasm
construct costs Python nesting: the generated code nests about ``log2(states) + 6``
levels whatever the wasm nesting.

Between states the operand stack is canonical (slot variables ``s<i>`` and constants, as at
the merge points of the structured lowering); inside a state it stays symbolic. Each state
lies wholly inside a fixed set of ``try_table`` bodies, so one ``try``/``except WasmThrow``
around the dispatch routes a thrown exception through the table ``H`` (state -> the
catch-clause state of its innermost ``try_table``, or -1 to leave the function). A catch
state that matches no clause re-raises, which lands it at the next enclosing table.
"""
from __future__ import annotations

from .codegen import OPENERS, Ctl, FunctionCompiler
from .lower_control import CONTROL, emit_catch_clauses

__all__ = ["FlatCompiler", "compile_flat"]


class FlatCompiler(FunctionCompiler):
    """``FunctionCompiler`` whose structured control becomes jumps between states."""

    def __init__(self, mc, index, ftype, local_types, body, lowerings):
        super().__init__(mc, index, ftype, local_types, body, {**lowerings, **FLAT_CONTROL})
        self.states: list[list[str] | None] = []
        self.handler_of: list[int] = []
        self.tries: list[Ctl] = []
        self.label: dict[int, int] = {}      # construct id -> state of its end / loop head
        self.else_state: dict[int, int] = {}
        self.catch_state: dict[int, int] = {}
        self.current = 0

    def _analyse(self) -> None:
        """Match each construct with its end and note which ``if``s have an ``else``."""
        opened: list[int] = []
        self.has_else: set[int] = set()
        for i, ins in enumerate(self.body):
            name = ins[0]
            if name in OPENERS:
                opened.append(i)
            elif name == "end" and opened:
                self.match_end[opened.pop()] = i
            elif name == "else" and opened:
                self.has_else.add(opened[-1])

    # --- states -----------------------------------------------------------------------------
    def new_state(self) -> int:
        self.states.append(None)
        self.handler_of.append(-1)
        return len(self.states) - 1

    def begin(self, state: int) -> None:
        """Emit the following code into ``state`` (reached with a canonical stack)."""
        lines: list[str] = []
        self.states[state] = lines
        self.current = state
        self.lines = lines
        self.indent = 0
        self.handler_of[state] = self.catch_state[self.tries[-1].id] if self.tries else -1
        self.dead = False

    def goto(self, state: int) -> None:
        """Leave the current state for ``state`` (at the state's top level)."""
        self.emit(f"pc = {state}")

    def end_label(self, c: Ctl) -> int:
        st = self.label.get(c.id)
        if st is None:
            st = self.label[c.id] = self.new_state()
        return st

    def branch(self, depth: int) -> None:
        target = self.ctl[-1 - depth]
        if not self.pass_label_values(target):
            return
        self.emit(f"pc = {self.end_label(target)}")
        self.emit("continue")

    # --- driver -----------------------------------------------------------------------------
    def compile(self) -> list[str]:
        base = self.indent
        self.begin(self.new_state())
        self.run()
        return self.assemble(base)

    def assemble(self, base: int) -> list[str]:
        """The dispatch loop around the states, indented ``base`` levels."""
        pad = "    " * base
        out = [f"{pad}pc = 0", f"{pad}while True:"]
        depth = base + 1
        if self.catch_state:
            out.append(f"{pad}    try:")
            depth += 1
        self._tree(out, 0, len(self.states), depth)
        if self.catch_state:
            table = self.mc.constant(tuple(self.handler_of))
            out.extend(f"{pad}    {line}" for line in (
                "except WasmThrow as w_:", "    xw_ = w_", f"    pc = {table}[pc]",
                *(["    " + self.memory_reload()] if self.uses_memory else []),
                "    if pc < 0:", "        raise"))
        return out

    def _tree(self, out: list[str], lo: int, hi: int, depth: int) -> None:
        pad = "    " * depth
        if hi - lo == 1:
            lines = self.states[lo] or ["pass"]
            out.extend(pad + line for line in lines)
            return
        mid = (lo + hi) // 2
        out.append(f"{pad}if pc < {mid}:")
        self._tree(out, lo, mid, depth + 1)
        out.append(f"{pad}else:")
        self._tree(out, mid, hi, depth + 1)


# --- control lowerings ------------------------------------------------------------------------
def _block(fc: FlatCompiler, ins, pos: int) -> None:
    fc.open("block", pos, ins[1][0])


def _loop(fc: FlatCompiler, ins, pos: int) -> None:
    start = len(fc.lines)
    c = fc.open("loop", pos, ins[1][0])
    if start == 0 and len(fc.lines) == 0:
        # nothing emitted yet in this state: the loop's head is where the state begins
        fc.label[c.id] = fc.current
        return
    head = fc.label[c.id] = fc.new_state()
    fc.goto(head)
    fc.begin(head)


def _if(fc: FlatCompiler, ins, pos: int) -> None:
    cond = fc.pop()
    c = fc.open("if", pos, ins[1][0])
    c.snapshot = list(fc.stack)
    other = fc.else_state[c.id] = fc.new_state()
    if pos not in fc.has_else:
        fc.label[c.id] = other      # the false path goes straight to the end
    fc.emit(f"if not ({cond.expr}):")
    fc.emit(f"    pc = {other}")
    fc.emit("    continue")


def _else(fc: FlatCompiler, ins, pos: int) -> None:
    c = fc.ctl[-1]
    if not fc.dead:
        fc.fallthrough(c)
        fc.goto(fc.end_label(c))
    fc.begin(fc.else_state[c.id])
    fc.stack = list(c.snapshot)
    c.has_else = True


def _end(fc: FlatCompiler, ins, pos: int) -> None:
    c = fc.ctl[-1]
    if c.kind == "try_table":
        _end_try(fc, c)
        return
    alive = not fc.dead
    if alive:
        fc.fallthrough(c)
    fc.ctl.pop()
    st = fc.label.get(c.id) if c.kind != "loop" else None
    if st is not None:
        if alive:
            fc.goto(st)
        fc.begin(st)
        alive = True
    fc.set_results(c.base, c.nresults)
    fc.dead = not alive


def _try_table(fc: FlatCompiler, ins, pos: int) -> None:
    bt, catches = ins[1]
    c = fc.open("try_table", pos, bt)
    c.catches = catches
    c.snapshot = fc.stack[:c.base]
    fc.catch_state[c.id] = fc.new_state()
    fc.end_label(c)
    body = fc.new_state()
    fc.goto(body)
    fc.tries.append(c)
    fc.begin(body)


def _end_try(fc: FlatCompiler, c: Ctl) -> None:
    if not fc.dead:
        fc.fallthrough(c)
        fc.goto(fc.label[c.id])
    fc.tries.pop()
    fc.ctl.pop()
    fc.begin(fc.catch_state[c.id])
    x = f"x{c.id}"
    fc.emit(f"{x} = xw_.exn")
    if not emit_catch_clauses(fc, c, x):
        fc.emit("raise xw_")
    fc.begin(fc.label[c.id])
    fc.stack = list(c.snapshot)
    fc.set_results(c.base, c.nresults)


FLAT_CONTROL = {
    **CONTROL, "block": _block, "loop": _loop, "if": _if, "else": _else, "end": _end,
    "try_table": _try_table,
}


def compile_flat(fc: FunctionCompiler) -> list[str]:
    """The body of ``fc``'s function in the flat form (``fc`` keeps the facts the module
    compiler reads afterwards)."""
    flat = FlatCompiler(fc.mc, fc.index, fc.ftype, fc.local_types, fc.body, fc.lowerings)
    flat.uses_memory = fc.uses_memory
    flat.views = fc.views
    flat.indent = fc.indent
    lines = flat.compile()
    fc.uses_br = False
    fc.max_slot = flat.max_slot
    return lines
