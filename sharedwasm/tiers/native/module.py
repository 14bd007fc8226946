"""Module compilation for the native tier and the Python side of its instances.

``compile_module`` lowers every defined function of a module into one LLVM module
(functions ``w<i>`` in the internal convention plus ``ctypes`` entries ``e<i>``), links it
(``jit.compile_ir``) and returns a ``NativeModule``; a module it cannot lower raises
``Unsupported`` with the reason. ``NativeModule.create(inst)`` builds an instance's
context (memory descriptor, global cells, import records, table descriptors) and one
Python function instance per defined function: a closure calling the entry through
``ctypes``, with ``type`` and ``native_ref`` (internal code address, context, type id)
so tables and importing instances call it natively.
"""
from __future__ import annotations

import ctypes
import gc
import hashlib
import os
import weakref

from llvmlite import ir

from ...runtime.numerics import f32_from_bits, f32_to_bits
from ...spec import ast
from ...spec.opcodes import OPS
from ...spec.types import FuncType
from . import host, runtime_ops, vm  # noqa: F401  (importing them installs the callbacks)
from .codegen import (CTX_WORDS, VM_BUDGET, VM_FLOOR, VM_LIMIT, VM_TRAP, FunctionLowerer,
                      Unsupported)
from .irtypes import (CTYPE, I32, I64, LLTYPE, PTR, REFTYPES, field, func_type, result_of,
                      to_slot)
from .jit import Library, compile_ir, load_object, triple_and_layout
from .lower_control import CONTROL
from .lower_exception import EXCEPTION
from .lower_memory import MEMORY
from .lower_numeric import NUMERIC
from .lower_ref import REFERENCE
from .lower_table import TABLE
from .objects import (FROM_SLOT, native_global, native_memory_desc, native_table, record_of,
                      ref_handle, release_refs)

__all__ = ["NativeModule", "compile_module", "load_module", "LOWERINGS", "Unsupported"]

#: mnemonic -> lowering, for every instruction this tier executes natively
LOWERINGS: dict = {**CONTROL, **NUMERIC, **MEMORY, **TABLE, **REFERENCE, **EXCEPTION}


class ModuleLowerer:
    """Module-wide facts and the LLVM module the function lowerers emit into."""

    def __init__(self, module: ast.Module, info, poll_loops: bool = True):
        self.module, self.info = module, info
        self.poll_loops = poll_loops
        self.func_types = info.func_types
        self.global_types = info.global_types
        self.table_types = info.table_types
        self.n_imported = len(info.func_types) - len(info.funcs)
        self.has_memory = bool(info.mem_types)
        if len(info.mem_types) > 1:
            raise Unsupported("more than one memory")
        self.shared_memory = self.has_memory and info.mem_types[0].limits.shared
        self.ll = ir.Module(name="wasm")
        self.ll.triple, self.ll.data_layout = triple_and_layout()
        self.llfuncs: dict[int, ir.Function] = {}
        self._intrinsics: dict[str, ir.Function] = {}

    def intrinsic(self, name: str, ret: ir.Type, args: list) -> ir.Function:
        fn = self._intrinsics.get(name)
        if fn is None:
            fn = self._intrinsics[name] = ir.Function(self.ll, ir.FunctionType(ret, args),
                                                      name=name)
        return fn

    @staticmethod
    def uses_memory(body: list) -> bool:
        for ins in body:
            name = ins[0]
            if OPS[name].align is not None or name.startswith("memory."):
                return True
        return False


def _check_type(ft: FuncType, what: str) -> None:
    for t in ft.params + ft.results:
        if t not in LLTYPE:
            raise Unsupported(f"{what} has {t} values")


def _entry(mc: ModuleLowerer, idx: int, ft: FuncType) -> None:
    """``e<idx>``: the ``ctypes`` entry. The outermost one of a thread (stack limit 0) sets
    the limit to its stack pointer minus the budget (not below the floor) and clears it
    when it returns; a nested one (a host function calling native code) keeps it."""
    cparams = [I32 if t == "f32" else LLTYPE[t] for t in ft.params]
    multi = len(ft.results) > 1
    if not ft.results or multi:
        cret = ir.VoidType()
    else:
        cret = I32 if ft.results[0] == "f32" else LLTYPE[ft.results[0]]
    fn = ir.Function(mc.ll, ir.FunctionType(cret, [PTR, PTR] + cparams +
                                            ([I64.as_pointer()] if multi else [])),
                     name=f"e{idx}")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    ctx, vmp = fn.args[0], fn.args[1]
    # no code is pending at a call from Python; one left over (an asynchronous exception
    # raised before the wrapper read it) must not stop this call
    b.store(I32(0), field(b, vmp, VM_TRAP, I32))
    limit_ptr = field(b, vmp, VM_LIMIT, I64)
    outer_limit = b.load(limit_ptr)
    sp = b.ptrtoint(b.call(mc.intrinsic("llvm.stacksave.p0", PTR, []), []), I64)
    own = b.sub(sp, b.load(field(b, vmp, VM_BUDGET, I64)))
    floor = b.load(field(b, vmp, VM_FLOOR, I64))
    own = b.select(b.icmp_unsigned("<", own, floor), floor, own)
    outermost = b.icmp_unsigned("==", outer_limit, I64(0))
    b.store(b.select(outermost, own, outer_limit), limit_ptr)
    args = [b.bitcast(a, LLTYPE["f32"]) if t == "f32" else a
            for a, t in zip(fn.args[2:], ft.params)]
    r = b.call(mc.llfuncs[idx], [ctx, vmp] + args)
    b.store(outer_limit, limit_ptr)
    if not ft.results:
        b.ret_void()
    elif not multi:
        b.ret(b.bitcast(r, I32) if ft.results[0] == "f32" else r)
    else:
        out = fn.args[-1]
        for i, t in enumerate(ft.results):
            b.store(to_slot(b, result_of(b, r, i, t), t), b.gep(out, [I64(i)]))
        b.ret_void()


def _lower(module: ast.Module, info, poll_loops: bool) -> tuple[str, list[str]]:
    mc = ModuleLowerer(module, info, poll_loops)
    for ft in mc.func_types[:mc.n_imported]:
        _check_type(ft, "an imported function")
    for fi in info.funcs:
        _check_type(fi.type, f"function {fi.index}")
        mc.llfuncs[fi.index] = ir.Function(mc.ll, func_type(fi.type), name=f"w{fi.index}")
    for fi, func in zip(info.funcs, module.funcs):
        FunctionLowerer(mc, fi.index, fi.type, fi.locals, func.body,
                        mc.llfuncs[fi.index], LOWERINGS).lower()
        _entry(mc, fi.index, fi.type)
    return str(mc.ll), _exports(info)


def _exports(info) -> list[str]:
    return [f"{p}{fi.index}" for fi in info.funcs for p in ("w", "e")]


# -- Python function instances ------------------------------------------------------------------

_makers: dict[FuncType, object] = {}
_NAMESPACE = {"f32_to_bits": f32_to_bits, "f32_from_bits": f32_from_bits,
              "FROM_SLOT": FROM_SLOT, "ref_handle": ref_handle, "release_refs": release_refs,
              "tls": vm.LOCAL}
_PARAM_IN = {"f32": "f32_to_bits({})", **{t: "ref_handle({})" for t in REFTYPES}}


def _maker(ft: FuncType):
    """``make(cfn, ctx, finish, out_t)`` -> the Python function instance body: it calls
    the entry with the calling thread's VM state."""
    make = _makers.get(ft)
    if make is None:
        params = [f"a{i}" for i in range(len(ft.params))]
        args = [_PARAM_IN.get(t, "{}").format(p) for p, t in zip(params, ft.params)]
        lines = ["def make(cfn, ctx, finish, out_t):"]
        for i, t in enumerate(ft.results):
            lines.append(f"    conv{i} = FROM_SLOT[{t!r}]")
        lines.append(f"    def call({', '.join(params)}):")
        lines.append("        st = tls.state")
        n = len(ft.results)
        if n > 1:
            lines.append("        out = out_t()")
            args.append("out")
        call = f"cfn(ctx, st.address{''.join(', ' + a for a in args)})"
        lines.append(f"        r = {call}" if n == 1 else f"        {call}")
        lines.append("        if st.vm.trap:")
        lines.append("            if st.refs: release_refs(st)")
        lines.append("            finish(st)")
        if n == 1 and ft.results[0] in ("f32", *REFTYPES):
            lines.append("        r = conv0(r)")
        elif n > 1:
            lines.append("        r = (" + "".join(f"conv{i}(out[{i}]), "
                                               for i in range(n)) + ")")
        lines.append("        if st.refs: release_refs(st)")     # handles end with native code
        if n:
            lines.append("        return r")
        lines.append("    return call")
        ns = dict(_NAMESPACE)
        exec(compile("\n".join(lines) + "\n", f"<native call {ft}>", "exec"), ns)
        make = _makers[ft] = ns["make"]
    return make


_protos: dict[FuncType, object] = {}


def _proto(ft: FuncType):
    p = _protos.get(ft)
    if p is None:
        n = len(ft.results)
        restype = CTYPE[ft.results[0]] if n == 1 else None
        extra = [ctypes.c_void_p] if n > 1 else []
        p = _protos[ft] = ctypes.CFUNCTYPE(restype, ctypes.c_void_p, ctypes.c_void_p,
                                           *[CTYPE[t] for t in ft.params], *extra)
    return p


class InstanceState:
    """The native context of one instance and everything its addresses point into."""

    __slots__ = ("ctx", "cells", "records", "tables", "keep", "handle", "library",
                 "__weakref__")

    def __init__(self, library: Library, inst, info):
        self.library = library
        self.ctx = (ctypes.c_uint64 * CTX_WORDS)()
        self.keep: list = []
        if inst.mems:
            desc = native_memory_desc(inst.mems[0])
            self.keep.append(desc)
            self.keep.append(inst.mems[0])
            self.ctx[0] = ctypes.addressof(desc)
        self.cells = (ctypes.c_uint64 * max(len(inst.globals), 1))()
        for i, g in enumerate(inst.globals):
            if g.type.type in LLTYPE and g.type.type not in REFTYPES:
                self.cells[i] = native_global(g).cell_address
                self.keep.append(g)
        self.ctx[1] = ctypes.addressof(self.cells)
        n_imported = len(info.func_types) - len(info.funcs)
        self.records = (ctypes.c_uint64 * max(3 * n_imported, 1))()
        for i in range(n_imported):
            func = inst.funcs[i]
            self.records[3 * i:3 * i + 3] = list(record_of(func))
            self.keep.append(func)
        self.ctx[2] = ctypes.addressof(self.records)
        self.tables = (ctypes.c_uint64 * max(len(inst.tables), 1))()
        for i, t in enumerate(inst.tables):
            if t.type.elem == "funcref":
                self.tables[i] = ctypes.addressof(native_table(t))
                self.keep.append(t)
        self.ctx[3] = ctypes.addressof(self.tables)
        self.keep.append(inst)          # runtime callbacks reach it while its code can run
        self.handle = vm.register_handle(weakref.proxy(inst))
        weakref.finalize(inst, vm.release_handle, self.handle)
        self.ctx[4] = self.handle

    @property
    def address(self) -> int:
        return ctypes.addressof(self.ctx)


class NativeModule:
    """A module's machine code (shared by all its instances); ``origin`` says where it came
    from: ``"compiled"`` here, ``"shipped"`` by another process, the disk ``"cache"``."""

    def __init__(self, library: Library, info, digest: str, origin: str = "compiled"):
        self.library = library
        self.info = info
        self.digest = digest
        self.origin = origin
        self.compat = ""        # the compatibility key the code was built or checked under

    def create(self, inst) -> list:
        """The defined functions of ``inst`` (whose imports, tables, memories and globals
        exist); converts the instance's objects to their native forms."""
        state = InstanceState(self.library, inst, self.info)
        ctx = state.address
        funcs = []
        lib = self.library
        for fi in self.info.funcs:
            ft = fi.type
            cfn = _proto(ft)(lib.address(f"e{fi.index}"))
            out_t = ctypes.c_uint64 * len(ft.results) if len(ft.results) > 1 else None
            f = _maker(ft)(cfn, ctx, vm.finish, out_t)
            f.type = ft
            f.native_ref = (lib.address(f"w{fi.index}"), ctx, vm.type_id(ft))
            f.native_state = state
            f.__qualname__ = f.__name__ = f"wasm_f{fi.index}"
            funcs.append(f)
        return funcs

    def __repr__(self) -> str:
        return f"<NativeModule {self.digest} funcs={len(self.info.funcs)} {self.origin}>"


def compile_module(module: ast.Module, info, poll_loops: bool = True) -> NativeModule:
    """Lower, optimize and link ``module``; ``Unsupported`` when it cannot. With
    ``poll_loops`` every loop header polls the thread's interrupt request."""
    collecting = gc.isenabled()
    gc.disable()                # lowering allocates millions of short-lived IR objects and
    try:                        # the collector's passes over them took half its time
        text, exports = _lower(module, info, poll_loops)
    finally:
        if collecting:
            gc.enable()
    digest = hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
    dump = os.environ.get("SHAREDWASM_DUMP")
    if dump:
        os.makedirs(dump, exist_ok=True)
        with open(os.path.join(dump, f"wasm-{digest}.ll"), "w", encoding="utf-8") as f:
            f.write(text)
    return NativeModule(compile_ir(text, exports), info, digest)


def load_module(obj: bytes, info, origin: str) -> NativeModule:
    """The ``NativeModule`` of an object ``compile_module`` emitted for this module (in a
    process with the same ``jit.compat_key()``): linked as is, not lowered again."""
    digest = hashlib.blake2b(obj, digest_size=6).hexdigest()
    return NativeModule(load_object(obj, _exports(info)), info, digest, origin)
