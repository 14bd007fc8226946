"""The function compiler: one wasm function -> the source of one Python function.

The operand stack is symbolic: each slot holds a Python expression (``Entry``) that is only
written to its local ``s<i>`` when something forces it (a merge point, a side effect, a
write to a variable it reads, or size). Expressions that may trap or read mutable state
("impure") are materialized before any side effect so traps and reads keep wasm's order.

Structured control maps to Python: a construct that is the target of a branch gets a
``while True:`` wrapper (``break`` leaves a block, ``continue`` restarts a loop); a branch
that must leave several wrappers sets ``br_`` to the target's id and breaks, and each
wrapper it passes through is followed by a dispatch on ``br_``. ``try_table`` becomes
``try``/``except WasmThrow``. Code after an unconditional transfer is skipped up to the
matching ``else``/``end``. The per-instruction lowerings live in the ``lower_*`` modules,
in dicts keyed by mnemonic.
"""
from __future__ import annotations

import os

from ...errors import CompileError
from ...spec.opcodes import OPS
from ...spec.types import FuncType

__all__ = ["Entry", "Ctl", "FunctionCompiler", "OPENERS"]

OPENERS = frozenset({"block", "loop", "if", "try_table"})
_NO_DEPS: frozenset = frozenset()
#: an expression longer than this (characters) or nested deeper is materialized
MAX_EXPR_LEN = 300
MAX_EXPR_DEPTH = 12
#: CPython's limit of statically nested blocks (loops, ``try``, ``with``) in one function
MAX_BLOCKS = 20
#: indentation the structured lowering may reach (the tokenizer stops at 100 levels)
MAX_INDENT = 90
#: indentation below a construct's own level used by branch, dispatch and catch code
NESTING_MARGIN = 4
#: compile every function to the flat form (tests of that form; ``SHAREDWASM_FLAT=1``)
FLAT_ALWAYS = os.environ.get("SHAREDWASM_FLAT") == "1"


class Entry:
    """One operand stack slot: ``expr`` is Python source; ``deps`` the variables it reads."""

    __slots__ = ("expr", "deps", "impure", "depth", "boolean", "bound", "raw", "fix", "mod",
                 "scaled")

    def __init__(self, expr: str, deps: frozenset = _NO_DEPS, impure: bool = False,
                 depth: int = 0, boolean: bool = False, bound: int | None = None,
                 raw: str | None = None, fix: int = 0, mod: int = 0,
                 scaled: tuple | None = None):
        self.expr = expr
        self.deps = deps
        self.impure = impure
        self.depth = depth
        self.boolean = boolean     # a Python bool (comparisons): fine as a condition
        self.bound = bound         # a proven maximum of the value (None: its type's)
        #: ``raw`` is congruent to the value modulo ``mod`` but not reduced (``expr`` is
        #: ``raw`` masked); ``fix`` says ``raw`` lies in [0, 2 mod) (1) or (-mod, mod) (2),
        #: so an assignment may reduce it with one test instead of a mask
        self.raw = raw
        self.fix = fix
        self.mod = mod
        #: ``(x, k, bound of x)`` when the value is the i32 ``x << k`` (``x`` an exact
        #: value): memory accesses index typed views by ``x`` directly
        self.scaled = scaled

    @property
    def val(self) -> str:
        """The expression as a value that may be stored or leave the function (no bools)."""
        return f"(+{self.expr})" if self.boolean else self.expr

    def __repr__(self) -> str:
        return f"Entry({self.expr!r}{' impure' if self.impure else ''})"


class Ctl:
    """A control construct being compiled (the function body is the outermost one)."""

    __slots__ = ("kind", "id", "base", "nparams", "nresults", "wrapped", "reached",
                 "through", "snapshot", "then_alive", "has_else", "catches", "body_start",
                 "end_pos")

    def __init__(self, kind: str, id_: int, base: int, nparams: int, nresults: int,
                 wrapped: bool, end_pos: int = 0):
        self.kind = kind
        self.id = id_           # even; ``id + 1`` names the restart of a loop
        self.end_pos = end_pos
        self.base = base
        self.nparams = nparams
        self.nresults = nresults
        self.wrapped = wrapped
        self.reached = False        # a branch leaving through this construct's end
        self.through: set = set()   # (construct, restart) of multi-level branches passing
        self.snapshot: list | None = None
        self.then_alive = False
        self.has_else = False
        self.catches: tuple = ()
        self.body_start = 0

    @property
    def label_arity(self) -> int:
        return self.nparams if self.kind == "loop" else self.nresults


def slot(p: int) -> Entry:
    name = f"s{p}"
    return Entry(name, frozenset((name,)))


def _ends_run(body: list) -> list[int]:
    """``run[i]``: how many ``end`` instructions follow each other from position ``i``."""
    run = [0] * (len(body) + 2)
    for i in range(len(body) - 1, -1, -1):
        run[i] = run[i + 1] + 1 if body[i][0] == "end" else 0
    run[len(body)] = 1      # the function's own final end
    return run


def _end_res(c) -> tuple[int, int]:
    """(end position, result count) of a construct (a ``Ctl`` or an analysis tuple)."""
    if isinstance(c, Ctl):
        return c.end_pos, c.nresults
    return c[2], c[1]


class FunctionCompiler:
    """Compiles one function; ``mc`` is the module compiler (names of bound objects)."""

    def __init__(self, mc, index: int, ftype: FuncType, local_types: list[str], body: list,
                 lowerings: dict):
        self.mc = mc
        self.index = index
        self.ftype = ftype
        self.local_types = local_types
        self.body = body
        self.lowerings = lowerings
        self.lines: list[str] = []
        self.indent = 2
        self.stack: list[Entry] = []
        self.ctl: list[Ctl] = [Ctl("func", 0, 0, 0, len(ftype.results), False)]
        self.dead = False
        self.ends_run = _ends_run(body)
        self.ctl[0].end_pos = len(body)
        self.match_end: dict[int, int] = {}
        self.wrap: set[int] = set()
        self._analyse()
        self.next_id = 2
        self.uses_br = False
        self.uses_memory = False
        #: typed views of memory 0 the body indexes (local name -> ``MemoryInst`` attribute)
        self.views: dict[str, str] = {}
        self.catches_errors = False   # emits code whose struct/index/zero errors are traps
        self.max_slot = -1
        self.ntemps = 0

    # --- analysis ---------------------------------------------------------------------------
    def _analyse(self) -> None:
        """Find each construct's end and which constructs need a ``while`` wrapper.

        A branch leaving a block is taken as leaving the innermost enclosing construct
        whose end leads to the target's end through nothing but ``end``s of result-less
        constructs (``exit_of``), so ``block (loop ... br_if 1 ...)`` becomes a single
        ``while`` left by ``break``.
        """
        body = self.body
        opened: list[int] = []
        for i, ins in enumerate(body):
            if ins[0] in OPENERS:
                opened.append(i)
            elif ins[0] == "end" and opened:
                self.match_end[opened.pop()] = i
        # (kind, nresults, end_pos, pos) per open construct, the function first
        stack: list[tuple] = [("func", len(self.ftype.results), len(body), -1)]

        def mark(depth: int) -> None:
            if depth >= len(stack):
                return
            t = stack[-1 - depth]
            if t[0] == "func":
                return
            if t[0] == "loop":
                self.wrap.add(t[3])
                return
            self.wrap.add(self._exit_of(stack, t)[3])

        for i, ins in enumerate(body):
            name = ins[0]
            if name in OPENERS:
                if name == "try_table":
                    for c in ins[1][1]:
                        mark(c.label)
                bt = ins[1][0]
                stack.append((name, self.block_sig(bt)[1], self.match_end.get(i, len(body)), i))
            elif name == "end":
                if len(stack) > 1:
                    stack.pop()
            elif name == "br" or name == "br_if":
                mark(ins[1][0])
            elif name == "br_table":
                for d in ins[1][0]:
                    mark(d)
                mark(ins[1][1])

    def _exit_of(self, stack: list, target):
        """The innermost construct of ``stack`` whose exit is equivalent to ``target``'s.

        Works on ``Ctl`` objects and on the analysis tuples alike (``end_pos``/``nresults``
        read through ``_fields``)."""
        t_end, t_res = _end_res(target)
        if t_res:
            return target
        run = self.ends_run
        for e in reversed(stack):
            if e is target:
                return target
            e_end = _end_res(e)[0]
            if run[e_end + 1] >= t_end - e_end and self._no_results_between(stack, e, target):
                return e
        return target

    @staticmethod
    def _no_results_between(stack: list, inner, target) -> bool:
        seen = False
        for e in stack:
            if e is target:
                seen = True
            elif e is inner:
                return True
            elif seen and _end_res(e)[1]:
                return False
        return True

    # --- emitting -------------------------------------------------------------------------
    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def temp(self) -> str:
        self.ntemps += 1
        return f"t{self.ntemps}"

    # --- the symbolic operand stack ---------------------------------------------------------
    def push(self, expr: str, deps: frozenset = _NO_DEPS, impure: bool = False,
             depth: int = 0, boolean: bool = False) -> None:
        self.stack.append(Entry(expr, deps, impure, depth, boolean))
        if depth > MAX_EXPR_DEPTH or len(expr) > MAX_EXPR_LEN:
            self.materialize(len(self.stack) - 1)

    def push_entry(self, e: Entry) -> None:
        self.stack.append(e)
        if e.depth > MAX_EXPR_DEPTH or len(e.expr) > MAX_EXPR_LEN:
            self.materialize(len(self.stack) - 1)

    def emit_assign(self, name: str, e: Entry) -> None:
        """``name = e``; a wrapped sum is assigned unreduced and then corrected by a test
        (cheaper in CPython than masking a sum)."""
        if e.fix == 1:
            self.emit(f"{name} = {e.raw}")
            self.emit(f"if {name} >= {e.mod}: {name} -= {e.mod}")
        elif e.fix == 2:
            self.emit(f"{name} = {e.raw}")
            self.emit(f"if {name} < 0: {name} += {e.mod}")
        else:
            self.emit(f"{name} = {e.val}")

    def push_const(self, expr: str) -> None:
        self.stack.append(Entry(expr))

    def pop(self) -> Entry:
        return self.stack.pop()

    def pop_n(self, n: int) -> list[Entry]:
        if not n:
            return []
        vals = self.stack[-n:]
        del self.stack[-n:]
        return vals

    def push_op(self, template: str, args: list[Entry], impure: bool = False,
                boolean: bool = False, bound: int | None = None) -> None:
        """Push ``template`` filled with the operands' expressions."""
        deps = _NO_DEPS
        depth = 0
        for a in args:
            if a.deps:
                deps = deps | a.deps if deps else a.deps
            impure = impure or a.impure
            if a.depth > depth:
                depth = a.depth
        self.push_entry(Entry(template.format(*[a.expr for a in args]), deps, impure,
                              depth + 1, boolean, bound))

    def is_slot(self, p: int) -> bool:
        return self.stack[p].expr == f"s{p}"

    def materialize(self, p: int) -> None:
        """Write stack entry ``p`` to its variable ``s<p>`` (constants stay as they are);
        an impure entry goes after the impure entries below it, so traps keep their order."""
        e = self.stack[p]
        name = f"s{p}"
        if e.expr == name or (not e.deps and not e.impure):
            return
        if e.impure:
            self.flush_impure(p)
        self.write_var(name, p)
        self.emit_assign(name, e)
        if p > self.max_slot:
            self.max_slot = p
        canonical = slot(p)
        canonical.bound = 1 if e.boolean else e.bound
        self.stack[p] = canonical

    def write_var(self, name: str, skip: int = -1) -> None:
        """Before assigning ``name``: materialize pending entries that still read it
        (a pending ``local.get`` is such an entry; a slot already canonical stays)."""
        stack = self.stack
        for p in range(len(stack)):
            if p != skip and name in stack[p].deps:
                self.materialize(p)

    def flush_impure(self, upto: int | None = None) -> None:
        """Materialize impure entries below position ``upto`` (all by default)."""
        n = len(self.stack) if upto is None else upto
        for p in range(n):
            if self.stack[p].impure:
                self.materialize(p)

    def flush_all(self) -> None:
        """Bring every entry to canonical form (its slot variable or a constant)."""
        for p in range(len(self.stack)):
            self.materialize(p)

    def assign_slots(self, base: int, values: list[Entry]) -> None:
        """Emit ``s<base>, ... = values`` (skipping values already in place)."""
        pairs = [(base + i, v) for i, v in enumerate(values) if v.expr != f"s{base + i}"]
        if not pairs:
            return
        top = base + len(values) - 1
        if top > self.max_slot:
            self.max_slot = top
        if len(pairs) == 1:
            p, v = pairs[0]
            self.emit_assign(f"s{p}", v)
        else:
            self.emit(", ".join(f"s{p}" for p, _ in pairs) + " = "
                      + ", ".join(v.val for _, v in pairs))

    def set_results(self, base: int, n: int) -> None:
        """Replace the stack above ``base`` by ``n`` canonical slots."""
        del self.stack[base:]
        for p in range(base, base + n):
            self.stack.append(slot(p))
        if base + n - 1 > self.max_slot:
            self.max_slot = base + n - 1

    def assign_result(self, expr: str, n: int = 1) -> None:
        """A statement producing ``n`` results at the stack top (calls, grows)."""
        base = len(self.stack)
        names = [f"s{base + i}" for i in range(n)]
        for nm in names:
            self.write_var(nm)
        if n == 0:
            self.emit(expr)
        else:
            self.emit(f"{', '.join(names)} = {expr}")
            self.set_results(base, n)

    # --- control ----------------------------------------------------------------------------
    def block_sig(self, bt) -> tuple[int, int]:
        if bt is None:
            return 0, 0
        if isinstance(bt, str):
            return 0, 1
        ft = self.mc.module.types[bt]
        return len(ft.params), len(ft.results)

    def open(self, kind: str, pos: int, bt) -> Ctl:
        nparams, nresults = self.block_sig(bt)
        self.flush_all()
        if kind in ("loop", "if") and nparams:
            # rewritten by a loop's back edges, passed through by an if without else:
            # the parameters live in their slots
            n = len(self.stack)
            self.assign_slots(n - nparams, self.stack[n - nparams:])
            self.set_results(n - nparams, nparams)
        c = Ctl(kind, self.next_id, len(self.stack) - nparams, nparams, nresults,
                pos in self.wrap, self.match_end[pos])
        self.next_id += 2
        self.ctl.append(c)
        return c

    def wrapper_open(self) -> None:
        self.emit("while True:")
        self.indent += 1

    def close_body(self, start: int) -> None:
        """Make sure the Python block that began at line ``start`` is not empty, dedent."""
        if len(self.lines) == start:
            self.emit("pass")
        self.indent -= 1

    def fallthrough(self, c: Ctl) -> None:
        """At the end of a live body: results into the construct's slots."""
        vals = self.pop_n(c.nresults)
        self.flush_impure()
        self.assign_slots(c.base, vals)

    def innermost_wrapper(self) -> Ctl | None:
        for c in reversed(self.ctl):
            if c.wrapped:
                return c
        return None

    def pass_label_values(self, target: Ctl) -> bool:
        """Copy the stack-top values ``target``'s label takes into its slots (not popped).

        A branch to the function's label is a return: emitted here, and False says so.
        """
        if target.kind == "func":
            self.emit_return()
            return False
        n = target.label_arity
        vals = self.stack[len(self.stack) - n:] if n else []
        self.flush_impure(len(self.stack) - n)
        self.assign_slots(target.base, vals)
        return True

    def branch(self, depth: int) -> None:
        """Emit the transfer to label ``depth`` (values taken from the stack top, not popped)."""
        target = self.ctl[-1 - depth]
        if not self.pass_label_values(target):
            return
        restart = target.kind == "loop"
        if not restart:
            target = self._exit_of(self.ctl, target)
            target.reached = True
        inner = self.innermost_wrapper()
        if inner is target:
            self.emit("continue" if restart else "break")
            return
        self.uses_br = True
        for c in reversed(self.ctl):
            if c is target:
                break
            if c.wrapped:
                c.through.add((target, restart))
        self.emit(f"br_ = {target.id + restart}")
        self.emit("break")

    def dispatch(self, c: Ctl) -> None:
        """After wrapper ``c`` closed: continue a multi-level branch that left it."""
        if not c.through:
            return
        outer = self.innermost_wrapper()
        self.emit("if br_:")
        self.indent += 1
        further = False
        for target, restart in sorted(c.through, key=lambda tr: tr[0].id + tr[1]):
            if target is outer:
                self.emit(f"if br_ == {target.id + restart}:")
                self.emit("    br_ = 0")
                self.emit("    continue" if restart else "    break")
            else:
                further = True
        if further or not any(t is outer for t, _ in c.through):
            self.emit("break")
        self.indent -= 1

    def emit_return(self) -> None:
        n = len(self.ftype.results)
        vals = self.stack[len(self.stack) - n:] if n else []
        self.flush_impure(len(self.stack) - n)
        if n == 0:
            self.emit("return")
        elif n == 1:
            self.emit(f"return {vals[0].val}")
        else:
            self.emit(f"return ({', '.join(v.val for v in vals)})")

    def memory_reload(self) -> str:
        """The statement (re)loading the memory's bytes and typed views into locals."""
        return "; ".join(["mem = M0.data"] + [f"{local} = M0.{attr}"
                                              for local, attr in self.views.items()])

    def after_call(self) -> None:
        """A callee may have grown (or moved) memory, releasing the typed views: reload."""
        if self.uses_memory:
            self.emit(self.memory_reload())

    def kill(self) -> None:
        """The rest of the current construct is unreachable."""
        self.dead = True

    # --- driver -----------------------------------------------------------------------------
    def nesting(self) -> tuple[int, int]:
        """(Python blocks, indentation levels) the structured lowering needs at most.

        A wrapper is one ``while`` block; a ``try_table`` is a ``try`` block whose handler
        (``except ... as``) counts two; the function's own ``try`` adds one block and its body
        starts at indentation 3. Indentation adds the ``if`` bodies and a margin for the
        branch code, dispatch and catch clauses emitted below a construct."""
        wrap = self.wrap
        blocks = indent = max_blocks = max_indent = 0
        opened: list[tuple[int, int]] = []
        for i, ins in enumerate(self.body):
            name = ins[0]
            if name in OPENERS:
                w = i in wrap
                b = w
                d = w + (name == "if")
                if name == "try_table":
                    if blocks + 2 > max_blocks:
                        max_blocks = blocks + 2
                    b += 1
                    d += 1
                blocks += b
                indent += d
                opened.append((b, d))
                if blocks > max_blocks:
                    max_blocks = blocks
                if indent > max_indent:
                    max_indent = indent
            elif name == "end" and opened:
                b, d = opened.pop()
                blocks -= b
                indent -= d
        return 1 + max_blocks, self.indent + max_indent + NESTING_MARGIN

    def compile(self) -> list[str]:
        """The body's lines: structured when CPython can nest it, else the flat form."""
        blocks, indent = self.nesting()
        if FLAT_ALWAYS or blocks > MAX_BLOCKS or indent > MAX_INDENT:
            from .flat import compile_flat
            return compile_flat(self)
        return self.run()

    def run(self) -> list[str]:
        lowerings = self.lowerings
        skip = 0
        body = self.body
        for pos, ins in enumerate(body):
            name = ins[0]
            if self.dead:
                if name in OPENERS:
                    skip += 1
                    continue
                if name == "end":
                    if skip:
                        skip -= 1
                        continue
                elif name == "else":
                    if skip:
                        continue
                else:
                    continue
            low = lowerings.get(name)
            if low is None:
                info = OPS.get(name)
                if info is not None and info.feature == "simd":
                    raise CompileError("SIMD is not supported by this tier yet",
                                       offset=ins[2] if ins[2] >= 0 else None,
                                       func_index=self.index,
                                       func_name=self.mc.func_name(self.index))
                raise CompileError(f"no lowering for {name}", func_index=self.index)
            low(self, ins, pos)
        if not self.dead:
            self.emit_return()
        return self.lines
