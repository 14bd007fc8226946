"""Instructions of the text format (spec 6.5): plain and folded forms to the flat AST stream.

Immediates are read by a dict keyed by immediate kind (the kinds of ``opcodes.py``); the few
instructions whose text syntax is not "one token per binary immediate" (optional table or
memory operands, typed ``select``, ``call_indirect``'s type use, ...) have readers of their
own keyed by mnemonic. Labels are resolved to relative depths here.
"""
from __future__ import annotations

from typing import Callable

from ..errors import ParseError
from ..spec.ast import Catch, Instr, MemArg
from ..spec.opcodes import OPS, OpInfo
from ..spec.types import HEAP_TO_REF
from . import numbers
from .sexpr import Atom, List

__all__ = ["Cursor", "FuncScope", "parse_instrs", "parse_expr", "error_at"]

BLOCKS = ("block", "loop", "if", "try_table")
#: NaN patterns of the script format, not literals of the text format
SCRIPT_NANS = frozenset({"nan:canonical", "nan:arithmetic"})
#: keywords of the surrounding syntax: misplaced, they are unexpected rather than unknown
NOT_INSTRUCTIONS = frozenset({"param", "result", "type", "local", "then", "else", "catch",
                              "catch_ref", "catch_all", "catch_all_ref", "export", "import",
                              "item", "offset", "mut", "end"})


def error_at(node, message: str) -> ParseError:
    return ParseError(message, line=node.line, column=node.col,
                      source=getattr(node, "source", None))


class Cursor:
    """A position inside the items of one list; ``owner`` locates errors at the end."""

    __slots__ = ("items", "i", "owner")

    def __init__(self, items: list, i: int, owner: List):
        self.items = items
        self.i = i
        self.owner = owner

    def peek(self):
        return self.items[self.i] if self.i < len(self.items) else None

    def at_end(self) -> bool:
        return self.i >= len(self.items)

    def next(self):
        if self.i >= len(self.items):
            raise error_at(self.owner, "unexpected token")
        node = self.items[self.i]
        self.i += 1
        return node

    def peek_atom(self, kind: str) -> Atom | None:
        node = self.peek()
        if isinstance(node, Atom) and node.kind == kind:
            return node
        return None

    def peek_list(self, head: str) -> List | None:
        node = self.peek()
        if isinstance(node, List) and node.annotation is None and node.head() == head:
            return node
        return None

    def keyword(self, text: str) -> bool:
        node = self.peek()
        if isinstance(node, Atom) and node.kind == "keyword" and node.text == text:
            self.i += 1
            return True
        return False

    def expect_end(self) -> None:
        if self.i < len(self.items):
            raise unexpected(self.items[self.i])


def unexpected(node) -> ParseError:
    if isinstance(node, Atom) and node.kind == "reserved":
        return error_at(node, "unknown operator")
    return error_at(node, "unexpected token")


def number(node, parse: Callable[[str], int]) -> int:
    """Apply a numbers.py reader to an atom, turning its ValueError into a located error."""
    if not isinstance(node, Atom) or node.kind not in ("number", "keyword"):
        raise unexpected(node)
    try:
        return parse(node.text)
    except ValueError as e:
        msg = str(e)
        if msg == numbers.UNKNOWN:
            msg = "unknown operator" if node.kind == "reserved" or (
                node.text.startswith("nan:") and node.text not in SCRIPT_NANS) \
                else "unexpected token"
        raise error_at(node, msg) from None


class FuncScope:
    """Name resolution inside one function (or constant expression): locals and labels."""

    def __init__(self, module, locals_: dict[str, int] | None = None):
        self.module = module            # parser.ModuleContext
        self.locals = locals_ or {}
        self.labels: list[str | None] = []

    def label(self, node) -> int:
        if isinstance(node, Atom) and node.kind == "id":
            for depth, name in enumerate(reversed(self.labels)):
                if name == node.value:
                    return depth
            raise error_at(node, "unknown label")
        return number(node, numbers.parse_nat)

    def local(self, node) -> int:
        if isinstance(node, Atom) and node.kind == "id":
            if node.value not in self.locals:
                raise error_at(node, "unknown local")
            return self.locals[node.value]
        return number(node, numbers.parse_nat)


def _is_index(node) -> bool:
    return isinstance(node, Atom) and (node.kind == "id" or (
        node.kind == "number" and node.text[0] not in "+-" and node.text[:1].isdigit()))


# --- immediates by kind -------------------------------------------------------------------

def _index_reader(space: str):
    def read(cur: Cursor, scope: FuncScope, op: OpInfo):
        return scope.module.resolve(space, cur.next())
    return read


def _optional_index_reader(space: str):
    def read(cur: Cursor, scope: FuncScope, op: OpInfo):
        if _is_index(cur.peek()):
            return scope.module.resolve(space, cur.next())
        return 0
    return read


def _read_memarg(cur: Cursor, scope: FuncScope, op: OpInfo) -> MemArg:
    offset, align = 0, 1 << op.align
    node = cur.peek_atom("keyword")
    if node is not None and node.text.startswith("offset="):
        cur.i += 1
        offset = _memarg_value(node, node.text[7:], 32, "i32 constant out of range")
        node = cur.peek_atom("keyword")
    if node is not None and node.text.startswith("align="):
        cur.i += 1
        align = _memarg_value(node, node.text[6:], 32, "i32 constant out of range")
        if align == 0 or align & (align - 1):
            raise error_at(node, "alignment must be a power of two")
    return MemArg(align.bit_length() - 1, offset)


def _memarg_value(node: Atom, text: str, bits: int, too_big: str) -> int:
    try:
        return numbers.parse_nat(text, bits)
    except ValueError as e:
        if str(e) == numbers.OUT_OF_RANGE:
            raise error_at(node, too_big) from None
        raise error_at(node, "unknown operator") from None


def _read_lane(cur: Cursor, scope: FuncScope, op: OpInfo) -> int:
    node = cur.next()
    if not isinstance(node, Atom) or node.kind != "number" or not node.text[0].isdigit():
        raise unexpected(node)
    try:
        return numbers.parse_nat(node.text, 8)
    except ValueError as e:
        bad = "malformed lane index" if str(e) == numbers.OUT_OF_RANGE else "unexpected token"
        raise error_at(node, bad) from None


def _is_literal(node: Atom) -> bool:
    """A lane literal, or a malformed token where one belongs; stops before the next instruction."""
    return node.kind in ("number", "reserved") or (node.kind == "keyword" and node.text not in OPS)


def _read_shuffle(cur: Cursor, scope: FuncScope, op: OpInfo) -> tuple[int, ...]:
    lanes = []
    while isinstance(node := cur.peek(), Atom) and _is_literal(node):
        cur.i += 1
        try:
            lanes.append(numbers.parse_nat(node.text, 8))
        except ValueError:
            raise error_at(node, "malformed lane index") from None
    if len(lanes) != 16:
        raise error_at(cur.peek() or cur.owner, "invalid lane length")
    return tuple(lanes)


_SHAPES = {"i8x16": (16, 8, "i"), "i16x8": (8, 16, "i"), "i32x4": (4, 32, "i"),
           "i64x2": (2, 64, "i"), "f32x4": (4, 32, "f"), "f64x2": (2, 64, "f")}


def _read_v128(cur: Cursor, scope: FuncScope, op: OpInfo) -> bytes:
    shape = cur.next()
    if not isinstance(shape, Atom) or shape.text not in _SHAPES:
        raise unexpected(shape)
    count, bits, kind = _SHAPES[shape.text]
    parse = (lambda t: numbers.parse_int(t, bits)) if kind == "i" else \
        (lambda t: numbers.parse_float(t, bits))
    start = cur.i
    while isinstance(node := cur.peek(), Atom) and _is_literal(node):
        cur.i += 1
    if cur.i - start != count:
        raise error_at(cur.peek() or cur.owner, "wrong number of lane literals")
    out = bytearray()
    mask = (1 << bits) - 1
    for node in cur.items[start:cur.i]:
        out += (number(node, parse) & mask).to_bytes(bits // 8, "little")
    return bytes(out)


def _read_heaptype(cur: Cursor, scope: FuncScope, op: OpInfo) -> str:
    node = cur.next()
    if not isinstance(node, Atom) or node.text not in HEAP_TO_REF:
        raise unexpected(node)
    return node.text


def _const_reader(bits: int, parse):
    def read(cur: Cursor, scope: FuncScope, op: OpInfo):
        return number(cur.next(), lambda t: parse(t, bits))
    return read


IMMEDIATES: dict[str, Callable] = {
    "labelidx": lambda cur, scope, op: scope.label(cur.next()),
    "funcidx": _index_reader("func"),
    "typeidx": _index_reader("type"),
    "tableidx": _optional_index_reader("table"),
    "localidx": lambda cur, scope, op: scope.local(cur.next()),
    "globalidx": _index_reader("global"),
    "dataidx": _index_reader("data"),
    "elemidx": _index_reader("elem"),
    "tagidx": _index_reader("tag"),
    "memidx": _optional_index_reader("memory"),
    "memarg": _read_memarg,
    "i32": _const_reader(32, numbers.parse_int),
    "i64": _const_reader(64, numbers.parse_int),
    "f32": _const_reader(32, numbers.parse_float),
    "f64": _const_reader(64, numbers.parse_float),
    "v128": _read_v128,
    "lane": _read_lane,
    "shuffle": _read_shuffle,
    "heaptype": _read_heaptype,
    "zero": lambda cur, scope, op: 0,
}


# --- instructions with a text syntax of their own -----------------------------------------

def _br_table(cur: Cursor, scope: FuncScope, op: OpInfo) -> tuple:
    labels = []
    while _is_index(cur.peek()) or (isinstance(cur.peek(), Atom)
                                    and cur.peek().kind == "reserved"):
        labels.append(scope.label(cur.next()))
    if not labels:
        raise error_at(cur.peek() or cur.owner, "unexpected token")
    return (tuple(labels[:-1]), labels[-1])


def _call_indirect(cur: Cursor, scope: FuncScope, op: OpInfo) -> tuple:
    table = 0
    if _is_index(cur.peek()):
        table = scope.module.resolve("table", cur.next())
    type_index, _ = scope.module.type_use(cur, allow_names=False)
    return (type_index, table)


def _segment_init(cur: Cursor, scope: FuncScope, space: str, segments: str) -> tuple:
    """``x? y`` of ``table.init``/``memory.init``: (segment, table or memory), 0 by default."""
    first = cur.next()
    if _is_index(cur.peek()):
        target = scope.module.resolve(space, first)
        return (scope.module.resolve(segments, cur.next()), target)
    return (scope.module.resolve(segments, first), 0)


def _table_init(cur: Cursor, scope: FuncScope, op: OpInfo) -> tuple:
    return _segment_init(cur, scope, "table", "elem")


def _memory_init(cur: Cursor, scope: FuncScope, op: OpInfo) -> tuple:
    return _segment_init(cur, scope, "memory", "data")


def _two_optional(space: str):
    def read(cur: Cursor, scope: FuncScope, op: OpInfo) -> tuple:
        if _is_index(cur.peek()):
            dst = scope.module.resolve(space, cur.next())
            return (dst, scope.module.resolve(space, cur.next()))
        return (0, 0)
    return read


def _lane_access(cur: Cursor, scope: FuncScope, op: OpInfo) -> tuple:
    memarg = _read_memarg(cur, scope, op)
    return (memarg, _read_lane(cur, scope, op))


SPECIAL: dict[str, Callable] = {
    "br_table": _br_table,
    "call_indirect": _call_indirect,
    "return_call_indirect": _call_indirect,
    "table.init": _table_init,
    "table.copy": _two_optional("table"),
    "memory.init": _memory_init,
    "memory.copy": _two_optional("memory"),
    **{name: _lane_access for name, info in OPS.items() if info.imms == ("memarg", "lane")},
}


def _select(cur: Cursor, scope: FuncScope) -> Instr:
    types: list[str] | None = None
    while (node := cur.peek_list("result")) is not None:
        cur.i += 1
        types = (types or []) + [scope.module.valtype(t) for t in node.items[1:]]
    if types is None:
        return Instr("select")
    return Instr("select_t", (tuple(types),))


def _plain(name_node: Atom, cur: Cursor, scope: FuncScope) -> Instr:
    name = name_node.text
    if name == "select":
        return _select(cur, scope)
    op = OPS.get(name)
    if op is None or name == "select_t" or op.feature not in scope.module.features:
        if name in NOT_INSTRUCTIONS:
            raise error_at(name_node, "unexpected token")
        raise error_at(name_node, f"unknown operator {name}")
    special = SPECIAL.get(name)
    if special is not None:
        return Instr(name, special(cur, scope, op))
    if not op.imms:
        return Instr(name)
    return Instr(name, tuple(IMMEDIATES[k](cur, scope, op) for k in op.imms))


# --- blocks -------------------------------------------------------------------------------

def _label_binding(cur: Cursor) -> str | None:
    node = cur.peek_atom("id")
    if node is not None:
        cur.i += 1
        return node.value
    return None


def _catches(cur: Cursor, scope: FuncScope) -> tuple:
    out = []
    while True:
        node = cur.peek()
        if not (isinstance(node, List) and node.head() in ("catch", "catch_ref", "catch_all",
                                                            "catch_all_ref")):
            return tuple(out)
        cur.i += 1
        kind = node.head()
        inner = Cursor(node.items, 1, node)
        tag = scope.module.resolve("tag", inner.next()) if kind in ("catch", "catch_ref") \
            else None
        out.append(Catch(kind, tag, scope.label(inner.next())))
        inner.expect_end()


def _block_start(name: str, cur: Cursor, scope: FuncScope) -> tuple[Instr, str | None]:
    label = _label_binding(cur)
    bt = scope.module.block_type(cur)
    if name == "try_table":
        return Instr(name, (bt, _catches(cur, scope))), label
    return Instr(name, (bt,)), label


def _end_label(cur: Cursor, label: str | None) -> None:
    node = cur.peek_atom("id")
    if node is not None:
        cur.i += 1
        if node.value != label:
            raise error_at(node, "mismatching label")


def parse_instrs(cur: Cursor, scope: FuncScope, out: list) -> None:
    """Parse instructions up to the end of ``cur`` (plain and folded, mixed)."""
    depth = len(scope.labels)
    while not cur.at_end():
        node = cur.items[cur.i]
        cur.i += 1
        if isinstance(node, List):
            if node.annotation is None:
                _folded(node, scope, out)
            continue
        if node.kind != "keyword":
            raise unexpected(node)
        name = node.text
        if name in BLOCKS:
            instr, label = _block_start(name, cur, scope)
            out.append(instr)
            scope.labels.append(label)
        elif name == "else" or name == "end":
            if len(scope.labels) <= depth:
                raise error_at(node, "unexpected token")
            _end_label(cur, scope.labels[-1])
            out.append(Instr(name))
            if name == "end":
                scope.labels.pop()
        else:
            out.append(_plain(node, cur, scope))
    if len(scope.labels) > depth:
        raise error_at(cur.owner, "unexpected end")


def _folded(node: List, scope: FuncScope, out: list) -> None:
    items = node.items
    if not items or not isinstance(items[0], Atom) or items[0].kind != "keyword":
        raise unexpected(items[0] if items else node)
    name = items[0].text
    cur = Cursor(items, 1, node)
    if name in BLOCKS:
        instr, label = _block_start(name, cur, scope)
        if name == "if":
            _folded_if(instr, label, cur, scope, out)
            return
        out.append(instr)
        scope.labels.append(label)
        parse_instrs(cur, scope, out)
        scope.labels.pop()
        out.append(Instr("end"))
        return
    instr = _plain(items[0], cur, scope)
    while not cur.at_end():
        operand = cur.next()
        if not isinstance(operand, List):
            raise unexpected(operand)
        if operand.annotation is None:
            _folded(operand, scope, out)
    out.append(instr)


def _folded_if(instr: Instr, label: str | None, cur: Cursor, scope: FuncScope,
               out: list) -> None:
    while True:
        node = cur.peek()
        if not isinstance(node, List) or node.head() == "then":
            break
        cur.i += 1
        if node.annotation is None:
            _folded(node, scope, out)
    then = cur.peek_list("then")
    if then is None:
        raise error_at(cur.peek() or cur.owner, "unexpected token")
    cur.i += 1
    out.append(instr)
    scope.labels.append(label)
    parse_instrs(Cursor(then.items, 1, then), scope, out)
    other = cur.peek_list("else")
    if other is not None:
        cur.i += 1
        out.append(Instr("else"))
        parse_instrs(Cursor(other.items, 1, other), scope, out)
    scope.labels.pop()
    cur.expect_end()
    out.append(Instr("end"))


def parse_expr(node: List, start: int, scope: FuncScope) -> list:
    """The instructions of ``node.items[start:]`` as one expression."""
    out: list = []
    parse_instrs(Cursor(node.items, start, node), scope, out)
    return out
