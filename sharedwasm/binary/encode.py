"""Encoding a module (spec 5.5): ``ast.Module`` -> bytes, the inverse of ``decode``.

Choices the AST leaves open are made canonically (minimal LEB128s, empty sections omitted),
except where a ``*_hint`` field or the kept local runs record the input's choice. Custom
sections are placed after the section named by their ``after`` field.
"""
from __future__ import annotations

import struct
from typing import Callable

from ..errors import ALL_FEATURES, MalformedError
from ..spec import opcodes
from ..spec.ast import CATCH_KINDS, Data, Elem, Func, Instr, Module
from ..spec.types import REF_TO_HEAP, VALTYPE_CODE, GlobalType, Limits, TableType
from .decode import (EXTERN_KINDS, MAGIC, SEC_CODE, SEC_CUSTOM, SEC_DATA, SEC_DATACOUNT,
                     SEC_ELEM, SEC_EXPORT, SEC_FUNC, SEC_GLOBAL, SEC_IMPORT, SEC_MEMORY,
                     SEC_START, SEC_TABLE, SEC_TAG, SEC_TYPE, SECTION_ORDER, VERSION)
from .instructions import Context, read_expr
from .leb128 import read_u32, write_signed, write_unsigned

__all__ = ["encode_module", "encode_expr", "IMMEDIATE_ENCODERS"]

_F32 = struct.Struct("<I")
_F64 = struct.Struct("<Q")
_HEAP_CODE = {heap: VALTYPE_CODE[ref] for ref, heap in REF_TO_HEAP.items()}
_CATCH_CODE = {kind: i for i, kind in enumerate(CATCH_KINDS)}
_U = write_unsigned


def _wrap(value: int, bits: int) -> int:
    """A signed immediate given in either signed or unsigned form, as a signed value."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _blocktype(v) -> bytes:
    if v is None:
        return b"\x40"
    if isinstance(v, str):
        return bytes((VALTYPE_CODE[v],))
    return write_signed(v)


def _memarg(v) -> bytes:
    return _U(v[0]) + _U(v[1])


def _labelvec(v) -> bytes:
    return _U(len(v)) + b"".join(_U(x) for x in v)


def _valtypes(v) -> bytes:
    return _U(len(v)) + bytes(VALTYPE_CODE[t] for t in v)


def _catches(v) -> bytes:
    out = [_U(len(v))]
    for clause in v:
        out.append(bytes((_CATCH_CODE[clause.kind],)))
        if clause.tag is not None:
            out.append(_U(clause.tag))
        out.append(_U(clause.label))
    return b"".join(out)


_ZERO = b"\x00"

#: immediate kind (as documented in ``opcodes``) -> encoder of one value
IMMEDIATE_ENCODERS: dict[str, Callable[[object], bytes]] = {
    "blocktype": _blocktype, "labelidx": _U, "funcidx": _U, "typeidx": _U, "tableidx": _U,
    "localidx": _U, "globalidx": _U, "dataidx": _U, "elemidx": _U, "tagidx": _U,
    "labelvec": _labelvec, "memidx": lambda v: _ZERO, "memarg": _memarg,
    "i32": lambda v: write_signed(_wrap(v, 32)), "i64": lambda v: write_signed(_wrap(v, 64)),
    "f32": lambda v: _F32.pack(v & 0xFFFFFFFF), "f64": lambda v: _F64.pack(v & (2**64 - 1)),
    "v128": bytes, "lane": lambda v: bytes((v,)), "shuffle": bytes, "valtypes": _valtypes,
    "heaptype": lambda v: bytes((_HEAP_CODE[v],)), "catches": _catches,
    "zero": lambda v: _ZERO,
}


def _opcode_bytes(info: opcodes.OpInfo) -> bytes:
    if info.prefix is None:
        return bytes((info.code,))
    return bytes((info.prefix,)) + _U(info.code)


#: mnemonic -> (opcode bytes, immediate encoders)
_ENCODING = {name: (_opcode_bytes(info), tuple(IMMEDIATE_ENCODERS[k] for k in info.imms))
             for name, info in opcodes.OPS.items()}
_END = b"\x0b"


def encode_expr(body: list[Instr]) -> bytes:
    """An instruction sequence followed by the closing ``end``."""
    out = bytearray()
    encoding = _ENCODING
    for instr in body:
        code, encoders = encoding[instr.name]
        out += code
        if encoders:
            args = instr.args
            for i, enc in enumerate(encoders):
                out += enc(args[i])
    out += _END
    return bytes(out)


def _name(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _U(len(raw)) + raw


def _vec(items: list, encode: Callable) -> bytes:
    return _U(len(items)) + b"".join(encode(x) for x in items)


def _limits(lim: Limits) -> bytes:
    flags = (1 if lim.max is not None else 0) | (2 if lim.shared else 0)
    out = bytes((flags,)) + _U(lim.min)
    return out + _U(lim.max) if lim.max is not None else out


def _table_type(t: TableType) -> bytes:
    return bytes((VALTYPE_CODE[t.elem],)) + _limits(t.limits)


def _global_type(t: GlobalType) -> bytes:
    return bytes((VALTYPE_CODE[t.type], 1 if t.mutable else 0))


def _tag_type(t) -> bytes:
    return b"\x00" + _U(t.type_index)


_IMPORT_DESC = {"func": _U, "table": _table_type, "memory": lambda m: _limits(m.limits),
                "global": _global_type, "tag": _tag_type}
_KIND_CODE = {kind: i for i, kind in enumerate(EXTERN_KINDS)}


def _func_index(expr: list[Instr]) -> int | None:
    """The function index when an element expression is a plain ``ref.func``."""
    if len(expr) == 1 and expr[0].name == "ref.func":
        return expr[0].args[0]
    return None


def _elem(e: Elem) -> bytes:
    indices = None if e.exprs_hint or e.type != "funcref" else \
        [_func_index(x) for x in e.init]
    use_exprs = indices is None or None in indices
    if e.mode == "active":
        explicit = e.table_hint or e.table != 0 or e.type != "funcref"
        flags = 2 if explicit else 0
    else:
        flags = 1 if e.mode == "passive" else 3
    if use_exprs:
        flags |= 4
    out = [_U(flags)]
    if e.mode == "active":
        if flags & 2:
            out.append(_U(e.table))
        out.append(encode_expr(e.offset or []))
    if flags & 3:
        out.append(bytes((VALTYPE_CODE[e.type],)) if use_exprs else b"\x00")
    if use_exprs:
        out.append(_vec(e.init, encode_expr))
    else:
        out.append(_vec(indices, _U))
    return b"".join(out)


def _data(d: Data) -> bytes:
    payload = _U(len(d.init)) + bytes(d.init)
    if d.mode == "passive":
        return b"\x01" + payload
    if d.memory_hint or d.memory != 0:
        return b"\x02" + _U(d.memory) + encode_expr(d.offset or []) + payload
    return b"\x00" + encode_expr(d.offset or []) + payload


_HINT_CONTEXT = Context(ALL_FEATURES)


def _hint_still_valid(f: Func) -> bool:
    """Whether ``f.body_hint`` still decodes to exactly ``f``'s locals and body."""
    data = f.body_hint
    try:
        ctx = _HINT_CONTEXT
        count, pos = read_u32(data, 0)
        runs = []
        for _ in range(count):
            n, pos = read_u32(data, pos)
            t, pos = ctx.valtype(data, pos)
            runs.append((n, t))
        if runs != list(f.locals):
            return False
        body, pos = read_expr(ctx, data, pos)
    except (MalformedError, IndexError, struct.error):
        return False
    if pos != len(data) or len(body) != len(f.body):
        return False
    return all(a.name == b.name and a.args == b.args for a, b in zip(body, f.body))


def _code(f: Func) -> bytes:
    if f.body_hint is not None and _hint_still_valid(f):
        return _U(len(f.body_hint)) + f.body_hint
    locals_ = _U(len(f.locals)) + b"".join(_U(n) + bytes((VALTYPE_CODE[t],))
                                           for n, t in f.locals)
    body = locals_ + encode_expr(f.body)
    return _U(len(body)) + body


def _functype(t) -> bytes:
    return b"\x60" + _valtypes(t.params) + _valtypes(t.results)


def _sections(m: Module) -> dict[int, bytes]:
    """The contents of the non-empty known sections, by id."""
    s: dict[int, bytes] = {}
    if m.types:
        s[SEC_TYPE] = _vec(m.types, _functype)
    if m.imports:
        s[SEC_IMPORT] = _vec(m.imports, lambda i: _name(i.module) + _name(i.name) +
                             bytes((_KIND_CODE[i.kind],)) + _IMPORT_DESC[i.kind](i.desc))
    if m.funcs:
        s[SEC_FUNC] = _vec(m.funcs, lambda f: _U(f.type_index))
    if m.tables:
        s[SEC_TABLE] = _vec(m.tables, _table_type)
    if m.mems:
        s[SEC_MEMORY] = _vec(m.mems, lambda t: _limits(t.limits))
    if m.tags:
        s[SEC_TAG] = _vec(m.tags, _tag_type)
    if m.globals:
        s[SEC_GLOBAL] = _vec(m.globals, lambda g: _global_type(g.type) + encode_expr(g.init))
    if m.exports:
        s[SEC_EXPORT] = _vec(m.exports, lambda e: _name(e.name) + bytes((_KIND_CODE[e.kind],))
                             + _U(e.index))
    if m.start is not None:
        s[SEC_START] = _U(m.start)
    if m.elems:
        s[SEC_ELEM] = _vec(m.elems, _elem)
    if m.data_count is not None:
        s[SEC_DATACOUNT] = _U(m.data_count)
    if m.funcs:
        s[SEC_CODE] = _vec(m.funcs, _code)
    if m.datas:
        s[SEC_DATA] = _vec(m.datas, _data)
    return s


def _section(sid: int, content: bytes) -> bytes:
    return bytes((sid,)) + _U(len(content)) + content


def encode_module(m: Module) -> bytes:
    """The binary form of ``m``; decoding it gives back an equal module."""
    sections = _sections(m)
    customs: dict[int, list[bytes]] = {}
    for c in m.customs:
        after = c.after if c.after in sections or c.after in SECTION_ORDER else SEC_CUSTOM
        customs.setdefault(after, []).append(_section(SEC_CUSTOM, _name(c.name) + c.data))
    out = [MAGIC, VERSION]
    out.extend(customs.get(SEC_CUSTOM, ()))
    for sid in SECTION_ORDER:
        if sid in sections:
            out.append(_section(sid, sections[sid]))
        out.extend(customs.get(sid, ()))
    return b"".join(out)
