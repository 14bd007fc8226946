"""Module compilation: each defined function -> Python source, compiled on first call.

An instance's generated functions run with one namespace dict as their globals: the
helpers of ``helpers.NAMESPACE``, the module's bound constants, and the instance's
memories, tables, globals, tags, segments and functions under short names (``M0``,
``T0``/``E0``, ``G0``, ``TAG0``, ``f3``...). Instantiation only builds that dict and one
stub per defined function; a stub's first call generates and compiles the function's
source (once per module: the code object is shared by every instance) and replaces the
stub's ``__code__``, so every reference to it (exports, tables, callers) runs the real
code from then on at no extra cost. Each function's source is registered with
``linecache`` (tracebacks show it); ``$SHAREDWASM_DUMP/`` receives the whole module's
source (every function generated) when that variable names a folder.
"""
from __future__ import annotations

import hashlib
import linecache
import os
import threading
from collections import OrderedDict
from types import CodeType, FunctionType

from ...errors import CompileError
from ...runtime.funcs import target
from ...runtime.memory import VIEWS
from ...spec import ast
from ...spec.opcodes import OPS
from .codegen import FunctionCompiler
from .helpers import NAMESPACE
from .lower_control import CONTROL
from .lower_memory import MEMORY, views_used
from .lower_numeric import NUMERIC
from .lower_ref import REFERENCE
from .lower_simd import SIMD
from .lower_variable import VARIABLE

__all__ = ["CompiledModule", "compile_module", "LOWERINGS"]

#: mnemonic -> lowering, for every instruction this tier executes
LOWERINGS: dict = {**CONTROL, **VARIABLE, **NUMERIC, **MEMORY, **REFERENCE, **SIMD}

_TAIL_CALLS = frozenset({"return_call", "return_call_indirect"})
_ZERO = {"i32": "0", "i64": "0", "f32": "0.0", "f64": "0.0", "v128": "0"}


def _stub_code() -> CodeType:
    scope: dict = {}
    exec("def stub(*args, _i_=0):\n    return _lazy_(_i_, args)\n", scope)
    return scope["stub"].__code__


#: the code of a function not compiled yet (its index is its keyword default ``_i_``)
_STUB = _stub_code()


class CompiledModule:
    """A module's functions, generated and compiled on demand, shared by all its instances."""

    def __init__(self, mc: "ModuleCompiler"):
        self.mc = mc
        self.nfuncs = len(mc.info.funcs)
        self.filename = f"<wasm-module-{id(mc.module):x}>"
        self._codes: dict[int, CodeType] = {}
        self._sources: dict[int, list[str]] = {}
        self._lock = threading.RLock()
        self._source: str | None = None

    # --- per function -----------------------------------------------------------------------
    def function_source(self, k: int) -> list[str]:
        """The source lines of the ``k``-th defined function (indented for the factory
        form; compiled inside ``if True:``)."""
        lines = self._sources.get(k)
        if lines is None:
            mc = self.mc
            lines = _function_source(mc, mc.info.funcs[k], mc.module.funcs[k])
            self._sources[k] = lines
        return lines

    def function_code(self, k: int) -> CodeType:
        """The compiled code defining the ``k``-th defined function (once per module)."""
        code = self._codes.get(k)
        if code is not None:
            return code
        with self._lock:
            code = self._codes.get(k)
            if code is not None:
                return code
            src = "if True:\n" + "\n".join(self.function_source(k)) + "\n"
            digest = hashlib.blake2b(src.encode(), digest_size=6).hexdigest()
            filename = f"<wasm-{digest}>"
            try:
                code = compile(src, filename, "exec")
            except (SyntaxError, MemoryError, ValueError) as err:
                raise CompileError(f"function too complex for the Python tier: {err}",
                                   func_index=self.mc.info.funcs[k].index) from None
            linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
            self._codes[k] = code
            return code

    @property
    def source(self) -> str:
        """The whole module's source: every function generated (dumps, tests)."""
        if self._source is None:
            mc = self.mc
            funcs_src = [self.function_source(k) for k in range(self.nfuncs)]
            label = mc.module.id or mc.module.names.module
            self._source = _factory_source(mc, funcs_src, f"module {label or ''}".rstrip())
        return self._source

    # --- per instance -----------------------------------------------------------------------
    def create(self, inst) -> list:
        """The defined functions of ``inst`` (a ``ModuleInstance`` whose imports,
        tables, memories, globals and tags exist), as stubs compiled on first call."""
        mc = self.mc
        info, module = mc.info, mc.module
        ns = dict(NAMESPACE)
        ns.update(mc.constants)
        ns["inst"] = inst
        funcs = inst.funcs
        for i in range(mc.n_imported):
            ns[f"F{i}"] = funcs[i]
            ns[f"f{i}"] = target(funcs[i])
        for i in range(len(info.table_types)):
            t = inst.tables[i]
            ns[f"T{i}"] = t
            ns[f"E{i}"] = t.elements
        for i in range(len(info.mem_types)):
            ns[f"M{i}"] = inst.mems[i]
        for i in range(len(info.global_types)):
            ns[f"G{i}"] = inst.globals[i]
        for i in range(len(info.tag_types)):
            ns[f"TAG{i}"] = inst.tags[i]
        ns["ELEMS"] = inst.elems
        ns["DATAS"] = inst.datas
        types = ns["types"] = inst.types
        for i in range(len(module.types)):
            ns[f"TY{i}"] = types[i]
        out = []
        for k, (fi, func) in enumerate(zip(info.funcs, module.funcs)):
            i = fi.index
            fn = FunctionType(_STUB, ns, f"f{i}")
            fn.__kwdefaults__ = {"_i_": k}
            fn.type = types[func.type_index]
            ns[f"f{i}"] = ns[f"F{i}"] = fn
            if i in mc.tail_funcs:
                body = FunctionType(_STUB, ns, f"t{i}")
                body.__kwdefaults__ = {"_i_": k}
                ns[f"t{i}"] = fn.tail = body
            out.append(fn)
        ns["_lazy_"] = self._resolver(ns)
        return out

    def _resolver(self, ns: dict):
        """The stubs' entry: compile function ``k``, give its stubs the real code, call."""
        def lazy(k: int, args: tuple):
            i = self.mc.info.funcs[k].index
            code = self.function_code(k)
            ns.update(self.mc.constants)
            names = [f"f{i}"] + ([f"t{i}"] if i in self.mc.tail_funcs else [])
            stubs = [ns[n] for n in names]
            with self._lock:
                # the definitions land in ns for a moment: take their code, put stubs back
                exec(code, ns)
                for n, stub in zip(names, stubs):
                    stub.__code__ = ns[n].__code__
                    stub.__kwdefaults__ = None
                    ns[n] = stub
            return stubs[0](*args)
        return lazy

    def __repr__(self) -> str:
        return f"<CompiledModule {self.filename} funcs={self.nfuncs}>"


class ModuleCompiler:
    """Module-wide facts the function compilers need, and the module's bound constants."""

    def __init__(self, module: ast.Module, info):
        self.module = module
        self.info = info
        self.func_types = info.func_types
        self.global_types = info.global_types
        self.tag_types = info.tag_types
        self.constants: dict = {}
        self.has_memory = bool(info.mem_types)
        #: memory 0 is a plain ``MemoryInst`` with typed views (shared ones have none)
        self.mem_views = bool(self.has_memory and VIEWS
                              and not info.mem_types[0].limits.shared)
        self.n_imported = len(module.imported("func"))
        #: defined functions that make tail calls: each is a body ``t<i>`` returning
        #: ``TailCall`` requests and a trampoline ``f<i>`` making them
        self.tail_funcs = {fi.index for fi, func in zip(info.funcs, module.funcs)
                           if any(ins[0] in _TAIL_CALLS for ins in func.body)}

    def func_name(self, index: int) -> str | None:
        return self.module.names.funcs.get(index)

    def constant(self, value: object) -> str:
        """A name bound to ``value`` in the namespace (NaN floats keep their bits)."""
        name = f"K{len(self.constants)}"
        self.constants[name] = value
        return name


def _uses_memory(body: list) -> bool:
    for ins in body:
        name = ins[0]
        if OPS[name].align is not None or name.startswith("memory."):
            return True
    return False


def _function_source(mc: ModuleCompiler, fi, func: ast.Func) -> list[str]:
    fc = FunctionCompiler(mc, fi.index, fi.type, fi.locals, func.body, LOWERINGS)
    fc.uses_memory = mc.has_memory and _uses_memory(func.body)
    if fc.uses_memory and mc.mem_views:
        fc.views = views_used(func.body)
    fc.indent = 3
    try:
        body = fc.compile()
    except CompileError as err:
        if "SIMD" not in err.message:
            raise
        # the rest of the module stays usable; this function fails when it is called
        fc.uses_memory = fc.uses_br = False
        fc.views = {}
        body = [f"            raise CompileError({err.message!r}, func_index={fi.index})"]
    nparams = len(fi.type.params)
    params = ", ".join(f"l{i}" for i in range(nparams))
    name = mc.func_name(fi.index)
    tail = fi.index in mc.tail_funcs
    out = [f"    def {'t' if tail else 'f'}{fi.index}({params}):",
           f"        # func {fi.index}{' $' + name if name else ''} {fi.type}"]
    for i, t in enumerate(fi.locals[nparams:], nparams):
        out.append(f"        l{i} = {_ZERO.get(t, 'None')}")
    if fc.uses_memory:
        out.append("        " + fc.memory_reload())
    if fc.uses_br:
        out.append("        br_ = 0")
    out.append("        try:")
    out.extend(body)
    out.append("        except PY_ERRORS as e_:")
    out.append("            if e_.__traceback__.tb_next is None:")
    out.append("                raise trap_of(e_) from None")
    out.append("            raise")
    if tail:
        out.extend([f"    def f{fi.index}({params}):",
                    f"        r = t{fi.index}({params})",
                    "        while r.__class__ is TailCall:",
                    "            r = r.fn(*r.args)",
                    "        return r",
                    f"    f{fi.index}.tail = t{fi.index}"])
    return out


def _factory_source(mc: ModuleCompiler, funcs_src: list[list[str]], title: str) -> str:
    """The whole module as one readable factory binding the instance's objects to the names
    the functions use (what ``CompiledModule.create`` puts in the namespace dict)."""
    m, info = mc.module, mc.info
    lines = [f"# {title}", "def _factory(inst, target):"]
    n_imported = len(m.imported("func"))
    lines.append("    funcs = inst.funcs")
    for i in range(n_imported):
        lines.append(f"    F{i} = funcs[{i}]; f{i} = target(F{i})")
    for i in range(len(info.table_types)):
        lines.append(f"    T{i} = inst.tables[{i}]; E{i} = T{i}.elements")
    for i in range(len(info.mem_types)):
        lines.append(f"    M{i} = inst.mems[{i}]")
    for i in range(len(info.global_types)):
        lines.append(f"    G{i} = inst.globals[{i}]")
    for i in range(len(info.tag_types)):
        lines.append(f"    TAG{i} = inst.tags[{i}]")
    lines.append("    ELEMS = inst.elems; DATAS = inst.datas; types = inst.types")
    for i in range(len(m.types)):
        lines.append(f"    TY{i} = types[{i}]")
    for src in funcs_src:
        lines.extend(src)
    for fi, func in zip(info.funcs, m.funcs):
        lines.append(f"    f{fi.index}.type = TY{func.type_index}; F{fi.index} = f{fi.index}")
    lines.append("    return [" + ", ".join(f"f{fi.index}" for fi in info.funcs) + "]")
    return "\n".join(lines) + "\n"


def _build(module: ast.Module, info) -> CompiledModule:
    compiled = CompiledModule(ModuleCompiler(module, info))
    dump = os.environ.get("SHAREDWASM_DUMP")
    if dump:
        source = compiled.source
        digest = hashlib.blake2b(source.encode(), digest_size=6).hexdigest()
        os.makedirs(dump, exist_ok=True)
        with open(os.path.join(dump, f"wasm-{digest}.py"), "w", encoding="utf-8") as f:
            f.write(source)
    return compiled


_CACHE: OrderedDict[int, tuple[ast.Module, CompiledModule]] = OrderedDict()
_CACHE_SIZE = 64


def compile_module(module: ast.Module, info) -> CompiledModule:
    """Compile ``module`` (validated; ``info`` from ``validate_module``) once; later calls
    with the same module object reuse the result."""
    key = id(module)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is module:
        _CACHE.move_to_end(key)
        return hit[1]
    compiled = _build(module, info)
    _CACHE[key] = (module, compiled)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return compiled
