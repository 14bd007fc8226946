"""Module validation (spec chapter 3.4): index spaces, limits, constant expressions,
segments, exports and start; function bodies are delegated to ``code.validate_body``.

``validate_module`` returns a ``ModuleInfo`` with what the compilers need and raises
``ValidationError`` with the suites' wording otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ALL_FEATURES, ValidationError
from ..spec import ast
from ..spec.types import (HEAP_TO_REF, MAX_PAGES, MAX_TABLE, FuncType, GlobalType, Limits,
                          MemType, TableType, TagType)
from .code import CodeContext, tables_for, validate_body

__all__ = ["FuncInfo", "ModuleInfo", "validate_module", "validate_const"]


@dataclass(slots=True)
class FuncInfo:
    """What validation learnt about one defined function."""

    index: int                  # in the function index space (imports first)
    type: FuncType
    locals: list[str]           # parameters, then declared locals
    max_height: int             # the most operands ever on the stack at once
    heights: list[int]          # operand stack height before each instruction of the body


@dataclass(slots=True)
class ModuleInfo:
    """The module's index spaces (imports first) and per-function facts."""

    funcs: list[FuncInfo] = field(default_factory=list)        # defined functions, in order
    func_types: list[FuncType] = field(default_factory=list)
    table_types: list[TableType] = field(default_factory=list)
    mem_types: list[MemType] = field(default_factory=list)
    global_types: list[GlobalType] = field(default_factory=list)
    tag_types: list[FuncType] = field(default_factory=list)
    declared_refs: frozenset[int] = frozenset()


_CONST_TYPES = {"i32.const": "i32", "i64.const": "i64", "f32.const": "f32",
                "f64.const": "f64", "v128.const": "v128"}
_EXPORT_SPACES = {"func": "function", "table": "table", "memory": "memory",
                  "global": "global", "tag": "tag"}


def _type(types: list[FuncType], idx) -> FuncType:
    if not isinstance(idx, int) or not 0 <= idx < len(types):
        raise ValidationError(f"unknown type {idx}")
    return types[idx]


def _check_limits(lim: Limits, bound: int, msg: str) -> None:
    if lim.min > bound:
        raise ValidationError(msg)
    if lim.max is not None:
        if lim.max > bound:
            raise ValidationError(msg)
        if lim.min > lim.max:
            raise ValidationError("size minimum must not be greater than maximum")


def _check_table(t: TableType) -> None:
    _check_limits(t.limits, MAX_TABLE, "table size must be at most 2^32-1")


def _check_memory(t: MemType) -> None:
    _check_limits(t.limits, MAX_PAGES, "memory size must be at most 65536 pages (4GiB)")
    if t.limits.shared and t.limits.max is None:
        raise ValidationError("shared memory must have maximum")


def _tag_type(types: list[FuncType], desc) -> FuncType:
    ft = _type(types, desc.type_index if isinstance(desc, TagType) else desc)
    if ft.results:
        raise ValidationError("non-empty tag result type")
    return ft


def validate_const(expr: list, expected: str, funcs: int, globals_: list[GlobalType]) -> None:
    """A constant expression of type ``expected``; ``globals_`` are the ones it may read
    (the imported globals in WebAssembly 2.0)."""
    stack: list[str] = []
    for ins in expr:
        name, args = ins[0], ins[1]
        t = _CONST_TYPES.get(name)
        if t is None:
            if name == "ref.null":
                t = HEAP_TO_REF.get(args[0])
                if t is None:
                    raise ValidationError(f"unknown heap type {args[0]}")
            elif name == "ref.func":
                if not 0 <= args[0] < funcs:
                    raise ValidationError(f"unknown function {args[0]}")
                t = "funcref"
            elif name == "global.get":
                if not 0 <= args[0] < len(globals_):
                    raise ValidationError(f"unknown global {args[0]}")
                g = globals_[args[0]]
                if g.mutable:
                    raise ValidationError("constant expression required")
                t = g.type
            else:
                raise ValidationError("constant expression required")
        stack.append(t)
    if stack != [expected]:
        raise ValidationError(
            f"type mismatch: constant expression of type [{' '.join(stack)}], "
            f"expected [{expected}]")


def _declared_refs(m: ast.Module) -> set[int]:
    """The spec's C.refs: functions referenced outside function bodies."""
    refs = {e.index for e in m.exports if e.kind == "func"}
    exprs = [g.init for g in m.globals]
    for e in m.elems:
        exprs.extend(e.init)
    for expr in exprs:
        for ins in expr:
            if ins[0] == "ref.func":
                refs.add(ins[1][0])
    return refs


def validate_module(m: ast.Module, features: frozenset[str] = ALL_FEATURES) -> ModuleInfo:
    """Validate ``m`` (the spec's judgement ⊢ module); returns what compilers need."""
    features = frozenset(features)
    types = m.types
    func_types: list[FuncType] = []
    table_types: list[TableType] = []
    mem_types: list[MemType] = []
    global_types: list[GlobalType] = []
    tag_types: list[FuncType] = []
    for imp in m.imports:
        if imp.kind == "func":
            func_types.append(_type(types, imp.desc))
        elif imp.kind == "table":
            _check_table(imp.desc)
            table_types.append(imp.desc)
        elif imp.kind == "memory":
            _check_memory(imp.desc)
            mem_types.append(imp.desc)
        elif imp.kind == "global":
            global_types.append(imp.desc)
        elif imp.kind == "tag":
            tag_types.append(_tag_type(types, imp.desc))
        else:
            raise ValidationError(f"unknown import kind {imp.kind}")
    imported_globals = list(global_types)
    n_imported_funcs = len(func_types)
    for f in m.funcs:
        func_types.append(_type(types, f.type_index))
    if "multi-value" not in features and any(len(t.results) > 1 for t in func_types):
        raise ValidationError("invalid result arity")
    for t in m.tags:
        tag_types.append(_tag_type(types, t))
    for t in m.tables:
        _check_table(t)
        table_types.append(t)
    for t in m.mems:
        _check_memory(t)
        mem_types.append(t)
    if len(mem_types) > 1:
        raise ValidationError("multiple memories")
    if len(table_types) > 1 and "reference-types" not in features:
        raise ValidationError("multiple tables")

    nfuncs = len(func_types)
    for g in m.globals:
        validate_const(g.init, g.type.type, nfuncs, imported_globals)
        global_types.append(g.type)
    for e in m.elems:
        for expr in e.init:
            validate_const(expr, e.type, nfuncs, imported_globals)
        if e.mode == "active":
            if not 0 <= e.table < len(table_types):
                raise ValidationError(f"unknown table {e.table}")
            if table_types[e.table].elem != e.type:
                raise ValidationError(
                    f"type mismatch: {e.type} segment for a {table_types[e.table].elem} table")
            validate_const(e.offset or [], "i32", nfuncs, imported_globals)
    for d in m.datas:
        if d.mode == "active":
            if not 0 <= d.memory < len(mem_types):
                raise ValidationError(f"unknown memory {d.memory}")
            validate_const(d.offset or [], "i32", nfuncs, imported_globals)

    refs = _declared_refs(m)
    ctx = CodeContext(types, func_types, table_types, mem_types, global_types, tag_types,
                      [e.type for e in m.elems], len(m.datas), refs, features,
                      multi_value="multi-value" in features)
    tables = tables_for(features)
    infos: list[FuncInfo] = []
    for i, f in enumerate(m.funcs):
        index = n_imported_funcs + i
        ft = func_types[index]
        local_types = list(ft.params)
        for count, t in f.locals:
            local_types.extend([t] * count)
        try:
            heights, max_height = validate_body(ctx, ft, local_types, f.body, tables)
        except ValidationError as err:
            if err.offset is None and f.offset >= 0:
                err.located(offset=f.offset)
            raise err.located(func_index=index, func_name=m.names.funcs.get(index))
        infos.append(FuncInfo(index, ft, local_types, max_height, heights))

    if m.start is not None:
        if not 0 <= m.start < nfuncs:
            raise ValidationError(f"unknown function {m.start}")
        st = func_types[m.start]
        if st.params or st.results:
            raise ValidationError("start function")
    spaces = {"func": func_types, "table": table_types, "memory": mem_types,
              "global": global_types, "tag": tag_types}
    names: set[str] = set()
    for e in m.exports:
        space = spaces.get(e.kind)
        if space is None:
            raise ValidationError(f"unknown export kind {e.kind}")
        if not 0 <= e.index < len(space):
            raise ValidationError(f"unknown {_EXPORT_SPACES[e.kind]} {e.index}")
        if e.name in names:
            raise ValidationError("duplicate export name")
        names.add(e.name)
    return ModuleInfo(infos, func_types, table_types, mem_types, global_types, tag_types,
                      frozenset(refs))
