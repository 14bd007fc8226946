"""The canonical text of a module (spec 6.6): ``print_module(ast.Module) -> str``.

The output is meant to parse back to the same AST, so that ``encode(parse(print(m)))``
reproduces ``encode(m)`` byte for byte. Hence every field is written out, in index order,
with numeric indices; instructions are flat (one per line, indented by block depth);
floats print as exact hexadecimal literals or ``nan:0x...`` so every bit survives; encoding
choices recorded in ``*_hint`` fields are expressed through the equivalent text forms the
parser maps back to them. What the text format cannot say (custom sections, the data
count section, non-canonical local runs) travels as annotations:

``(@custom "name" (after SECTION) "bytes")``  a custom section and its place
``(@sharedwasm.datacount N)``                 the module had a data count section
``(@sharedwasm.locals (N t) ...)``            a function's local runs as encoded

Function names from the ``name`` section are shown as ``$identifiers`` on function
definitions and in ``call``/``ref.func`` when they are valid and unique.
"""
from __future__ import annotations

from typing import Callable

from ..spec import ast
from ..spec.opcodes import OPS
from ..spec.types import FuncType, GlobalType, Limits, MemType, TableType, TagType

__all__ = ["print_module", "print_instr", "format_f32", "format_f64", "quote_bytes",
           "quote_name", "SECTION_NAMES"]

#: section id -> the name the ``(@custom ... (after X))`` annotation uses
SECTION_NAMES = {1: "type", 2: "import", 3: "func", 4: "table", 5: "memory", 6: "global",
                 7: "export", 8: "start", 9: "elem", 10: "code", 11: "data", 12: "datacount",
                 13: "tag"}

_IDCHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "!#$%&'*+-./:<=>?@\\^_`|~")

# --- literals -----------------------------------------------------------------------------

_BYTE_TEXT = [chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\{b:02x}"
              for b in range(256)]


def quote_bytes(data: bytes) -> str:
    """A string literal for arbitrary bytes: printable ASCII as is, the rest as ``\\hh``."""
    return '"' + "".join(map(_BYTE_TEXT.__getitem__, data)) + '"'


def quote_name(name: str) -> str:
    """A string literal for a name (its UTF-8 bytes, non-ASCII escaped)."""
    return quote_bytes(name.encode("utf-8", "surrogatepass"))


def _format_float(bits: int, mant_bits: int, exp_bits: int) -> str:
    """Exact text of a raw IEEE pattern: hex float, ``inf`` or ``nan[:0x...]``."""
    sign = "-" if bits >> (mant_bits + exp_bits) & 1 else ""
    exp = (bits >> mant_bits) & ((1 << exp_bits) - 1)
    mant = bits & ((1 << mant_bits) - 1)
    if exp == (1 << exp_bits) - 1:
        if mant == 0:
            return sign + "inf"
        if mant == 1 << (mant_bits - 1):
            return sign + "nan"
        return f"{sign}nan:0x{mant:x}"
    if exp == 0 and mant == 0:
        return sign + "0x0p+0"
    bias = (1 << (exp_bits - 1)) - 1
    lead, power = (1, exp - bias) if exp else (0, 1 - bias)
    digits = (mant_bits + 3) // 4
    frac = f"{mant << (4 * digits - mant_bits):0{digits}x}".rstrip("0")
    return f"{sign}0x{lead}{'.' + frac if frac else ''}p{power:+d}"


def format_f32(bits: int) -> str:
    return _format_float(bits, 23, 8)


def format_f64(bits: int) -> str:
    return _format_float(bits, 52, 11)


def _valid_id(name: str | None) -> bool:
    return bool(name) and all(c in _IDCHARS for c in name)


# --- instructions -------------------------------------------------------------------------

class _Ctx:
    """What instruction printing needs from the module: function identifiers."""

    __slots__ = ("func_ids",)

    def __init__(self, func_ids: dict[int, str] | None = None):
        self.func_ids = func_ids or {}

    def func(self, index: int) -> str:
        name = self.func_ids.get(index)
        return f"${name}" if name is not None else str(index)


def _blocktype(bt: object) -> str:
    if bt is None:
        return ""
    if isinstance(bt, int):
        return f"(type {bt})"
    return f"(result {bt})"


def _memarg(op_align: int, arg: ast.MemArg) -> str:
    parts = []
    if arg.offset:
        parts.append(f"offset={arg.offset}")
    if arg.align != op_align:
        parts.append(f"align={1 << arg.align}")
    return " ".join(parts)


def _v128(data: bytes) -> str:
    words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, 16, 4)]
    return "i32x4 " + " ".join(f"0x{w:08x}" for w in words)


def _catch(c: ast.Catch) -> str:
    if c.tag is None:
        return f"({c.kind} {c.label})"
    return f"({c.kind} {c.tag} {c.label})"


def _num(x: int, ctx: _Ctx) -> str:
    return str(x)


def _mem(x: int, ctx: _Ctx) -> str:
    return str(x) if x else ""


#: immediate kind -> text of one immediate (memarg is handled with the op's alignment)
_IMM_TEXT: dict[str, Callable[[object, _Ctx], str]] = {
    "blocktype": lambda a, c: _blocktype(a),
    "labelidx": _num, "localidx": _num, "globalidx": _num, "tableidx": _num,
    "dataidx": _num, "elemidx": _num, "tagidx": _num, "lane": _num, "i32": _num, "i64": _num,
    "funcidx": lambda a, c: c.func(a),
    "typeidx": lambda a, c: f"(type {a})",
    "labelvec": lambda a, c: " ".join(map(str, a)),
    "memidx": _mem,
    "f32": lambda a, c: format_f32(a),
    "f64": lambda a, c: format_f64(a),
    "v128": lambda a, c: _v128(a),
    "shuffle": lambda a, c: " ".join(map(str, a)),
    "valtypes": lambda a, c: f"(result{''.join(' ' + t for t in a)})",
    "heaptype": lambda a, c: str(a),
    "catches": lambda a, c: " ".join(map(_catch, a)),
    "zero": lambda a, c: "",
}


def _pair_if_nonzero(a: int, b: int) -> str:
    return f"{a} {b}" if a or b else ""


#: instructions whose text order or optional parts differ from the binary immediates
_SPECIAL: dict[str, Callable[[tuple, _Ctx], str]] = {
    "select_t": lambda a, c: "select " + _IMM_TEXT["valtypes"](a[0], c),
    "call_indirect": lambda a, c: "call_indirect " + (f"{a[1]} " if a[1] else "")
    + f"(type {a[0]})",
    "return_call_indirect": lambda a, c: "return_call_indirect " + (f"{a[1]} " if a[1] else "")
    + f"(type {a[0]})",
    "table.init": lambda a, c: "table.init " + (f"{a[1]} " if a[1] else "") + str(a[0]),
    "memory.init": lambda a, c: "memory.init " + (f"{a[1]} " if a[1] else "") + str(a[0]),
    "memory.copy": lambda a, c: ("memory.copy " + _pair_if_nonzero(a[0], a[1])).rstrip(),
    "table.copy": lambda a, c: ("table.copy " + _pair_if_nonzero(a[0], a[1])).rstrip(),
}


#: instructions with a run of numeric immediates print parenthesised (a folded instruction
#: without operands), so no reader can take the next instruction for one more literal
_DELIMITED = frozenset({"v128.const", "i8x16.shuffle"})


def print_instr(instr: ast.Instr, ctx: _Ctx | None = None) -> str:
    """One instruction in the flat text form (mnemonic then immediates)."""
    ctx = ctx or _Ctx()
    special = _SPECIAL.get(instr.name)
    if special is not None:
        return special(instr.args, ctx)
    info = OPS[instr.name]
    parts = [instr.name]
    for kind, arg in zip(info.imms, instr.args):
        text = _memarg(info.align or 0, arg) if kind == "memarg" else _IMM_TEXT[kind](arg, ctx)
        if text:
            parts.append(text)
    if instr.name in _DELIMITED:
        return "(" + " ".join(parts) + ")"
    return " ".join(parts)


_OPENERS = frozenset({"block", "loop", "if", "try_table"})


def _body_lines(body: ast.Expr, indent: int, ctx: _Ctx) -> list[str]:
    lines = []
    depth = 0
    for instr in body:
        name = instr.name
        if name == "end" or name == "else":
            level = max(depth - 1, 0)
            if name == "end":
                depth = level
        else:
            level = depth
        lines.append("  " * (indent + level) + print_instr(instr, ctx))
        if name in _OPENERS:
            depth += 1
    return lines


def _inline_expr(expr: ast.Expr, ctx: _Ctx) -> str:
    return " ".join(print_instr(i, ctx) for i in expr)


# --- module fields ------------------------------------------------------------------------

def _limits(lim: Limits) -> str:
    text = str(lim.min) if lim.max is None else f"{lim.min} {lim.max}"
    return text + " shared" if lim.shared else text


def _table_type(t: TableType) -> str:
    return f"{_limits(t.limits)} {t.elem}"


def _mem_type(t: MemType) -> str:
    return _limits(t.limits)


def _global_type(t: GlobalType) -> str:
    return f"(mut {t.type})" if t.mutable else t.type


def _func_type(t: FuncType) -> str:
    parts = ["func"]
    if t.params:
        parts.append("(param " + " ".join(t.params) + ")")
    if t.results:
        parts.append("(result " + " ".join(t.results) + ")")
    return "(" + " ".join(parts) + ")"


def _signature(m: ast.Module, type_index: int) -> str:
    """``(type N)`` followed by the type's params and results, for reading."""
    text = f"(type {type_index})"
    if 0 <= type_index < len(m.types):
        ft = m.types[type_index]
        if ft.params:
            text += " (param " + " ".join(ft.params) + ")"
        if ft.results:
            text += " (result " + " ".join(ft.results) + ")"
    return text


def _import_desc(imp: ast.Import, func_id: str) -> str:
    kind, desc = imp.kind, imp.desc
    if kind == "func":
        return f"(func{func_id} (type {desc}))"
    if kind == "tag":
        return f"(tag (type {desc.type_index if isinstance(desc, TagType) else desc}))"
    if kind == "table":
        return f"(table {_table_type(desc)})"
    if kind == "memory":
        return f"(memory {_mem_type(desc)})"
    return f"(global {_global_type(desc)})"


def _canonical_runs(runs: list[tuple[int, str]]) -> bool:
    """True when the parser's merging of adjacent equal local types rebuilds ``runs``."""
    prev = None
    for count, t in runs:
        if count == 0 or t == prev:
            return False
        prev = t
    return True


def _locals(runs: list[tuple[int, str]]) -> str:
    """``(local ...)``; runs the parser's merging would not rebuild also get an annotation."""
    if not runs:
        return ""
    text = " (local " + " ".join(t for n, t in runs for _ in range(n)) + ")"
    if text == " (local )":
        text = ""
    if _canonical_runs(runs):
        return text
    return text + " (@sharedwasm.locals " + " ".join(f"({n} {t})" for n, t in runs) + ")"


def _elem(e: ast.Elem, ctx: _Ctx) -> str:
    parts = ["(elem"]
    if e.mode == "declarative":
        parts.append("declare")
    elif e.mode == "active":
        if e.table_hint or e.table:
            parts.append(f"(table {e.table})")
        parts.append(f"(offset {_inline_expr(e.offset or [], ctx)})")
    if e.exprs_hint:
        parts.append(e.type)
        parts.extend(f"(item {_inline_expr(x, ctx)})" for x in e.init)
    else:
        # active on table 0 without an explicit table is the MVP form: no ``func`` keyword
        if e.mode != "active" or e.table_hint or e.table:
            parts.append("func")
        parts.extend(_elem_func(x, ctx) for x in e.init)
    return " ".join(parts) + ")"


def _elem_func(expr: ast.Expr, ctx: _Ctx) -> str:
    if len(expr) == 1 and expr[0].name == "ref.func":
        return ctx.func(expr[0].args[0])
    raise ValueError("an element segment of function indices holds a non-ref.func item")


def _data(d: ast.Data, ctx: _Ctx) -> str:
    parts = ["(data"]
    if d.mode == "active":
        if d.memory_hint or d.memory:
            parts.append(f"(memory {d.memory})")
        parts.append(f"(offset {_inline_expr(d.offset or [], ctx)})")
    parts.append(quote_bytes(d.init))
    return " ".join(parts) + ")"


def _func_ids(m: ast.Module) -> dict[int, str]:
    """Names of the ``name`` section usable as identifiers: valid and unique."""
    seen: dict[str, int] = {}
    for index, name in m.names.funcs.items():
        if _valid_id(name):
            seen[name] = -1 if name in seen else index
    return {index: name for name, index in seen.items() if index >= 0}


def print_module(m: ast.Module) -> str:
    """The module as canonical, flat text; parses back to an equivalent AST."""
    func_ids = _func_ids(m)
    ctx = _Ctx(func_ids)

    def fid(index: int) -> str:
        return f" ${func_ids[index]}" if index in func_ids else ""

    head = "(module" + (f" ${m.id}" if _valid_id(m.id) else "")
    out = [head]
    add = out.append
    for i, t in enumerate(m.types):
        add(f"  (type (;{i};) {_func_type(t)})")
    func_index = 0
    for imp in m.imports:
        ident = fid(func_index) if imp.kind == "func" else ""
        if imp.kind == "func":
            func_index += 1
        add(f"  (import {quote_name(imp.module)} {quote_name(imp.name)} "
            f"{_import_desc(imp, ident)})")
    for t in m.tables:
        add(f"  (table {_table_type(t)})")
    for mt in m.mems:
        add(f"  (memory {_mem_type(mt)})")
    for tag in m.tags:
        add(f"  (tag (type {tag.type_index}))")
    for g in m.globals:
        init = _inline_expr(g.init, ctx)
        add(f"  (global {_global_type(g.type)}{' ' + init if init else ''})")
    for f in m.funcs:
        add(f"  (func{fid(func_index)} {_signature(m, f.type_index)}{_locals(f.locals)}")
        out.extend(_body_lines(f.body, 2, ctx))
        out[-1] += ")"
        func_index += 1
    for e in m.exports:
        add(f"  (export {quote_name(e.name)} ({e.kind} {e.index}))")
    if m.start is not None:
        add(f"  (start {m.start})")
    for e in m.elems:
        add("  " + _elem(e, ctx))
    for d in m.datas:
        add("  " + _data(d, ctx))
    if m.data_count is not None:
        add(f"  (@sharedwasm.datacount {m.data_count})")
    for c in m.customs:
        where = "(before first)" if c.after == 0 else f"(after {SECTION_NAMES[c.after]})"
        add(f"  (@custom {quote_name(c.name)} {where} {quote_bytes(c.data)})")
    out[-1] += ")"
    return "\n".join(out) + "\n"
