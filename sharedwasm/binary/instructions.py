"""Decoding instructions and expressions (spec 5.4): the hot loop of module decoding.

Opcodes are looked up in per-feature-set tables built once from ``opcodes.BY_CODE``;
immediates are decoded by kind through ``IMMEDIATE_DECODERS``. Each decoder takes the
decoding context, the bytes and a position and returns ``(value, new_position)``. Reading
past the end of the bytes surfaces as ``IndexError``/``struct.error``, which
``decode.decode_module`` turns into the spec's "unexpected end" errors.
"""
from __future__ import annotations

import struct
from typing import Callable

from ..errors import MalformedError
from ..spec import opcodes
from ..spec.ast import Catch, CATCH_KINDS, Instr, MemArg
from ..spec.types import CODE_VALTYPE, HEAP_TO_REF
from .leb128 import read_s32, read_s33, read_s64, read_u32

__all__ = ["Context", "IMMEDIATE_DECODERS", "read_expr", "opcode_tables"]

ILLEGAL_OPCODE = "illegal opcode"
ZERO_BYTE = "zero byte expected"
END_EXPECTED = "END opcode expected"

_F32 = struct.Struct("<I")
_F64 = struct.Struct("<Q")


class Context:
    """Feature-dependent decoding tables plus facts gathered while decoding code."""

    __slots__ = ("features", "valtypes", "reftypes", "heaptypes", "optable", "prefixed",
                 "uses_data_index")

    def __init__(self, features: frozenset[str]):
        self.features = features
        exceptions = "exceptions" in features
        self.valtypes = {c: t for c, t in CODE_VALTYPE.items()
                         if (t != "exnref" or exceptions) and (t != "v128" or "simd" in features)}
        self.reftypes = {c: t for c, t in self.valtypes.items() if t.endswith("ref")}
        ref_codes = {t: c for c, t in self.reftypes.items()}
        self.heaptypes = {ref_codes[r]: h for h, r in HEAP_TO_REF.items() if r in ref_codes}
        self.optable, self.prefixed = opcode_tables(features)
        self.uses_data_index = False

    def valtype(self, data, pos: int) -> tuple[str, int]:
        t = self.valtypes.get(data[pos])
        if t is None:
            raise MalformedError("malformed value type", offset=pos)
        return t, pos + 1

    def reftype(self, data, pos: int) -> tuple[str, int]:
        t = self.reftypes.get(data[pos])
        if t is None:
            raise MalformedError("malformed reference type", offset=pos)
        return t, pos + 1


# --- immediates ---------------------------------------------------------------------------

def _u32(ctx: Context, data, pos: int):
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    return read_u32(data, pos)


def _i32(ctx: Context, data, pos: int):
    b = data[pos]
    if b < 0x40:
        return b, pos + 1
    if b < 0x80:
        return b - 0x80, pos + 1
    return read_s32(data, pos)


def _i64(ctx: Context, data, pos: int):
    b = data[pos]
    if b < 0x40:
        return b, pos + 1
    if b < 0x80:
        return b - 0x80, pos + 1
    return read_s64(data, pos)


def _f32(ctx: Context, data, pos: int):
    return _F32.unpack_from(data, pos)[0], pos + 4


def _f64(ctx: Context, data, pos: int):
    return _F64.unpack_from(data, pos)[0], pos + 8


def _v128(ctx: Context, data, pos: int):
    end = pos + 16
    if end > len(data):
        raise IndexError
    return bytes(data[pos:end]), end


def _byte(ctx: Context, data, pos: int):
    return data[pos], pos + 1


def _zero(ctx: Context, data, pos: int):
    if data[pos] != 0:
        raise MalformedError(ZERO_BYTE, offset=pos)
    return 0, pos + 1


def _blocktype(ctx: Context, data, pos: int):
    b = data[pos]
    if b == 0x40:
        return None, pos + 1
    t = ctx.valtypes.get(b)
    if t is not None:
        return t, pos + 1
    index, end = read_s33(data, pos)
    if index < 0:
        raise MalformedError("malformed value type", offset=pos)
    return index, end


def _labelvec(ctx: Context, data, pos: int):
    count, pos = _u32(ctx, data, pos)
    labels = []
    append = labels.append
    for _ in range(count):
        b = data[pos]
        if b < 0x80:
            append(b)
            pos += 1
        else:
            label, pos = read_u32(data, pos)
            append(label)
    return tuple(labels), pos


def _memarg(ctx: Context, data, pos: int):
    align, pos = _u32(ctx, data, pos)
    offset, pos = _u32(ctx, data, pos)
    return MemArg(align, offset), pos


def _shuffle(ctx: Context, data, pos: int):
    end = pos + 16
    if end > len(data):
        raise IndexError
    return tuple(data[pos:end]), end


def _valtypes(ctx: Context, data, pos: int):
    count, pos = _u32(ctx, data, pos)
    types = []
    for _ in range(count):
        t, pos = ctx.valtype(data, pos)
        types.append(t)
    return tuple(types), pos


def _heaptype(ctx: Context, data, pos: int):
    h = ctx.heaptypes.get(data[pos])
    if h is None:
        raise MalformedError("malformed reference type", offset=pos)
    return h, pos + 1


def _catches(ctx: Context, data, pos: int):
    count, pos = _u32(ctx, data, pos)
    clauses = []
    for _ in range(count):
        code = data[pos]
        if code >= len(CATCH_KINDS):
            raise MalformedError("malformed catch clause", offset=pos)
        pos += 1
        tag = None
        if code < 2:
            tag, pos = _u32(ctx, data, pos)
        label, pos = _u32(ctx, data, pos)
        clauses.append(Catch(CATCH_KINDS[code], tag, label))
    return tuple(clauses), pos


Decoder = Callable[[Context, bytes, int], tuple]

#: immediate kind (as documented in ``opcodes``) -> decoder
IMMEDIATE_DECODERS: dict[str, Decoder] = {
    "blocktype": _blocktype, "labelidx": _u32, "funcidx": _u32, "typeidx": _u32,
    "tableidx": _u32, "localidx": _u32, "globalidx": _u32, "dataidx": _u32, "elemidx": _u32,
    "tagidx": _u32, "labelvec": _labelvec, "memidx": _zero, "memarg": _memarg,
    "i32": _i32, "i64": _i64, "f32": _f32, "f64": _f64, "v128": _v128, "lane": _byte,
    "shuffle": _shuffle, "valtypes": _valtypes, "heaptype": _heaptype, "catches": _catches,
    "zero": _zero,
}

# --- opcode tables ------------------------------------------------------------------------

# structural role of an instruction in the flat stream
PLAIN, OPEN, OPEN_IF, ELSE, END, DATA_INDEX = range(6)
_ROLES = {"block": OPEN, "loop": OPEN, "try_table": OPEN, "if": OPEN_IF, "else": ELSE,
          "end": END, "memory.init": DATA_INDEX, "data.drop": DATA_INDEX}
# immediate layouts the decoding loop handles inline (the common ones); GENERIC uses decoders
NO_IMMS, ONE_INDEX, ONE_MEMARG, ONE_I32, GENERIC = range(5)
_INDEX_KINDS = {"labelidx", "funcidx", "typeidx", "tableidx", "localidx", "globalidx",
                "dataidx", "elemidx", "tagidx"}
_PREFIX_ENTRY = ("", None, PLAIN, GENERIC)

Entry = tuple  # (name, immediate decoders or None for a prefix byte, role, layout)
_TABLES: dict[frozenset, tuple[list, dict]] = {}


def _layout(imms: tuple[str, ...]) -> int:
    if not imms:
        return NO_IMMS
    if len(imms) == 1:
        if imms[0] in _INDEX_KINDS:
            return ONE_INDEX
        if imms[0] == "memarg":
            return ONE_MEMARG
        if imms[0] == "i32":
            return ONE_I32
    return GENERIC


def opcode_tables(features: frozenset[str]) -> tuple[list, dict]:
    """The single-byte table (256 entries) and the prefixed ones for what ``features`` enable."""
    tables = _TABLES.get(features)
    if tables is not None:
        return tables
    single: list[Entry | None] = [None] * 256
    prefixed: dict[tuple[int, int], Entry] = {}
    for (prefix, code), info in opcodes.BY_CODE.items():
        if info.feature != "mvp" and info.feature not in features:
            continue
        entry = (info.name, tuple(IMMEDIATE_DECODERS[k] for k in info.imms),
                 _ROLES.get(info.name, PLAIN), _layout(info.imms))
        if prefix is None:
            single[code] = entry
        else:
            prefixed[(prefix, code)] = entry
            single[prefix] = _PREFIX_ENTRY
    _TABLES[features] = single, prefixed
    return single, prefixed


_new = tuple.__new__


def read_expr(ctx: Context, data, pos: int) -> tuple[list[Instr], int]:
    """Decode instructions up to the ``end`` closing the expression (not included)."""
    single = ctx.optable
    prefixed = ctx.prefixed
    out: list[Instr] = []
    append = out.append
    blocks: list[bool] = []     # per open block: may an ``else`` still come (an open if)
    instr_class = Instr
    memarg_class = MemArg
    while True:
        start = pos
        b = data[pos]
        pos += 1
        entry = single[b]
        if entry is None:
            raise MalformedError(ILLEGAL_OPCODE, offset=start)
        name, decoders, role, layout = entry
        if decoders is None:
            code = data[pos]
            if code < 0x80:
                pos += 1
            else:
                code, pos = read_u32(data, pos)
            entry = prefixed.get((b, code))
            if entry is None:
                raise MalformedError(ILLEGAL_OPCODE, offset=start)
            name, decoders, role, layout = entry
        if layout == NO_IMMS:
            args = ()
        elif layout == ONE_INDEX:
            v = data[pos]
            if v < 0x80:
                pos += 1
            else:
                v, pos = read_u32(data, pos)
            args = (v,)
        elif layout == ONE_MEMARG:
            align = data[pos]
            if align < 0x80:
                pos += 1
            else:
                align, pos = read_u32(data, pos)
            offset = data[pos]
            if offset < 0x80:
                pos += 1
            else:
                offset, pos = read_u32(data, pos)
            args = (_new(memarg_class, (align, offset)),)
        elif layout == ONE_I32:
            v = data[pos]
            if v < 0x40:
                pos += 1
            elif v < 0x80:
                v -= 0x80
                pos += 1
            else:
                v, pos = read_s32(data, pos)
            args = (v,)
        elif len(decoders) == 1:
            v, pos = decoders[0](ctx, data, pos)
            args = (v,)
        else:
            values = []
            for decode in decoders:
                v, pos = decode(ctx, data, pos)
                values.append(v)
            args = tuple(values)
        if role:
            if role == END:
                if not blocks:
                    return out, pos
                blocks.pop()
            elif role == OPEN:
                blocks.append(False)
            elif role == OPEN_IF:
                blocks.append(True)
            elif role == ELSE:
                if not blocks or not blocks[-1]:
                    raise MalformedError(END_EXPECTED, offset=start)
                blocks[-1] = False
            else:
                ctx.uses_data_index = True
        append(_new(instr_class, (name, args, start)))
