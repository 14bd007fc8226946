"""Decoding a binary module (spec 5.5): bytes -> ``ast.Module``.

Decoding performs every check of the binary grammar (the suites' ``assert_malformed``) and
nothing of validation. Like the reference interpreter, section contents are read against
the whole input and their declared size is checked afterwards ("section size mismatch"), so
the error texts match the suites'. Encoding choices that do not change meaning (segment
flags, local runs, custom section placement) are kept in the AST for byte-identical
re-encoding.
"""
from __future__ import annotations

import struct

from ..errors import ALL_FEATURES, MalformedError
from ..spec.ast import (Custom, Data, Elem, Export, Func, Global, Import, Instr, Module)
from ..spec.types import FuncType, GlobalType, Limits, MemType, TableType, TagType
from .instructions import Context, read_expr
from .leb128 import read_u32
from .names import parse_names

__all__ = ["decode_module", "MAGIC", "VERSION", "SECTION_ORDER", "SECTION_NAMES"]

MAGIC = b"\x00asm"
VERSION = b"\x01\x00\x00\x00"

SEC_CUSTOM, SEC_TYPE, SEC_IMPORT, SEC_FUNC, SEC_TABLE, SEC_MEMORY, SEC_GLOBAL, SEC_EXPORT, \
    SEC_START, SEC_ELEM, SEC_CODE, SEC_DATA, SEC_DATACOUNT, SEC_TAG = range(14)

#: the order non-custom sections must appear in
SECTION_ORDER = (SEC_TYPE, SEC_IMPORT, SEC_FUNC, SEC_TABLE, SEC_MEMORY, SEC_TAG, SEC_GLOBAL,
                 SEC_EXPORT, SEC_START, SEC_ELEM, SEC_DATACOUNT, SEC_CODE, SEC_DATA)
SECTION_NAMES = {SEC_CUSTOM: "custom", SEC_TYPE: "type", SEC_IMPORT: "import",
                 SEC_FUNC: "function", SEC_TABLE: "table", SEC_MEMORY: "memory",
                 SEC_GLOBAL: "global", SEC_EXPORT: "export", SEC_START: "start",
                 SEC_ELEM: "element", SEC_CODE: "code", SEC_DATA: "data",
                 SEC_DATACOUNT: "data count", SEC_TAG: "tag"}
_RANK = {sid: i + 1 for i, sid in enumerate(SECTION_ORDER)}

EXTERN_KINDS = ("func", "table", "memory", "global", "tag")
MAX_LOCALS = 2**32 - 1
UNEXPECTED_END = "unexpected end"
UNEXPECTED_END_IN = "unexpected end of section or function"


class _Decoder:
    """Decoding state: the input, a position and the module being built."""

    def __init__(self, data: bytes, features: frozenset[str]):
        self.data = data
        self.pos = 0
        self.ctx = Context(features)
        self.features = features
        self.module = Module()
        self.func_count = 0         # entries of the function section
        self.code_count = 0

    # -- primitive readers (section level; code uses instructions.read_expr) --

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u32(self) -> int:
        data, pos = self.data, self.pos
        b = data[pos]
        if b < 0x80:
            self.pos = pos + 1
            return b
        value, self.pos = read_u32(data, pos)
        return value

    def length(self) -> int:
        """A vector length or byte count: it cannot exceed what is left of the input."""
        start = self.pos
        n = self.u32()
        if n > len(self.data) - self.pos:
            raise MalformedError("length out of bounds", offset=start)
        return n

    def bytes_(self) -> bytes:
        """A byte vector; one running past the input is an unexpected end."""
        n = self.u32()
        start = self.pos
        end = start + n
        if end > len(self.data):
            raise MalformedError(UNEXPECTED_END_IN, offset=len(self.data))
        self.pos = end
        return bytes(self.data[start:end])

    def name(self) -> str:
        """A UTF-8 name; its length is checked against the input like the reference's."""
        n = self.length()
        start = self.pos
        self.pos = start + n
        raw = self.data[start:start + n]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("malformed UTF-8 encoding", offset=start) from None

    def valtype(self) -> str:
        t, self.pos = self.ctx.valtype(self.data, self.pos)
        return t

    def reftype(self) -> str:
        t, self.pos = self.ctx.reftype(self.data, self.pos)
        return t

    def expr(self) -> list[Instr]:
        body, self.pos = read_expr(self.ctx, self.data, self.pos)
        return body

    def limits(self) -> Limits:
        start = self.pos
        flags = self.byte()
        allowed = 4 if "threads" in self.features else 2
        if flags & 0x7F >= allowed:
            raise MalformedError("integer too large", offset=start)
        if flags & 0x80:
            raise MalformedError("integer representation too long", offset=self.pos)
        minimum = self.u32()
        maximum = self.u32() if flags & 1 else None
        return Limits(minimum, maximum, bool(flags & 2))

    def table_type(self) -> TableType:
        elem = self.reftype()
        return TableType(elem, self.limits())

    def global_type(self) -> GlobalType:
        t = self.valtype()
        start = self.pos
        mut = self.byte()
        if mut > 1:
            raise MalformedError("malformed mutability", offset=start)
        return GlobalType(t, bool(mut))

    def tag_type(self) -> TagType:
        start = self.pos
        if self.byte() != 0:
            raise MalformedError("malformed tag attribute", offset=start)
        return TagType(self.u32())

    # -- sections --

    def type_section(self) -> None:
        types = self.module.types
        for _ in range(self.u32()):
            start = self.pos
            form = self.byte()
            if form != 0x60:
                if form & 0x80:     # the form is a signed 7-bit LEB128
                    raise MalformedError("integer representation too long", offset=start)
                raise MalformedError("malformed function type", offset=start)
            params = tuple(self.valtype() for _ in range(self.u32()))
            results = tuple(self.valtype() for _ in range(self.u32()))
            types.append(FuncType(params, results))

    def import_section(self) -> None:
        imports = self.module.imports
        for _ in range(self.u32()):
            module = self.name()
            name = self.name()
            start = self.pos
            kind = self.byte()
            reader = self._IMPORT_DESC.get(kind)
            if reader is None or (kind == 4 and "exceptions" not in self.features):
                raise MalformedError("malformed import kind", offset=start)
            imports.append(Import(module, name, EXTERN_KINDS[kind], reader(self)))

    _IMPORT_DESC = {0: u32, 1: table_type, 2: lambda self: MemType(self.limits()),
                    3: global_type, 4: tag_type}

    def function_section(self) -> None:
        funcs = self.module.funcs
        n = self.u32()
        for _ in range(n):
            funcs.append(Func(self.u32()))
        self.func_count = n

    def table_section(self) -> None:
        tables = self.module.tables
        for _ in range(self.u32()):
            tables.append(self.table_type())

    def memory_section(self) -> None:
        mems = self.module.mems
        for _ in range(self.u32()):
            mems.append(MemType(self.limits()))

    def tag_section(self) -> None:
        tags = self.module.tags
        for _ in range(self.u32()):
            tags.append(self.tag_type())

    def global_section(self) -> None:
        globals_ = self.module.globals
        for _ in range(self.u32()):
            t = self.global_type()
            globals_.append(Global(t, self.expr()))

    def export_section(self) -> None:
        exports = self.module.exports
        for _ in range(self.u32()):
            name = self.name()
            start = self.pos
            kind = self.byte()
            if kind >= len(EXTERN_KINDS) or (kind == 4 and "exceptions" not in self.features):
                raise MalformedError("malformed export kind", offset=start)
            exports.append(Export(name, EXTERN_KINDS[kind], self.u32()))

    def start_section(self) -> None:
        self.module.start = self.u32()

    def _elem_kind(self) -> str:
        start = self.pos
        if self.byte() != 0x00:
            raise MalformedError("malformed elements segment kind", offset=start)
        return "funcref"

    def _func_indices(self) -> list[list[Instr]]:
        init = []
        for _ in range(self.u32()):
            start = self.pos
            init.append([Instr("ref.func", (self.u32(),), start)])
        return init

    def _exprs(self) -> list[list[Instr]]:
        return [self.expr() for _ in range(self.u32())]

    def elem_section(self) -> None:
        elems = self.module.elems
        for _ in range(self.u32()):
            start = self.pos
            flags = self.u32()
            if flags > 7:
                raise MalformedError("malformed elements segment kind", offset=start)
            exprs = bool(flags & 4)
            table, offset, mode = 0, None, "active"
            if flags & 1:
                mode = "declarative" if flags & 2 else "passive"
            else:
                if flags & 2:
                    table = self.u32()
                offset = self.expr()
            if flags & 3 == 0:
                elem_type = "funcref"
            elif exprs:
                elem_type = self.reftype()
            else:
                elem_type = self._elem_kind()
            init = self._exprs() if exprs else self._func_indices()
            elems.append(Elem(elem_type, init, mode, table, offset, exprs_hint=exprs,
                              table_hint=flags & 3 == 2))

    def datacount_section(self) -> None:
        self.module.data_count = self.u32()

    def code_section(self) -> None:
        funcs = self.module.funcs
        n = self.u32()
        self.code_count = n
        if n != self.func_count:
            self.fail_inconsistent_code()
        ctx = self.ctx
        data = self.data
        for i in range(n):
            size = self.length()
            body_start = self.pos
            total = 0
            runs = []
            for _ in range(self.u32()):
                count = self.u32()
                total += count
                if total > MAX_LOCALS:
                    raise MalformedError("too many locals", offset=body_start)
                runs.append((count, self.valtype()))
            body, pos = read_expr(ctx, data, self.pos)
            if pos != body_start + size:
                raise MalformedError("section size mismatch", offset=body_start)
            self.pos = pos
            func = funcs[i]
            func.locals = runs
            func.body = body
            func.offset = body_start
            func.body_hint = data[body_start:pos]

    def fail_inconsistent_code(self) -> None:
        raise MalformedError("function and code section have inconsistent lengths",
                             offset=self.pos)

    def data_section(self) -> None:
        datas = self.module.datas
        for _ in range(self.u32()):
            start = self.pos
            flags = self.u32()
            if flags > 2:
                raise MalformedError("malformed data segment kind", offset=start)
            if flags == 1:
                datas.append(Data(self.bytes_(), "passive"))
                continue
            memory = self.u32() if flags == 2 else 0
            offset = self.expr()
            datas.append(Data(self.bytes_(), "active", memory, offset, memory_hint=flags == 2))

    _SECTIONS = {SEC_TYPE: type_section, SEC_IMPORT: import_section,
                 SEC_FUNC: function_section, SEC_TABLE: table_section,
                 SEC_MEMORY: memory_section, SEC_TAG: tag_section,
                 SEC_GLOBAL: global_section, SEC_EXPORT: export_section,
                 SEC_START: start_section, SEC_ELEM: elem_section,
                 SEC_DATACOUNT: datacount_section, SEC_CODE: code_section,
                 SEC_DATA: data_section}

    def custom_section(self, end: int, after: int) -> None:
        data = self.data
        start = self.pos
        n, pos = read_u32(data, start)
        if pos + n > end:
            raise MalformedError(UNEXPECTED_END, offset=end)
        try:
            name = bytes(data[pos:pos + n]).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("malformed UTF-8 encoding", offset=start) from None
        payload = bytes(data[pos + n:end])
        self.module.customs.append(Custom(name, payload, after))
        if name == "name":
            self.module.names = parse_names(payload)
        self.pos = end

    def module_(self) -> Module:
        data = self.data
        size = len(data)
        if len(data) < 4:
            raise MalformedError(UNEXPECTED_END, offset=len(data))
        if data[:4] != MAGIC:
            raise MalformedError("magic header not detected", offset=0)
        if len(data) < 8:
            raise MalformedError(UNEXPECTED_END, offset=len(data))
        if data[4:8] != VERSION:
            raise MalformedError("unknown binary version", offset=4)
        self.pos = 8
        rank = 0
        last = 0
        tags = "exceptions" in self.features
        while self.pos < size:
            start = self.pos
            sid = self.byte()
            if sid > SEC_TAG or (sid == SEC_TAG and not tags):
                raise MalformedError("malformed section id", offset=start)
            length = self.length()
            end = self.pos + length
            if sid == SEC_CUSTOM:
                self.custom_section(end, last)
                continue
            if _RANK[sid] <= rank:
                raise MalformedError("unexpected content after last section", offset=start)
            rank = _RANK[sid]
            last = sid
            self._SECTIONS[sid](self)
            if self.pos != end:
                raise MalformedError("section size mismatch", offset=start)
        module = self.module
        if self.code_count != self.func_count:
            self.fail_inconsistent_code()
        if module.data_count is not None and module.data_count != len(module.datas):
            raise MalformedError("data count and data section have inconsistent lengths",
                                 offset=size)
        if module.data_count is None and self.ctx.uses_data_index:
            raise MalformedError("data count section required", offset=size)
        return module


def decode_module(data, features: frozenset[str] = ALL_FEATURES) -> Module:
    """Decode a binary module; raises ``MalformedError`` where the binary grammar is broken."""
    if not isinstance(data, bytes):
        data = bytes(data)
    decoder = _Decoder(data, features)
    try:
        return decoder.module_()
    except (IndexError, struct.error):
        message = UNEXPECTED_END if decoder.pos < 8 else UNEXPECTED_END_IN
        raise MalformedError(message, offset=len(data)) from None
    except MalformedError as err:
        if err.message == UNEXPECTED_END and decoder.pos >= 8:
            raise MalformedError(UNEXPECTED_END_IN, offset=err.offset) from None
        raise
