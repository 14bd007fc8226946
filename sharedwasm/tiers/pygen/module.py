"""Module compilation: all functions of a module -> one Python source with a factory.

The source defines ``_factory(inst)``: it binds the instance's memories, tables, globals,
tags, segments and imported functions to local names (closure cells of the generated
functions, as fast as locals) and defines one Python function per defined wasm function.
The source is compiled once per module; each instantiation runs the factory. The source is
registered with ``linecache`` (tracebacks show it) and written to ``$SHAREDWASM_DUMP/``
when that variable names a folder.
"""
from __future__ import annotations

import hashlib
import linecache
import os
from collections import OrderedDict

from ...errors import CompileError
from ...runtime.funcs import target
from ...spec import ast
from ...spec.opcodes import OPS
from .codegen import FunctionCompiler
from .helpers import NAMESPACE
from .lower_control import CONTROL
from .lower_memory import MEMORY
from .lower_numeric import NUMERIC
from .lower_ref import REFERENCE
from .lower_variable import VARIABLE

__all__ = ["CompiledModule", "compile_module", "LOWERINGS"]

#: mnemonic -> lowering, for every instruction this tier executes
LOWERINGS: dict = {**CONTROL, **VARIABLE, **NUMERIC, **MEMORY, **REFERENCE}

_TAIL_CALLS = frozenset({"return_call", "return_call_indirect"})
_ZERO = {"i32": "0", "i64": "0", "f32": "0.0", "f64": "0.0"}


class CompiledModule:
    """A module's generated source and its factory (shared by all its instances)."""

    def __init__(self, source: str, filename: str, factory, nfuncs: int):
        self.source = source
        self.filename = filename
        self.factory = factory
        self.nfuncs = nfuncs

    def create(self, inst) -> list:
        """The defined functions of ``inst`` (a ``ModuleInstance`` whose imports,
        tables, memories, globals and tags exist)."""
        return self.factory(inst, target)

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
    fc.indent = 3
    try:
        body = fc.compile()
    except CompileError as err:
        if "SIMD" not in err.message:
            raise
        # the rest of the module stays usable; this function fails when it is called
        fc.uses_memory = fc.uses_br = False
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
        out.append("        mem = M0.data")
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
    mc = ModuleCompiler(module, info)
    funcs_src = []
    for fi, func in zip(info.funcs, module.funcs):
        funcs_src.append(_function_source(mc, fi, func))
    body = _factory_source(mc, funcs_src, "")
    digest = hashlib.blake2b(body.encode(), digest_size=6).hexdigest()
    label = module.id or module.names.module
    title = f"module {label + ' ' if label else ''}{digest}"
    source = f"# {title}" + body[1:]
    filename = f"<wasm-{digest}>"
    namespace = dict(NAMESPACE)
    namespace.update(mc.constants)
    try:
        code = compile(source, filename, "exec")
    except (SyntaxError, RecursionError, MemoryError, ValueError) as err:
        raise CompileError(f"function too complex for the Python tier: {err}") from None
    exec(code, namespace)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    dump = os.environ.get("SHAREDWASM_DUMP")
    if dump:
        os.makedirs(dump, exist_ok=True)
        with open(os.path.join(dump, f"wasm-{digest}.py"), "w", encoding="utf-8") as f:
            f.write(source)
    return CompiledModule(source, filename, namespace["_factory"], len(info.funcs))


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
