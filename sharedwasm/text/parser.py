"""Modules of the text format (spec 6.6): WAT -> ``ast.Module``.

Two passes over the module fields: the first binds every identifier to its index (imports
first in each index space, as the spec requires them to precede definitions), the second
builds the AST in textual order, expanding abbreviations (inline imports/exports, inline
type uses, inline elem/data of tables and memories) and resolving identifiers. Implicit
function types created by type uses are appended after the explicit ones.
"""
from __future__ import annotations

from typing import Callable

from ..errors import ALL_FEATURES, ParseError
from ..spec import ast
from ..spec.types import (REF_TYPES, VAL_TYPES, FuncType, GlobalType, Limits, MemType,
                          TableType, TagType, PAGE_SIZE)
from . import numbers, sexpr
from .instructions import Cursor, FuncScope, error_at, number, parse_expr, unexpected
from .sexpr import Atom, List

__all__ = ["parse_module", "parse_module_node", "binary_module_bytes", "ModuleContext"]

SPACES = ("type", "func", "table", "memory", "global", "tag", "elem", "data")
_IMPORT_KINDS = {"func": "function", "table": "table", "memory": "memory", "global": "global",
                 "tag": "tag"}
#: section ids in binary order, for custom section placement
_SECTION_ORDER = [("type", 1), ("import", 2), ("func", 3), ("table", 4), ("memory", 5),
                  ("tag", 13), ("global", 6), ("export", 7), ("start", 8), ("elem", 9),
                  ("datacount", 12), ("code", 10), ("data", 11)]
_SECTION_ID = dict(_SECTION_ORDER)
#: instructions whose presence requires the data count section
_DATA_INDEX_USERS = frozenset({"memory.init", "data.drop"})
#: type names of earlier drafts, reported like the spec's obsolete-keywords tests expect
_OBSOLETE_TYPES = frozenset({"anyfunc"})


def parse_module(text: str | bytes, features=ALL_FEATURES, source: str | None = None
                 ) -> ast.Module:
    """Parse a text module: one ``(module ...)`` or a bare sequence of module fields."""
    try:
        nodes = sexpr.parse(text, source)
    except ParseError as unbalanced:
        if "unbalanced parenthesis" not in unbalanced.message:
            raise
        # Report an error that comes before the missing parenthesis, if there is one.
        nodes = sexpr.parse(text, source, close_open=True)
        try:
            _parse_nodes(nodes, features, source)
        except ParseError as earlier:
            raise earlier from None
        raise unbalanced from None
    return _parse_nodes(nodes, features, source)


def _parse_nodes(nodes: list, features, source: str | None) -> ast.Module:
    if len(nodes) == 1 and isinstance(nodes[0], List) and nodes[0].head() == "module":
        return parse_module_node(nodes[0], features)
    for node in nodes:
        if isinstance(node, List) and node.head() == "module":
            raise error_at(node, "unexpected token")
    fake = List([Atom("keyword", "module", "module", 1, 1, 0)] + nodes, 1, 1, 0,
                source=source)
    return parse_module_node(fake, features)


def parse_module_node(node: List, features=ALL_FEATURES,
                      decode: Callable[..., ast.Module] | None = None) -> ast.Module:
    """Parse a ``(module ...)`` list, including the ``binary`` and ``quote`` forms.

    The text and binary formats stay independent (docs/architecture.md), so a ``binary``
    module is decoded by ``decode(data, features=...)`` given by the caller (for example
    ``sharedwasm.binary.decode.decode_module``); without it that form is refused.
    """
    cur = Cursor(node.items, 1, node)
    ident = cur.peek_atom("id")
    if ident is not None:
        cur.i += 1
    if cur.keyword("binary"):
        data = _strings(cur)
        if decode is None:
            raise error_at(node, "binary module needs a decoder")
        module = decode(data, features=features)
        if ident is not None:
            module.id = ident.value
        return module
    if cur.keyword("quote"):
        data = _strings(cur, b" ")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise error_at(node, "malformed UTF-8 encoding") from None
        module = parse_module(text, features, node.source)
        if ident is not None:
            module.id = ident.value
        return module
    ctx = ModuleContext(features)
    try:
        module = ctx.build(node.items[cur.i:], node)
    except RecursionError:
        raise error_at(node, "nesting too deep") from None
    module.id = ident.value if ident is not None else None
    return module


def binary_module_bytes(node: List) -> bytes | None:
    """The bytes of a ``(module $id? binary "..."*)`` list; None for other module forms."""
    cur = Cursor(node.items, 1, node)
    if cur.peek_atom("id") is not None:
        cur.i += 1
    return _strings(cur) if cur.keyword("binary") else None


def _strings(cur: Cursor, sep: bytes = b"") -> bytes:
    parts = []
    while not cur.at_end():
        node = cur.next()
        if not isinstance(node, Atom) or node.kind != "string":
            raise unexpected(node)
        parts.append(node.value)
    return sep.join(parts)


def _name(node) -> str:
    if not isinstance(node, Atom) or node.kind != "string":
        raise unexpected(node) if node is not None else ParseError("unexpected token")
    try:
        return node.value.decode("utf-8")
    except UnicodeDecodeError:
        raise error_at(node, "malformed UTF-8 encoding") from None


class ModuleContext:
    """Index spaces, identifier bindings and type uses of the module being parsed."""

    def __init__(self, features=ALL_FEATURES):
        self.features = features
        self.names: dict[str, dict[str, int]] = {s: {} for s in SPACES}
        self.counts: dict[str, int] = {s: 0 for s in SPACES}
        self.types: list[FuncType] = []
        self.module = ast.Module()

    # --- identifiers ----------------------------------------------------------------------
    def bind(self, space: str, ident: Atom | None) -> int:
        index = self.counts[space]
        self.counts[space] = index + 1
        if ident is not None:
            names = self.names[space]
            if ident.value in names:
                raise error_at(ident, f"duplicate {space}")
            names[ident.value] = index
        return index

    def resolve(self, space: str, node) -> int:
        if isinstance(node, Atom) and node.kind == "id":
            index = self.names[space].get(node.value)
            if index is None:
                raise error_at(node, f"unknown {space}")
            return index
        if not isinstance(node, Atom) or node.kind != "number":
            raise unexpected(node)
        return number(node, numbers.parse_nat)

    # --- types ----------------------------------------------------------------------------
    def valtype(self, node) -> str:
        return _type_keyword(node, VAL_TYPES)

    def reftype(self, node) -> str:
        return _type_keyword(node, REF_TYPES)

    def params_results(self, cur: Cursor, allow_names: bool
                       ) -> tuple[list[str], list[str], list[Atom | None]]:
        params: list[str] = []
        results: list[str] = []
        names: list[Atom | None] = []
        while (node := cur.peek_list("param")) is not None:
            if results:
                break
            cur.i += 1
            items = node.items[1:]
            if items and isinstance(items[0], Atom) and items[0].kind == "id":
                if not allow_names or len(items) != 2:
                    raise unexpected(items[0] if not allow_names else node)
                params.append(self.valtype(items[1]))
                names.append(items[0])
                continue
            for t in items:
                params.append(self.valtype(t))
                names.append(None)
        while (node := cur.peek_list("result")) is not None:
            cur.i += 1
            results.extend(self.valtype(t) for t in node.items[1:])
        if cur.peek_list("param") is not None:
            raise error_at(cur.peek(), "unexpected token")
        return params, results, names

    def add_type(self, ft: FuncType) -> int:
        """The index of ``ft`` among all types, appending an implicit definition if new."""
        for i, t in enumerate(self.types):
            if t == ft:
                return i
        self.types.append(ft)
        return len(self.types) - 1

    def type_use(self, cur: Cursor, allow_names: bool = True
                 ) -> tuple[int, list[Atom | None]]:
        """``(type x)? (param ...)* (result ...)*``: the type index and the parameter ids."""
        ref = cur.peek_list("type")
        if ref is not None:
            cur.i += 1
            if len(ref.items) != 2:
                raise error_at(ref, "unexpected token")
            index = self.resolve("type", ref.items[1])
        params, results, names = self.params_results(cur, allow_names)
        if ref is None:
            return self.add_type(FuncType(tuple(params), tuple(results))), names
        if index >= len(self.types):
            return index, names
        ft = self.types[index]
        if params or results:
            if ft != FuncType(tuple(params), tuple(results)):
                raise error_at(ref, "inline function type")
        else:
            names = [None] * len(ft.params)
        return index, names

    def block_type(self, cur: Cursor):
        ref = cur.peek_list("type")
        if ref is None:
            save = cur.i
            params, results, _ = self.params_results(cur, allow_names=False)
            if not params and len(results) <= 1:
                return results[0] if results else None
            cur.i = save
        index, _ = self.type_use(cur, allow_names=False)
        return index

    # --- the two passes -------------------------------------------------------------------
    def build(self, fields: list, owner: List) -> ast.Module:
        self._declare(fields)
        self._next_def = {s: 0 for s in SPACES}
        m = self.module
        data_count: int | None = None
        for node in fields:
            if not isinstance(node, List):
                raise unexpected(node)
            if node.annotation is not None:
                if node.annotation == "custom":
                    self._custom(node)
                elif node.annotation == "sharedwasm.datacount":
                    data_count = self._limit(node.items[0], 32) if len(node.items) == 1 else None
                    if data_count is None:
                        raise unexpected(node)
                continue
            _FIELDS[node.head()](self, node)
        m.types = self.types
        if data_count is not None:
            m.data_count = data_count
        elif any(i.name in _DATA_INDEX_USERS for f in m.funcs for i in f.body):
            m.data_count = len(m.datas)
        return m

    def _declare(self, fields: list) -> None:
        """First pass: bind identifiers, check import order, collect explicit types."""
        defined: str | None = None
        for node in fields:
            if not isinstance(node, List):
                raise unexpected(node)
            if node.annotation is not None:
                continue
            head = node.head()
            if head not in _FIELDS:
                raise unexpected(node.items[0] if node.items else node)
            cur = Cursor(node.items, 1, node)
            ident = cur.peek_atom("id")
            if head == "type":
                self._type_field(node)
                continue
            if head == "import":
                kind, desc_ident = self._import_kind(node)
                if defined:
                    raise error_at(node, f"import after {defined}")
                self.bind(kind, desc_ident)
                continue
            if head in ("func", "table", "memory", "global", "tag"):
                if ident is not None:
                    cur.i += 1
                while cur.peek_list("export") is not None:
                    cur.i += 1
                if cur.peek_list("import") is not None:
                    if defined:
                        raise error_at(node, f"import after {defined}")
                elif head != "tag":
                    defined = _IMPORT_KINDS[head]
                self.bind(head, ident)
                if head in ("table", "memory") and self._inline_segment(cur) is not None:
                    self.bind("elem" if head == "table" else "data", None)
            elif head in ("elem", "data"):
                self.bind(head, ident)
        self.explicit_types = len(self.types)

    def _inline_segment(self, cur: Cursor) -> List | None:
        for node in cur.items[cur.i:]:
            if isinstance(node, List) and node.head() in ("elem", "data"):
                return node
        return None

    def _import_kind(self, node: List) -> tuple[str, Atom | None]:
        cur = Cursor(node.items, 1, node)
        _name(cur.next())
        _name(cur.next())
        desc = cur.next()
        if not isinstance(desc, List) or desc.head() not in _IMPORT_KINDS:
            raise unexpected(desc)
        ident = desc.items[1] if len(desc.items) > 1 else None
        if not (isinstance(ident, Atom) and ident.kind == "id"):
            ident = None
        return desc.head(), ident

    def _type_field(self, node: List) -> None:
        cur = Cursor(node.items, 1, node)
        ident = cur.peek_atom("id")
        if ident is not None:
            cur.i += 1
        func = cur.next()
        if not isinstance(func, List) or func.head() != "func":
            raise unexpected(func)
        cur.expect_end()
        inner = Cursor(func.items, 1, func)
        params, results, _ = self.params_results(inner, allow_names=True)
        inner.expect_end()
        self.bind("type", ident)
        self.types.append(FuncType(tuple(params), tuple(results)))

    # --- fields ---------------------------------------------------------------------------
    def _exports(self, cur: Cursor, kind: str, index: int) -> None:
        while (node := cur.peek_list("export")) is not None:
            cur.i += 1
            inner = Cursor(node.items, 1, node)
            name = _name(inner.next())
            inner.expect_end()
            self.module.exports.append(ast.Export(name, kind, index))

    def _inline_import(self, cur: Cursor) -> tuple[str, str] | None:
        node = cur.peek_list("import")
        if node is None:
            return None
        cur.i += 1
        inner = Cursor(node.items, 1, node)
        names = (_name(inner.next()), _name(inner.next()))
        inner.expect_end()
        return names

    def _header(self, node: List, space: str) -> tuple[Cursor, int, tuple[str, str] | None]:
        cur = Cursor(node.items, 1, node)
        ident = cur.peek_atom("id")
        if ident is not None:
            cur.i += 1
        index = self._next_def[space]
        self._next_def[space] = index + 1
        self._exports(cur, space, index)
        return cur, index, self._inline_import(cur)

    def _func(self, node: List) -> None:
        cur, index, imported = self._header(node, "func")
        type_index, names = self.type_use(cur)
        if imported:
            cur.expect_end()
            self.module.imports.append(ast.Import(*imported, "func", type_index))
            return
        locals_: dict[str, int] = {}
        for i, ident in enumerate(names):
            if ident is not None:
                if ident.value in locals_:
                    raise error_at(ident, "duplicate local")
                locals_[ident.value] = i
        count = len(self.types[type_index].params) if type_index < len(self.types) else 0
        runs: list[tuple[int, str]] = []
        while (loc := cur.peek_list("local")) is not None:
            cur.i += 1
            items = loc.items[1:]
            if items and isinstance(items[0], Atom) and items[0].kind == "id":
                if len(items) != 2:
                    raise error_at(loc, "unexpected token")
                if items[0].value in locals_:
                    raise error_at(items[0], "duplicate local")
                locals_[items[0].value] = count
                items = items[1:]
            for t in items:
                vt = self.valtype(t)
                count += 1
                if runs and runs[-1][1] == vt:
                    runs[-1] = (runs[-1][0] + 1, vt)
                else:
                    runs.append((1, vt))
        runs = self._local_runs(cur, runs)
        body = parse_expr(node, cur.i, FuncScope(self, locals_))
        self.module.funcs.append(ast.Func(type_index, runs, body))

    def _local_runs(self, cur: Cursor, runs: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """``(@sharedwasm.locals (N t)*)`` gives the binary's local runs when the printer
        could not express them with ``(local ...)`` (empty or split runs)."""
        node = cur.peek()
        if not isinstance(node, List) or node.annotation != "sharedwasm.locals":
            return runs
        cur.i += 1
        given = []
        for item in node.items:
            if not (isinstance(item, List) and item.annotation is None and len(item.items) == 2):
                raise unexpected(item)
            count = self._limit(item.items[0], 32)
            given.append((count, self.valtype(item.items[1])))
        if [t for n, t in given for _ in range(n)] != [t for n, t in runs for _ in range(n)]:
            raise error_at(node, "local runs do not match the declared locals")
        return given

    def _limits(self, cur: Cursor, bits: int = 32) -> Limits:
        lo = self._limit(cur.next(), bits)
        hi = None
        node = cur.peek_atom("number")
        if node is not None:
            cur.i += 1
            hi = self._limit(node, bits)
        shared = cur.keyword("shared")
        return Limits(lo, hi, shared)

    @staticmethod
    def _limit(node, bits: int) -> int:
        value = number(node, lambda t: numbers.parse_nat(t, 64))
        if value >> bits:
            raise error_at(node, f"i{bits} constant out of range")
        return value

    def _table(self, node: List) -> None:
        cur, index, imported = self._header(node, "table")
        if not imported and cur.peek_atom("keyword") is not None \
                and cur.peek().text in REF_TYPES:
            elem_type = self.reftype(cur.next())
            seg = cur.next()
            if not isinstance(seg, List) or seg.head() != "elem":
                raise unexpected(seg)
            cur.expect_end()
            inner = Cursor(seg.items, 1, seg)
            init, exprs = self._elem_items(inner, elem_type, legacy=True)
            n = len(init)
            self.module.tables.append(TableType(elem_type, Limits(n, n)))
            self.module.elems.append(ast.Elem(elem_type, init, "active", index,
                                              [ast.Instr("i32.const", (0,))], exprs, True))
            return
        limits = self._limits(cur)
        tt = TableType(self.reftype(cur.next()), limits)
        cur.expect_end()
        if imported:
            self.module.imports.append(ast.Import(*imported, "table", tt))
        else:
            self.module.tables.append(tt)

    def _memory(self, node: List) -> None:
        cur, index, imported = self._header(node, "memory")
        seg = cur.peek_list("data")
        if seg is not None and not imported:
            cur.i += 1
            cur.expect_end()
            data = _strings(Cursor(seg.items, 1, seg))
            pages = -(-len(data) // PAGE_SIZE)
            self.module.mems.append(MemType(Limits(pages, pages)))
            self.module.datas.append(ast.Data(data, "active", index,
                                              [ast.Instr("i32.const", (0,))], index != 0))
            return
        mt = MemType(self._limits(cur))
        cur.expect_end()
        if imported:
            self.module.imports.append(ast.Import(*imported, "memory", mt))
        else:
            self.module.mems.append(mt)

    def _global_type(self, cur: Cursor) -> GlobalType:
        node = cur.next()
        if isinstance(node, List) and node.head() == "mut":
            if len(node.items) != 2:
                raise error_at(node, "unexpected token")
            return GlobalType(self.valtype(node.items[1]), True)
        return GlobalType(self.valtype(node), False)

    def _global(self, node: List) -> None:
        cur, index, imported = self._header(node, "global")
        gt = self._global_type(cur)
        if imported:
            cur.expect_end()
            self.module.imports.append(ast.Import(*imported, "global", gt))
            return
        self.module.globals.append(ast.Global(gt, parse_expr(node, cur.i, FuncScope(self))))

    def _tag(self, node: List) -> None:
        cur, index, imported = self._header(node, "tag")
        type_index, _ = self.type_use(cur)
        cur.expect_end()
        if imported:
            self.module.imports.append(ast.Import(*imported, "tag", TagType(type_index)))
        else:
            self.module.tags.append(TagType(type_index))

    def _import(self, node: List) -> None:
        cur = Cursor(node.items, 1, node)
        module_name, name = _name(cur.next()), _name(cur.next())
        desc = cur.next()
        cur.expect_end()
        kind = desc.head()
        self._next_def[kind] += 1
        inner = Cursor(desc.items, 1, desc)
        if inner.peek_atom("id") is not None:
            inner.i += 1
        if kind == "func":
            value, _ = self.type_use(inner)
        elif kind == "tag":
            value = TagType(self.type_use(inner)[0])
        elif kind == "table":
            limits = self._limits(inner)
            value = TableType(self.reftype(inner.next()), limits)
        elif kind == "memory":
            value = MemType(self._limits(inner))
        else:
            value = self._global_type(inner)
        inner.expect_end()
        self.module.imports.append(ast.Import(module_name, name, kind, value))

    def _export(self, node: List) -> None:
        cur = Cursor(node.items, 1, node)
        name = _name(cur.next())
        desc = cur.next()
        cur.expect_end()
        if not isinstance(desc, List) or desc.head() not in _IMPORT_KINDS or \
                len(desc.items) != 2:
            raise unexpected(desc)
        kind = desc.head()
        self.module.exports.append(ast.Export(name, kind, self.resolve(kind, desc.items[1])))

    def _start(self, node: List) -> None:
        if self.module.start is not None:
            raise error_at(node, "multiple start sections")
        if len(node.items) != 2:
            raise error_at(node, "unexpected token")
        self.module.start = self.resolve("func", node.items[1])

    def _offset(self, cur: Cursor) -> list | None:
        node = cur.peek_list("offset")
        if node is not None:
            cur.i += 1
            return parse_expr(node, 1, FuncScope(self))
        node = cur.peek()
        if isinstance(node, List) and node.annotation is None and node.head() not in (
                "item", "table", "memory") and node.head() is not None:
            cur.i += 1
            return parse_expr(List([None, node], node.line, node.col, node.pos), 1,
                              FuncScope(self))
        return None

    def _elem_items(self, cur: Cursor, elem_type: str | None, legacy: bool
                    ) -> tuple[list, bool]:
        """The element list; returns the init expressions and whether written as exprs."""
        if elem_type is None:
            if cur.keyword("func"):
                legacy = True
            else:
                node = cur.peek_atom("keyword")
                if node is not None and node.text in REF_TYPES:
                    cur.i += 1
                    elem_type = node.text
                elif not legacy:
                    raise unexpected(cur.peek() or cur.owner)
        if elem_type is not None and not (cur.peek() is not None and
                                          isinstance(cur.peek(), Atom)):
            init = []
            while not cur.at_end():
                node = cur.next()
                if not isinstance(node, List):
                    raise unexpected(node)
                if node.head() == "item":
                    init.append(parse_expr(node, 1, FuncScope(self)))
                else:
                    init.append(parse_expr(List([None, node], node.line, node.col,
                                                node.pos), 1, FuncScope(self)))
            return init, True
        init = []
        while not cur.at_end():
            index = self.resolve("func", cur.next())
            init.append([ast.Instr("ref.func", (index,))])
        return init, False

    def _elem(self, node: List) -> None:
        cur = Cursor(node.items, 1, node)
        if cur.peek_atom("id") is not None:
            cur.i += 1
        if cur.keyword("declare"):
            elem_type, init, exprs = self._elem_list(cur, False)
            self.module.elems.append(ast.Elem(elem_type, init, "declarative",
                                              exprs_hint=exprs))
            return
        table_node = cur.peek_list("table")
        table = 0
        if table_node is not None:
            cur.i += 1
            if len(table_node.items) != 2:
                raise error_at(table_node, "unexpected token")
            table = self.resolve("table", table_node.items[1])
        elif isinstance(cur.peek(), Atom) and cur.peek().kind in ("number", "id") and \
                isinstance(self._peek2(cur), List):
            table = self.resolve("table", cur.next())
            table_node = cur.items[cur.i - 1]
        offset = self._offset(cur)
        if offset is None:
            if table_node is not None:
                raise unexpected(cur.peek() or node)
            elem_type, init, exprs = self._elem_list(cur, False)
            self.module.elems.append(ast.Elem(elem_type, init, "passive", exprs_hint=exprs))
            return
        elem_type, init, exprs = self._elem_list(cur, True)
        self.module.elems.append(ast.Elem(elem_type, init, "active", table, offset, exprs,
                                          table_node is not None))

    @staticmethod
    def _peek2(cur: Cursor):
        return cur.items[cur.i + 1] if cur.i + 1 < len(cur.items) else None

    def _elem_list(self, cur: Cursor, legacy: bool) -> tuple[str, list, bool]:
        node = cur.peek_atom("keyword")
        elem_type = node.text if node is not None and node.text in REF_TYPES else None
        init, exprs = self._elem_items(cur, None, legacy)
        return elem_type or "funcref", init, exprs

    def _data(self, node: List) -> None:
        cur = Cursor(node.items, 1, node)
        if cur.peek_atom("id") is not None:
            cur.i += 1
        mem_node = cur.peek_list("memory")
        memory = 0
        if mem_node is not None:
            cur.i += 1
            if len(mem_node.items) != 2:
                raise error_at(mem_node, "unexpected token")
            memory = self.resolve("memory", mem_node.items[1])
        elif isinstance(cur.peek(), Atom) and cur.peek().kind in ("number", "id"):
            memory = self.resolve("memory", cur.next())
            mem_node = cur.items[cur.i - 1]
        offset = self._offset(cur)
        data = _strings(cur)
        if offset is None:
            if mem_node is not None:
                raise error_at(node, "unexpected token")
            self.module.datas.append(ast.Data(data, "passive"))
            return
        self.module.datas.append(ast.Data(data, "active", memory, offset, memory != 0))

    def _custom(self, node: List) -> None:
        cur = Cursor(node.items, 0, node)
        name = _name(cur.next())
        after = _SECTION_ID["data"]
        place = cur.peek()
        if isinstance(place, List) and place.head() in ("before", "after"):
            cur.i += 1
            if len(place.items) != 2 or not isinstance(place.items[1], Atom):
                raise error_at(place, "unexpected token")
            where = place.items[1].text
            names = [n for n, _ in _SECTION_ORDER]
            if where == "first":
                after = 0
            elif where == "last":
                after = _SECTION_ID["data"]
            elif where not in _SECTION_ID:
                raise unexpected(place.items[1])
            elif place.head() == "after":
                after = _SECTION_ID[where]
            else:
                pos = names.index(where)
                after = _SECTION_ORDER[pos - 1][1] if pos else 0
        self.module.customs.append(ast.Custom(name, _strings(cur), after))


_FIELDS = {
    "type": lambda ctx, node: None,
    "import": ModuleContext._import,
    "func": ModuleContext._func,
    "table": ModuleContext._table,
    "memory": ModuleContext._memory,
    "global": ModuleContext._global,
    "tag": ModuleContext._tag,
    "export": ModuleContext._export,
    "start": ModuleContext._start,
    "elem": ModuleContext._elem,
    "data": ModuleContext._data,
}


def _type_keyword(node, allowed) -> str:
    """The type keyword ``node`` if it is one of ``allowed`` (obsolete spellings: unknown)."""
    if isinstance(node, Atom) and node.kind == "keyword":
        if node.text in allowed:
            return node.text
        if node.text in _OBSOLETE_TYPES:
            raise error_at(node, f"unknown operator {node.text}")
    raise unexpected(node)
