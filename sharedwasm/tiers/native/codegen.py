"""The function lowerer: one wasm function -> one LLVM function (internal convention).

Structured control becomes basic blocks: every construct has an end block whose phi nodes
(created at the first branch reaching it) receive the label's values; a loop has a header
block with phis for its parameters. The operand stack is a Python list of LLVM values;
locals are allocas that the optimizer's mem2reg turns into SSA. Code after an
unconditional transfer is skipped up to the matching ``else``/``end``.

Every function receives the instance context and the calling thread's VM state
(``vm.py``). Context (``ptr ctx``, one per instance, 8-byte fields): 0 memory descriptor,
8 global cell addresses, 16 imported function records, 24 table descriptors, 32 the
instance's handle for runtime callbacks. The prologue compares the stack pointer with the
thread's stack limit; it and every loop header also poll the interrupt request (one load
and a branch not taken). A trap stores its code in the VM state and returns zeros; after
every call the caller checks the code and unwinds the same way. A wasm exception unwinds
as a stashed ``WasmThrow`` (a nonzero code too): inside a ``try_table`` the check after a
call leads to the construct's handler instead (``lower_exception``), which catches it or
goes on unwinding. A tail call ends the function with a ``musttail`` call when the
callee's LLVM type is the caller's (and at most two results), else with a call in tail
position. Per-instruction lowerings live in
``lower_*.py`` in dicts keyed by mnemonic; a mnemonic without one raises ``Unsupported``.
"""
from __future__ import annotations

from llvmlite import ir

from ...spec.types import FuncType
from . import vm
from .irtypes import I32, I64, LLTYPE, PTR, field, func_type, pack_results, result_of, zero

__all__ = ["Unsupported", "Frame", "FunctionLowerer", "CTX_MEM", "CTX_GLOBALS", "CTX_FUNCS",
           "CTX_TABLES", "CTX_HANDLE", "CTX_WORDS", "VM_TRAP", "VM_TRAP_ARG", "VM_INTERRUPT",
           "VM_LIMIT", "VM_HOST_CB", "VM_RUNTIME_CB", "VM_BUDGET", "VM_FLOOR"]

CTX_MEM, CTX_GLOBALS, CTX_FUNCS, CTX_TABLES, CTX_HANDLE = 0, 8, 16, 24, 32
CTX_WORDS = 5
#: byte offsets of the VM state's fields
(VM_TRAP, VM_TRAP_ARG, VM_INTERRUPT, VM_LIMIT, VM_HOST_CB, VM_RUNTIME_CB, VM_BUDGET,
 VM_FLOOR) = (getattr(vm.VMState, f).offset for f in (
    "trap", "trap_arg", "interrupt", "stack_limit", "host_cb", "runtime_cb", "stack_budget",
    "stack_floor"))
OPENERS = frozenset({"block", "loop", "if", "try_table"})


class Unsupported(Exception):
    """This tier cannot lower something; the module runs on the portable tier instead."""


class Frame:
    """One control construct being lowered (the function body is the outermost)."""

    __slots__ = ("kind", "params", "results", "height", "end_bb", "end_phis", "header",
                 "header_phis", "else_bb", "if_params", "has_else", "reached", "handler",
                 "catches")

    def __init__(self, kind: str, params: tuple, results: tuple, height: int,
                 end_bb: ir.Block | None):
        self.kind, self.params, self.results, self.height = kind, params, results, height
        self.end_bb = end_bb
        self.end_phis: list | None = None
        self.header = None
        self.header_phis: list = []
        self.else_bb = None
        self.if_params: list = []
        self.has_else = False
        self.reached = False        # some branch (or the fall-through) reaches end_bb
        self.handler = None         # try_table: where an unwinding call in it leads
        self.catches: tuple = ()

    @property
    def label_types(self) -> tuple:
        return self.params if self.kind == "loop" else self.results


class FunctionLowerer:
    """Lowers the body of defined function ``index`` into ``fn`` (already declared)."""

    def __init__(self, mc, index: int, ftype: FuncType, local_types: list[str], body: list,
                 fn: ir.Function, lowerings: dict):
        self.mc, self.index, self.ftype = mc, index, ftype
        self.local_types, self.body, self.fn = local_types, body, fn
        self.lowerings = lowerings
        self.stack: list = []
        self.ctl: list[Frame] = []
        self.dead = False
        self.trap_blocks: dict[int, ir.Block] = {}
        self.unwind_bb: ir.Block | None = None
        self.handlers: list[ir.Block] = []       # of the enclosing try_tables, innermost last
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.ctx, self.vm = fn.args[0], fn.args[1]
        self.uses_memory = False
        self.base_slot = self.size_slot = self.mdesc = None

    # -- driving ----------------------------------------------------------------------------
    def lower(self) -> None:
        self._prologue()
        self.ctl.append(Frame("func", (), self.ftype.results, 0, None))
        skip = 0
        lowerings = self.lowerings
        for ins in self.body:
            name = ins[0]
            if self.dead:
                if name in OPENERS:
                    skip += 1
                    continue
                if skip:
                    if name == "end":
                        skip -= 1
                    continue
                if name not in ("else", "end"):
                    continue
            rule = lowerings.get(name)
            if rule is None:
                raise Unsupported(f"instruction {name} (function {self.index})")
            rule(self, ins[1])
        if not self.dead:
            self.emit_return(self.popn(len(self.ftype.results)))

    def _prologue(self) -> None:
        b = self.b
        sp = b.ptrtoint(b.call(self.mc.intrinsic("llvm.stacksave.p0", PTR, []), []), I64)
        limit = b.load(field(b, self.vm, VM_LIMIT, I64))
        flag = self.interrupt_flag()
        stop = b.or_(b.icmp_unsigned("<", sp, limit), b.icmp_unsigned("!=", flag, I32(0)))
        cont = self.fn.append_basic_block()
        b.cbranch(stop, self._stop_block(flag), cont).set_weights([1, 1 << 20])
        b.position_at_end(cont)
        self.locals = []
        nparams = len(self.ftype.params)
        for i, t in enumerate(self.local_types):
            slot = self.entry_alloca(LLTYPE.get(t) or self._unsupported_type(t))
            b.store(self.fn.args[i + 2] if i < nparams else zero(LLTYPE[t]), slot)
            self.locals.append(slot)
        if self.mc.has_memory and self.mc.uses_memory(self.body):
            self.uses_memory = True
            self.mdesc = b.load(field(b, self.ctx, CTX_MEM, PTR))
            self.base_slot = self.entry_alloca(PTR)
            self.size_slot = self.entry_alloca(I64)
            self.reload_memory()

    def _unsupported_type(self, t: str):
        raise Unsupported(f"value type {t} (function {self.index})")

    # -- operand stack ----------------------------------------------------------------------
    def push(self, v) -> None:
        self.stack.append(v)

    def pop(self):
        return self.stack.pop()

    def popn(self, n: int) -> list:
        if not n:
            return []
        vals = self.stack[-n:]
        del self.stack[-n:]
        return vals

    def peekn(self, n: int) -> list:
        return self.stack[len(self.stack) - n:] if n else []

    # -- traps and returns ------------------------------------------------------------------
    def _return_zero(self, b: ir.IRBuilder) -> None:
        rt = self.fn.function_type.return_type
        if isinstance(rt, ir.VoidType):
            b.ret_void()
        else:
            b.ret(zero(rt))

    def trap_block(self, code: int) -> ir.Block:
        bb = self.trap_blocks.get(code)
        if bb is None:
            bb = self.trap_blocks[code] = self.fn.append_basic_block(f"trap{code}")
            tb = ir.IRBuilder(bb)
            tb.store(I32(code), field(tb, self.vm, VM_TRAP, I32))
            self._return_zero(tb)
        return bb

    def interrupt_flag(self) -> ir.Value:
        """The interrupt request, read anew each time (an atomic load LLVM keeps in loops)."""
        b = self.b
        return b.load_atomic(field(b, self.vm, VM_INTERRUPT, I32), "monotonic", 4)

    def _stop_block(self, flag) -> ir.Block:
        """Where the prologue goes when it must not run the body: an interrupt, or the
        stack limit reached."""
        bb = self.fn.append_basic_block("stop")
        tb = ir.IRBuilder(bb)
        code = tb.select(tb.icmp_unsigned("!=", flag, I32(0)), I32(vm.INTERRUPTED),
                         I32(vm.TRAP_CODES["call stack exhausted"]))
        tb.store(code, field(tb, self.vm, VM_TRAP, I32))
        self._return_zero(tb)
        return bb

    def poll_interrupt(self) -> None:
        """At a loop header: stop with ``INTERRUPTED`` when an interrupt was requested."""
        self.trap_if(self.b.icmp_unsigned("!=", self.interrupt_flag(), I32(0)),
                     vm.INTERRUPTED)

    def trap_if(self, cond, code: int) -> None:
        """Trap with ``code`` when the i1 ``cond`` holds; continue in a fresh block."""
        cont = self.fn.append_basic_block()
        br = self.b.cbranch(cond, self.trap_block(code), cont)
        br.set_weights([1, 1 << 20])
        self.b.position_at_end(cont)

    def trap(self, message: str) -> None:
        self.b.branch(self.trap_block(vm.TRAP_CODES[message]))
        self.dead = True

    def check_unwind(self) -> None:
        """After a call: unwind when the callee left a trap code (to the innermost
        enclosing ``try_table``'s handler, if any)."""
        if self.handlers:
            target = self.handlers[-1]
        else:
            if self.unwind_bb is None:
                self.unwind_bb = self.fn.append_basic_block("unwind")
                self._return_zero(ir.IRBuilder(self.unwind_bb))
            target = self.unwind_bb
        b = self.b
        code = b.load(field(b, self.vm, VM_TRAP, I32))
        cont = self.fn.append_basic_block()
        br = b.cbranch(b.icmp_unsigned("!=", code, I32(0)), target, cont)
        br.set_weights([1, 1 << 20])
        b.position_at_end(cont)

    def emit_return(self, values: list) -> None:
        b = self.b
        if not values:
            b.ret_void()
        elif len(values) == 1:
            b.ret(values[0])
        else:
            b.ret(pack_results(b, values, self.ftype.results))
        self.dead = True

    # -- control ----------------------------------------------------------------------------
    def block_sig(self, bt) -> tuple[tuple, tuple]:
        if bt is None:
            return (), ()
        if isinstance(bt, str):
            if bt not in LLTYPE:
                raise Unsupported(f"block type {bt} (function {self.index})")
            return (), (bt,)
        ft = self.mc.module.types[bt]
        for t in ft.params + ft.results:
            if t not in LLTYPE:
                raise Unsupported(f"value type {t} (function {self.index})")
        return ft.params, ft.results

    def label(self, depth: int) -> Frame:
        return self.ctl[-1 - depth]

    def _end_phis(self, frame: Frame) -> list:
        if frame.end_phis is None:
            pb = ir.IRBuilder(frame.end_bb)
            frame.end_phis = [pb.phi(LLTYPE[t]) for t in frame.results]
        return frame.end_phis

    def branch_to(self, frame: Frame, values: list) -> None:
        """Branch from the current block to ``frame``'s label carrying ``values``."""
        b = self.b
        here = b.block
        if frame.kind == "func":
            self.emit_return(values)
            return
        if frame.kind != "loop":
            self.fall_to_end(frame, values)
            return
        for phi, v in zip(frame.header_phis, values):
            phi.add_incoming(v, here)
        b.branch(frame.header)
        self.dead = True

    def fall_to_end(self, frame: Frame, values: list) -> None:
        """Leave ``frame`` through its end (not its label: for a loop they differ)."""
        if frame.kind == "func":
            self.emit_return(values)
            return
        frame.reached = True
        here = self.b.block
        for phi, v in zip(self._end_phis(frame), values):
            phi.add_incoming(v, here)
        self.b.branch(frame.end_bb)
        self.dead = True

    def branch_if(self, cond, frame: Frame, values: list) -> None:
        taken = self.fn.append_basic_block()
        cont = self.fn.append_basic_block()
        self.b.cbranch(cond, taken, cont)
        self.b.position_at_end(taken)
        self.branch_to(frame, values)
        self.b.position_at_end(cont)
        self.dead = False

    def truth(self, v) -> ir.Value:
        return self.b.icmp_unsigned("!=", v, I32(0))

    # -- memory -----------------------------------------------------------------------------
    def reload_memory(self) -> None:
        """Re-read base and size from the memory descriptor (after calls and grow)."""
        if not self.uses_memory:
            return
        b = self.b
        b.store(b.load(field(b, self.mdesc, 0, PTR)), self.base_slot)
        b.store(self.current_size(), self.size_slot)

    def current_pages(self) -> ir.Value:
        """The memory's page count as its descriptor says now (an i32)."""
        b = self.b
        return b.load(b.inttoptr(b.load(field(b, self.mdesc, 8, I64)), I32.as_pointer()))

    def current_size(self, pages=None) -> ir.Value:
        pages = self.current_pages() if pages is None else pages
        return self.b.shl(self.b.zext(pages, I64), I64(16))

    def effective_address(self, addr, offset: int) -> ir.Value:
        return self.b.add(self.b.zext(addr, I64), I64(offset))

    def refresh_size(self, pages=None) -> None:
        """After an acquiring operation on a shared memory (atomic load, read-modify-write,
        fence, ``memory.size``, which passes the ``pages`` it read): a grow that happened
        before it must be seen by the accesses after it."""
        if self.uses_memory and self.mc.shared_memory:
            self.b.store(self.current_size(pages), self.size_slot)

    def check_range(self, ea, length, recheck: bool = False) -> None:
        """Trap "out of bounds memory access" unless [ea, ea + length) is inside memory.

        The size is the one held since the last reload or acquiring operation, so within
        a loop without calls or atomics it is loop-invariant and the check's exit has a
        computable count: LLVM still vectorizes such loops (it runs the vector body up
        to the first iteration that could trap). A shared memory may have been grown by
        another agent since; plain loads and stores racing with that grow may trap (the
        grow is not ordered before them), but with ``recheck`` (atomics, bulk operations)
        the size is re-read from the header before trapping."""
        b = self.b
        end = b.add(ea, length if isinstance(length, ir.Value) else I64(length))
        size = b.load(self.size_slot)
        outside = b.icmp_unsigned(">", end, size)
        if not (self.mc.shared_memory and recheck):
            self.trap_if(outside, vm.TRAP_CODES["out of bounds memory access"])
            return
        slow = self.fn.append_basic_block()
        cont = self.fn.append_basic_block()
        b.cbranch(outside, slow, cont).set_weights([1, 1 << 20])
        b.position_at_end(slow)
        fresh = self.current_size()
        b.store(fresh, self.size_slot)
        self.trap_if(b.icmp_unsigned(">", end, fresh),
                     vm.TRAP_CODES["out of bounds memory access"])
        b.branch(cont)
        b.position_at_end(cont)

    def pointer(self, ea, ty: ir.Type) -> ir.Value:
        b = self.b
        return b.bitcast(b.gep(b.load(self.base_slot), [ea]), ty.as_pointer())

    def access(self, addr, offset: int, width: int, ty: ir.Type) -> ir.Value:
        ea = self.effective_address(addr, offset)
        self.check_range(ea, width)
        return self.pointer(ea, ty)

    # -- calls ------------------------------------------------------------------------------
    def call_value(self, callee, callee_ctx, ft: FuncType) -> None:
        """Call ``callee`` (a function or a typed function pointer) with the operands."""
        for t in ft.params + ft.results:
            if t not in LLTYPE:
                raise Unsupported(f"call with {t} values (function {self.index})")
        args = self.popn(len(ft.params))
        b = self.b
        # notail: a call in tail position still takes a frame (only return_call may not),
        # so runaway recursion reaches the stack limit instead of looping forever
        r = b.call(callee, [callee_ctx, self.vm] + args, tail="notail")
        self.check_unwind()
        self.reload_memory()
        n = len(ft.results)
        if n == 1:
            self.push(r)
        elif n > 1:
            for i, t in enumerate(ft.results):
                self.push(result_of(b, r, i, t))

    def record_callee(self, rec, ft: FuncType) -> tuple:
        """(code, context) of the 24-byte function record (code, context, type id) at ``rec``."""
        b = self.b
        return (b.load(field(b, rec, 0, func_type(ft).as_pointer())),
                b.load(field(b, rec, 8, PTR)))

    def record_call(self, rec, ft: FuncType) -> None:
        self.call_value(*self.record_callee(rec, ft), ft)

    def tail_call(self, callee, callee_ctx, ft: FuncType) -> None:
        """End the function calling ``callee`` with the operands: the frame is left first,
        so the callee's traps and throws pass no handler of this one."""
        b = self.b
        args = self.popn(len(ft.params))
        # musttail needs equal LLVM types, and results in registers: a struct returned
        # through memory (more than two results on x86-64) makes the backend give up
        sure = len(ft.results) <= 2 and str(func_type(ft)) == str(self.fn.function_type)
        r = b.call(callee, [callee_ctx, self.vm] + args, tail="musttail" if sure else "tail")
        if ft.results:
            b.ret(r)
        else:
            b.ret_void()
        self.dead = True

    def entry_alloca(self, ty: ir.Type) -> ir.Value:
        """A stack slot allocated once in the entry block (not per loop iteration)."""
        eb = ir.IRBuilder(self.fn.entry_basic_block)
        eb.position_at_start(self.fn.entry_basic_block)
        return eb.alloca(ty)

    def runtime_call(self, op: int, *args) -> ir.Value:
        """Call the runtime callback ``op`` with up to four i64 arguments; returns i64."""
        b = self.b
        cbt = ir.FunctionType(I64, [I64, I32, I64, I64, I64, I64])
        cb = b.load(field(b, self.vm, VM_RUNTIME_CB, cbt.as_pointer()))
        handle = b.load(field(b, self.ctx, CTX_HANDLE, I64))
        full = list(args) + [I64(0)] * (4 - len(args))
        r = b.call(cb, [handle, I32(op)] + full)
        self.check_unwind()
        self.reload_memory()
        return r


