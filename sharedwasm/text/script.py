"""The ``.wast`` script format: ``parse_script(text) -> list[Command]``.

Covers the commands of the spec interpreter's script grammar and of the threads proposal's
extension (``thread``/``wait``/``either``). Modules are not compiled here: a text module
keeps its s-expression (``ModuleCommand.parse`` turns it into an AST on demand), a binary
module its bytes (the runner decodes them) and a quoted module its source text, since
``assert_malformed`` expects exactly that parse to fail.

``(assert_trap (module ...) "msg")`` is the spec's spelling of a module whose
instantiation traps; it becomes ``AssertUninstantiable``, like the older explicit form.

Values are typed objects with exact bits: ``Const`` holds i32/i64 as unsigned bit
patterns, f32/f64 as raw IEEE bits and v128 as 16 bytes; expected results may also be
``NanPattern``, ``V128Pattern`` (per-lane patterns), ``RefNull``, ``RefExtern``,
``RefFunc``, ``RefExn`` and ``Either``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from ..errors import ALL_FEATURES, ParseError
from ..spec import ast
from . import numbers
from .sexpr import Atom, List, Node, parse

__all__ = [
    "parse_script", "Command", "ModuleCommand", "ModuleInstance", "Register", "Invoke", "Get",
    "ActionCommand", "AssertReturn", "AssertTrap", "AssertExhaustion", "AssertMalformed",
    "AssertInvalid", "AssertUnlinkable", "AssertUninstantiable", "AssertException", "Thread",
    "Wait", "Const", "NanPattern", "V128Pattern", "RefNull", "RefExtern", "RefFunc", "RefExn",
    "Either", "Value", "Result", "Action",
]


# --- values -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Const:
    """A concrete value: i32/i64 unsigned bits, f32/f64 raw bits, v128 16 bytes."""

    type: str
    value: int | bytes


@dataclass(frozen=True, slots=True)
class NanPattern:
    """``nan:canonical`` or ``nan:arithmetic`` for an f32/f64 result (or v128 lane)."""

    type: str
    kind: str


@dataclass(frozen=True, slots=True)
class V128Pattern:
    """A v128 result with at least one NaN-pattern lane; other lanes are raw lane bits."""

    shape: str
    lanes: tuple[Union[int, NanPattern], ...]


@dataclass(frozen=True, slots=True)
class RefNull:
    heaptype: str | None        # "func" | "extern" | "exn"; None: any null (results only)


@dataclass(frozen=True, slots=True)
class RefExtern:
    index: int | None           # None in a result: any non-null extern reference


@dataclass(frozen=True, slots=True)
class RefFunc:
    index: int | None = None    # results: any non-null function reference


@dataclass(frozen=True, slots=True)
class RefExn:
    """Any non-null exception reference (results only)."""


@dataclass(frozen=True, slots=True)
class Either:
    values: tuple["Result", ...]


Value = Union[Const, RefNull, RefExtern]
Result = Union[Const, NanPattern, V128Pattern, RefNull, RefExtern, RefFunc, RefExn, Either]


# --- commands -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Command:
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class ModuleCommand(Command):
    """A module: ``kind`` is ``text`` (``node``), ``binary`` (``binary``) or ``quote``.

    ``line``/``col`` locate the ``module`` keyword (as outside tools report it).
    ``quote`` is the strings joined by spaces: a ``str``, or ``bytes`` when they are not
    valid UTF-8 (the text parser then reports the malformed encoding). ``definition``
    marks ``(module definition ...)``, which is compiled but not instantiated.
    """

    name: str | None
    kind: str
    node: List | None = None
    binary: bytes | None = None
    quote: str | bytes | None = None
    definition: bool = False
    source: str | None = None

    def parse(self, features: frozenset[str] = ALL_FEATURES) -> ast.Module:
        """The module's AST (text and quote forms; raises ``ParseError``/``CompileError``)."""
        from . import parser
        if self.kind == "text":
            return parser.parse_module_node(self.node, features=features)
        if self.kind == "quote":
            return parser.parse_module(self.quote, features=features, source=self.source)
        raise ValueError("a binary module is decoded, not parsed")


@dataclass(frozen=True, slots=True)
class ModuleInstance(Command):
    """``(module instance $inst $def)``: instantiate a module definition again."""

    name: str | None
    definition: str | None


@dataclass(frozen=True, slots=True)
class Register(Command):
    as_name: str
    module: str | None


@dataclass(frozen=True, slots=True)
class Invoke(Command):
    module: str | None
    field: str
    args: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Get(Command):
    module: str | None
    field: str


Action = Union[Invoke, Get]


@dataclass(frozen=True, slots=True)
class ActionCommand(Command):
    action: Action


@dataclass(frozen=True, slots=True)
class AssertReturn(Command):
    action: Action
    results: tuple[Result, ...]


@dataclass(frozen=True, slots=True)
class AssertTrap(Command):
    action: Action
    message: str


@dataclass(frozen=True, slots=True)
class AssertExhaustion(Command):
    action: Action
    message: str


@dataclass(frozen=True, slots=True)
class AssertException(Command):
    action: Action


@dataclass(frozen=True, slots=True)
class AssertMalformed(Command):
    module: ModuleCommand
    message: str


@dataclass(frozen=True, slots=True)
class AssertInvalid(Command):
    module: ModuleCommand
    message: str


@dataclass(frozen=True, slots=True)
class AssertUnlinkable(Command):
    module: ModuleCommand
    message: str


@dataclass(frozen=True, slots=True)
class AssertUninstantiable(Command):
    module: ModuleCommand
    message: str


@dataclass(frozen=True, slots=True)
class Thread(Command):
    """``(thread $T (shared (module $M))* cmd*)``: run ``commands`` concurrently."""

    name: str | None
    shared: tuple[str, ...]
    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class Wait(Command):
    thread: str


# --- the parser ---------------------------------------------------------------------------

class _Reader:
    """Walks the items of one list, with located errors."""

    __slots__ = ("node", "items", "i", "source")

    def __init__(self, node: List, source: str | None, start: int = 1):
        self.node = node
        self.items = node.items
        self.i = start
        self.source = source

    def error(self, message: str, at: Node | None = None) -> ParseError:
        at = at if at is not None else self.peek() or self.node
        return ParseError(message, line=at.line, column=at.col, source=self.source)

    def peek(self) -> Node | None:
        return self.items[self.i] if self.i < len(self.items) else None

    def next(self, what: str) -> Node:
        node = self.peek()
        if node is None:
            raise self.error(f"unexpected token: expected {what}", self.node)
        self.i += 1
        return node

    def optional_id(self) -> str | None:
        node = self.peek()
        if isinstance(node, Atom) and node.kind == "id":
            self.i += 1
            return node.value
        return None

    def id(self) -> str:
        node = self.next("an identifier")
        if not (isinstance(node, Atom) and node.kind == "id"):
            raise self.error("unexpected token: expected an identifier", node)
        return node.value

    def string(self) -> bytes:
        node = self.next("a string")
        if not (isinstance(node, Atom) and node.kind == "string"):
            raise self.error("unexpected token: expected a string", node)
        return node.value

    def name(self) -> str:
        node = self.peek()
        data = self.string()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("malformed UTF-8 encoding", node) from None

    def list(self, what: str) -> List:
        node = self.next(what)
        if not isinstance(node, List):
            raise self.error(f"unexpected token: expected {what}", node)
        return node

    def rest(self) -> list[Node]:
        items = self.items[self.i:]
        self.i = len(self.items)
        return items

    def done(self) -> None:
        node = self.peek()
        if node is not None:
            raise self.error("unexpected token", node)


def _keyword(node: Node) -> str | None:
    return node.head() if isinstance(node, List) and node.annotation is None else None


# values

def _number(atom: Node, r: _Reader) -> str:
    if not isinstance(atom, Atom) or atom.kind not in ("number", "keyword"):
        raise r.error("unexpected token: expected a number", atom)
    return atom.text


def _located(fn: Callable[[str], int], atom: Node, r: _Reader) -> int:
    try:
        return fn(_number(atom, r))
    except ValueError as e:
        raise r.error(str(e), atom) from None


def _int_bits(bits: int) -> Callable[[str], int]:
    mask = (1 << bits) - 1
    return lambda text: numbers.parse_int(text, bits) & mask


def _float_bits(bits: int) -> Callable[[str], int]:
    return lambda text: numbers.parse_float(text, bits)


_NAN_KINDS = {"nan:canonical": "canonical", "nan:arithmetic": "arithmetic"}
_SCALAR = {"i32": _int_bits(32), "i64": _int_bits(64), "f32": _float_bits(32),
           "f64": _float_bits(64)}
#: v128 shape -> (lane count, lane bits, lane literal parser, lane type)
_SHAPES = {
    "i8x16": (16, 8, _int_bits(8), "i8"), "i16x8": (8, 16, _int_bits(16), "i16"),
    "i32x4": (4, 32, _int_bits(32), "i32"), "i64x2": (2, 64, _int_bits(64), "i64"),
    "f32x4": (4, 32, _float_bits(32), "f32"), "f64x2": (2, 64, _float_bits(64), "f64"),
}


def _scalar(t: str, r: _Reader, pattern: bool) -> Result:
    atom = r.next("a number")
    if pattern and t[0] == "f" and isinstance(atom, Atom) and atom.text in _NAN_KINDS:
        return NanPattern(t, _NAN_KINDS[atom.text])
    return Const(t, _located(_SCALAR[t], atom, r))


def _v128(r: _Reader, pattern: bool) -> Result:
    shape_atom = r.next("a vector shape")
    shape = shape_atom.text if isinstance(shape_atom, Atom) else None
    if shape not in _SHAPES:
        raise r.error("unexpected token: expected a vector shape", shape_atom)
    count, bits, lane_fn, lane_type = _SHAPES[shape]
    lanes: list[int | NanPattern] = []
    for _ in range(count):
        atom = r.next("a lane value")
        if pattern and lane_type[0] == "f" and isinstance(atom, Atom) \
                and atom.text in _NAN_KINDS:
            lanes.append(NanPattern(lane_type, _NAN_KINDS[atom.text]))
        else:
            lanes.append(_located(lane_fn, atom, r))
    if any(isinstance(x, NanPattern) for x in lanes):
        return V128Pattern(shape, tuple(lanes))
    data = b"".join(x.to_bytes(bits // 8, "little") for x in lanes)   # type: ignore[union-attr]
    return Const("v128", data)


def _ref_null(r: _Reader, pattern: bool) -> Result:
    node = r.peek()
    if node is None and pattern:
        return RefNull(None)
    atom = r.next("a heap type")
    if not (isinstance(atom, Atom) and atom.text in ("func", "extern", "exn")):
        raise r.error("unexpected token: expected a heap type", atom)
    return RefNull(atom.text)


def _optional_nat(r: _Reader, pattern: bool) -> int | None:
    if r.peek() is None and pattern:
        return None
    return _located(lambda text: numbers.parse_nat(text, 32), r.next("a number"), r)


def _either(r: _Reader, pattern: bool) -> Result:
    if not pattern:
        raise r.error("unexpected token: either is only allowed in results", r.node)
    return Either(tuple(_value(n, r.source, True) for n in r.rest()))


def _ref_exn(r: _Reader, pattern: bool) -> Result:
    if not pattern:
        raise r.error("unexpected token: ref.exn is only allowed in results", r.node)
    return RefExn()


#: head keyword of a value -> its reader (``pattern``: in a result position)
_VALUES: dict[str, Callable[[_Reader, bool], Result]] = {
    **{f"{t}.const": (lambda t: lambda r, p: _scalar(t, r, p))(t) for t in _SCALAR},
    "v128.const": _v128,
    "ref.null": _ref_null,
    "ref.extern": lambda r, p: RefExtern(_optional_nat(r, p)),
    "ref.host": lambda r, p: RefExtern(_optional_nat(r, p)),
    "ref.func": lambda r, p: RefFunc(_optional_nat(r, p)) if p else _not_arg(r),
    "ref.exn": _ref_exn,
    "either": _either,
}


def _not_arg(r: _Reader) -> Result:
    raise r.error("unexpected token: not allowed as an argument", r.node)


def _value(node: Node, source: str | None, pattern: bool) -> Result:
    head = _keyword(node)
    reader = _VALUES.get(head) if head else None
    if reader is None:
        at = node
        raise ParseError("unexpected token: expected a value", line=at.line, column=at.col,
                         source=source)
    r = _Reader(node, source)       # type: ignore[arg-type]
    value = reader(r, pattern)
    r.done()
    return value


# modules

def _module(node: List, source: str | None) -> Command:
    r = _Reader(node, source)
    keyword = node.items[0]
    line, col = keyword.line, keyword.col     # where the ``module`` keyword is
    first = r.peek()
    if isinstance(first, Atom) and first.kind == "keyword" and first.text == "instance":
        r.i += 1
        name = r.optional_id()
        definition = r.optional_id()
        r.done()
        return ModuleInstance(line, col, name, definition)
    definition = False
    if isinstance(first, Atom) and first.kind == "keyword" and first.text == "definition":
        r.i += 1
        definition = True
    name = r.optional_id()
    form = r.peek()
    if isinstance(form, Atom) and form.kind == "keyword" and form.text in ("binary", "quote"):
        r.i += 1
        parts = []
        while r.peek() is not None:
            parts.append(r.string())
        if form.text == "binary":
            return ModuleCommand(line, col, name, "binary", binary=b"".join(parts),
                                 definition=definition, source=source)
        joined = b" ".join(parts)
        try:
            quote: str | bytes = joined.decode("utf-8")
        except UnicodeDecodeError:
            quote = joined
        return ModuleCommand(line, col, name, "quote", quote=quote, definition=definition,
                             source=source)
    return ModuleCommand(line, col, name, "text", node=node, definition=definition,
                         source=source)


def _module_arg(r: _Reader) -> ModuleCommand:
    node = r.list("a module")
    if _keyword(node) != "module":
        raise r.error("unexpected token: expected a module", node)
    cmd = _module(node, r.source)
    if not isinstance(cmd, ModuleCommand):
        raise r.error("unexpected token: expected a module", node)
    return cmd


# actions

def _action_node(node: Node, source: str | None) -> Action:
    head = _keyword(node)
    if head not in ("invoke", "get"):
        at = node
        raise ParseError("unexpected token: expected an action", line=at.line,
                         column=at.col, source=source)
    r = _Reader(node, source)           # type: ignore[arg-type]
    module = r.optional_id()
    field = r.name()
    if head == "get":
        r.done()
        return Get(node.line, node.col, module, field)
    args = tuple(_value(n, source, False) for n in r.rest())
    return Invoke(node.line, node.col, module, field, args)   # type: ignore[arg-type]


def _action(r: _Reader) -> Action:
    return _action_node(r.next("an action"), r.source)


def _message(r: _Reader) -> str:
    node = r.peek()
    data = r.string()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise r.error("malformed UTF-8 encoding", node) from None


# commands: head keyword -> reader of the rest of the list

def _register(r: _Reader) -> Command:
    as_name = r.name()
    module = r.optional_id()
    r.done()
    return Register(r.node.line, r.node.col, as_name, module)


def _assert_return(r: _Reader) -> Command:
    action = _action(r)
    results = tuple(_value(n, r.source, True) for n in r.rest())
    return AssertReturn(r.node.line, r.node.col, action, results)


def _assert_trap(r: _Reader) -> Command:
    node = r.peek()
    if _keyword(node) == "module":
        module = _module_arg(r)
        msg = _message(r)
        r.done()
        return AssertUninstantiable(r.node.line, r.node.col, module, msg)
    action = _action(r)
    msg = _message(r)
    r.done()
    return AssertTrap(r.node.line, r.node.col, action, msg)


def _assert_with_action(cls: type) -> Callable[[_Reader], Command]:
    def read(r: _Reader) -> Command:
        action = _action(r)
        msg = _message(r)
        r.done()
        return cls(r.node.line, r.node.col, action, msg)
    return read


def _assert_with_module(cls: type) -> Callable[[_Reader], Command]:
    def read(r: _Reader) -> Command:
        module = _module_arg(r)
        msg = _message(r)
        r.done()
        return cls(r.node.line, r.node.col, module, msg)
    return read


def _assert_exception(r: _Reader) -> Command:
    action = _action(r)
    r.done()
    return AssertException(r.node.line, r.node.col, action)


def _thread(r: _Reader) -> Command:
    name = r.optional_id()
    shared: list[str] = []
    while _keyword(r.peek()) == "shared":
        s = _Reader(r.list("shared"), r.source)
        m = s.list("a module reference")
        if _keyword(m) != "module":
            raise s.error("unexpected token: expected (module $name)", m)
        mr = _Reader(m, r.source)
        shared.append(mr.id())
        mr.done()
        s.done()
    commands = tuple(_command(n, r.source) for n in r.rest())
    return Thread(r.node.line, r.node.col, name, tuple(shared), commands)


def _wait(r: _Reader) -> Command:
    name = r.id()
    r.done()
    return Wait(r.node.line, r.node.col, name)


def _plain_action(r: _Reader) -> Command:
    return ActionCommand(r.node.line, r.node.col, _action_node(r.node, r.source))


_COMMANDS: dict[str, Callable[[_Reader], Command]] = {
    "module": lambda r: _module(r.node, r.source),
    "register": _register,
    "invoke": _plain_action,
    "get": _plain_action,
    "assert_return": _assert_return,
    "assert_trap": _assert_trap,
    "assert_exhaustion": _assert_with_action(AssertExhaustion),
    "assert_exception": _assert_exception,
    "assert_malformed": _assert_with_module(AssertMalformed),
    "assert_invalid": _assert_with_module(AssertInvalid),
    "assert_unlinkable": _assert_with_module(AssertUnlinkable),
    "assert_uninstantiable": _assert_with_module(AssertUninstantiable),
    "thread": _thread,
    "wait": _wait,
}


def _command(node: Node, source: str | None) -> Command:
    head = _keyword(node)
    reader = _COMMANDS.get(head) if head else None
    if reader is None:
        raise ParseError("unexpected token: expected a command", line=node.line,
                         column=node.col, source=source)
    return reader(_Reader(node, source))     # type: ignore[arg-type]


def parse_script(text: str | bytes, source: str | None = None) -> list[Command]:
    """The commands of a ``.wast`` script, in order; malformed scripts raise ``ParseError``.

    A script made only of module fields (a plain ``.wat`` file) is one text module.
    """
    nodes = parse(text, source)
    if nodes and all(isinstance(n, List) and _keyword(n) not in _COMMANDS
                     and n.annotation is None for n in nodes) \
            and _keyword(nodes[0]) in _MODULE_FIELDS:
        synthetic = List([Atom("keyword", "module", "module", 1, 1, 0), *nodes], 1, 1, 0)
        return [ModuleCommand(1, 1, None, "text", node=synthetic, source=source)]
    return [_command(n, source) for n in nodes]


_MODULE_FIELDS = frozenset({"type", "import", "func", "table", "memory", "global", "export",
                            "start", "elem", "data", "tag"})
