"""Module instances and instantiation (spec 4.5.3-4.5.4), independent of the execution tier.

``instantiate`` allocates the instance from the resolved imports, asks the tier for the
defined functions (``build_funcs``), evaluates constant expressions, applies active
segments in order (a failing segment traps after earlier ones took effect), drops
declarative ones and runs the start function. ``invoke`` is the one entry point for calling
a function from outside wasm: it turns Python's recursion exhaustion into the spec's trap.
"""
from __future__ import annotations

from typing import Callable, Sequence

from ..errors import LinkError
from ..spec import ast
from ..spec.types import FuncType
from . import callstack
from .exceptions import TagInst
from .funcs import HostFunc
from .globals import GlobalInst
from .memory import MemoryInst, new_memory
from .numerics import M32, M64, f32_from_bits, f64_from_bits
from .table import TableInst
from .traps import OOB_MEMORY, OOB_TABLE, STACK_EXHAUSTED, Trap

__all__ = ["ModuleInstance", "instantiate", "invoke", "eval_const", "results_of"]

_KIND_OF_EXTERN = {"func": "funcs", "table": "tables", "memory": "mems", "global": "globals",
                   "tag": "tags"}


class ModuleInstance:
    """Index spaces (imports first) plus the instance's segments and exports.

    ``elems[i]`` is the list of references of element segment i (empty once dropped);
    ``datas[i]`` the bytes of data segment i (empty once dropped). Both lists are mutated
    in place, never replaced, so compiled code may hold them.
    """

    __slots__ = ("module", "types", "funcs", "tables", "mems", "globals", "tags", "elems",
                 "datas", "exports", "__weakref__")

    def __init__(self, module: ast.Module):
        self.module = module
        self.types: list[FuncType] = list(module.types)
        self.funcs: list = []
        self.tables: list[TableInst] = []
        self.mems: list[MemoryInst] = []
        self.globals: list[GlobalInst] = []
        self.tags: list[TagInst] = []
        self.elems: list[list] = []
        self.datas: list[bytes] = []
        self.exports: dict[str, object] = {}

    def __repr__(self) -> str:
        return (f"<ModuleInstance funcs={len(self.funcs)} tables={len(self.tables)} "
                f"mems={len(self.mems)} globals={len(self.globals)} exports={len(self.exports)}>")


def eval_const(expr: list, inst: ModuleInstance) -> object:
    """Evaluate a constant expression against ``inst`` (its globals and functions so far)."""
    stack: list = []
    for ins in expr:
        name, args = ins[0], ins[1]
        if name == "i32.const":
            stack.append(args[0] & M32)
        elif name == "i64.const":
            stack.append(args[0] & M64)
        elif name == "f32.const":
            stack.append(f32_from_bits(args[0]))
        elif name == "f64.const":
            stack.append(f64_from_bits(args[0]))
        elif name == "v128.const":
            stack.append(int.from_bytes(bytes(args[0]), "little"))
        elif name == "ref.null":
            stack.append(None)
        elif name == "ref.func":
            stack.append(inst.funcs[args[0]])
        elif name == "global.get":
            stack.append(inst.globals[args[0]].value)
        elif name in _EXTENDED:
            b = stack.pop()
            a = stack.pop()
            stack.append(_EXTENDED[name](a, b))
        else:
            raise LinkError(f"constant expression required ({name})")
    return stack[-1]


_EXTENDED: dict[str, Callable[[int, int], int]] = {
    "i32.add": lambda a, b: (a + b) & M32, "i32.sub": lambda a, b: (a - b) & M32,
    "i32.mul": lambda a, b: (a * b) & M32, "i64.add": lambda a, b: (a + b) & M64,
    "i64.sub": lambda a, b: (a - b) & M64, "i64.mul": lambda a, b: (a * b) & M64,
}


def _collect_imports(inst: ModuleInstance, module: ast.Module, externs: Sequence) -> None:
    if len(externs) != len(module.imports):
        raise LinkError(f"expected {len(module.imports)} imports, got {len(externs)}")
    for imp, ext in zip(module.imports, externs):
        getattr(inst, _KIND_OF_EXTERN[imp.kind]).append(ext)


def instantiate(module: ast.Module, info, externs: Sequence,
                build_funcs: Callable[[ModuleInstance], list]) -> ModuleInstance:
    """The spec's instantiate: ``externs`` are the resolved imports in import order,
    already type-checked; ``build_funcs(inst)`` returns the defined functions (it may read
    every index space of ``inst`` except the defined functions themselves)."""
    inst = ModuleInstance(module)
    _collect_imports(inst, module, externs)
    for t in module.tables:
        inst.tables.append(TableInst(t, None))
    for t in module.mems:
        inst.mems.append(new_memory(t.limits))
    for t in module.tags:
        inst.tags.append(TagInst(module.types[t.type_index]))
    n_imported_globals = len(inst.globals)
    for g in module.globals:
        inst.globals.append(GlobalInst(g.type))
    inst.funcs.extend(build_funcs(inst))
    for g, cell in zip(module.globals, inst.globals[n_imported_globals:]):
        cell.value = eval_const(g.init, inst)
    for e in module.elems:
        inst.elems.append([eval_const(expr, inst) for expr in e.init])
    inst.datas.extend(d.init for d in module.datas)
    for x in module.exports:
        inst.exports[x.name] = getattr(inst, _KIND_OF_EXTERN[x.kind])[x.index]

    for i, e in enumerate(module.elems):
        if e.mode == "active":
            offset = eval_const(e.offset, inst)
            refs = inst.elems[i]
            elements = inst.tables[e.table].elements
            if offset + len(refs) > len(elements):
                raise Trap(OOB_TABLE)
            elements[offset:offset + len(refs)] = refs
            inst.elems[i] = []
        elif e.mode == "declarative":
            inst.elems[i] = []
    for i, d in enumerate(module.datas):
        if d.mode == "active":
            offset = eval_const(d.offset, inst)
            mem = inst.mems[d.memory]
            if offset + len(d.init) > mem.size_bytes:
                raise Trap(OOB_MEMORY)
            mem.data[offset:offset + len(d.init)] = d.init
            inst.datas[i] = b""
    if module.start is not None:
        invoke(inst.funcs[module.start], ())
    return inst


def results_of(func, value) -> list:
    """A function's return value in the calling convention -> a list of results."""
    n = len(func.type.results)
    if n == 0:
        return []
    if n == 1:
        return [value]
    return list(value)


def invoke(func, args: Sequence) -> list:
    """Call a function instance with internal values; returns the list of results.

    Python's recursion limit stands for the wasm call stack (raised to
    ``callstack.DEPTH_LIMIT`` while wasm runs): RecursionError (and a MemoryError from
    very deep recursion) become the "call stack exhausted" trap.
    """
    callstack.enter()
    try:
        value = func(*args)
    except RecursionError:
        raise Trap(STACK_EXHAUSTED) from None
    except MemoryError:
        raise Trap(STACK_EXHAUSTED) from None
    finally:
        callstack.leave()
    return results_of(func, value)


def as_host(func) -> HostFunc:
    """Wrap any function instance so it is a ``HostFunc`` (used by tests and tools)."""
    return func if isinstance(func, HostFunc) else HostFunc(func.type, func)
