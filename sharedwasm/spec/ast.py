"""The module AST (spec chapter 2.5), shared by the binary and text formats.

Instructions are flat: a function body is the instruction sequence of the binary format,
with ``block``/``loop``/``if``/``try_table`` closed by explicit ``else``/``end`` entries and
without the final ``end`` of the body (expressions likewise). Validation and the compilers
walk this flat stream; the text printer folds nothing.

Fields named ``*_hint`` record encoding choices that do not change meaning (which of the
equivalent binary forms a segment used) so that decode -> encode reproduces the input bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .types import FuncType, GlobalType, MemType, TableType, TagType


class MemArg(NamedTuple):
    align: int          # log2 of the alignment
    offset: int


class Catch(NamedTuple):
    """A ``try_table`` clause: kind is ``catch``, ``catch_ref``, ``catch_all`` or ``catch_all_ref``."""

    kind: str
    tag: int | None
    label: int


CATCH_KINDS = ("catch", "catch_ref", "catch_all", "catch_all_ref")


class Instr(NamedTuple):
    """One instruction: its mnemonic (a key of ``opcodes.OPS``) and immediates in binary order.

    ``offset`` is the byte offset in the binary (or -1 when built from text); it is not
    part of equality-relevant content for round trips, so comparisons use ``name``/``args``.
    """

    name: str
    args: tuple = ()
    offset: int = -1

    def same(self, other: "Instr") -> bool:
        return self.name == other.name and self.args == other.args


Expr = list  # list[Instr], without the terminating ``end``


@dataclass(slots=True)
class Import:
    module: str
    name: str
    kind: str           # "func" | "table" | "memory" | "global" | "tag"
    desc: object        # type index (func) or TableType / MemType / GlobalType / TagType


@dataclass(slots=True)
class Export:
    name: str
    kind: str
    index: int


@dataclass(slots=True)
class Func:
    type_index: int
    locals: list[tuple[int, str]] = field(default_factory=list)   # runs (count, type) as encoded
    body: Expr = field(default_factory=list)
    offset: int = -1    # byte offset of the body in the binary, for error messages
    # the body (locals and code) as encoded; reused by the encoder while it still decodes to
    # the same locals and instructions, so padded LEB128s of tool output survive
    body_hint: bytes | None = None

    def local_types(self) -> list[str]:
        return [t for n, t in self.locals for _ in range(n)]


@dataclass(slots=True)
class Global:
    type: GlobalType
    init: Expr


@dataclass(slots=True)
class Elem:
    """An element segment. ``init`` is a list of expressions (each a list of Instr)."""

    type: str                       # reference type
    init: list[Expr]
    mode: str = "active"            # "active" | "passive" | "declarative"
    table: int = 0
    offset: Expr | None = None
    exprs_hint: bool = False        # encoded as expressions (flags 4-7) rather than func indices
    table_hint: bool = False        # active with an explicit table index (flags 2/6)


@dataclass(slots=True)
class Data:
    init: bytes
    mode: str = "active"            # "active" | "passive"
    memory: int = 0
    offset: Expr | None = None
    memory_hint: bool = False       # active with an explicit memory index (flag 2)


@dataclass(slots=True)
class Custom:
    """A custom section; ``after`` is the id of the last non-custom section before it (0: none)."""

    name: str
    data: bytes
    after: int = 0


@dataclass(slots=True)
class Names:
    """What the ``name`` custom section says; used for printing and error messages only."""

    module: str | None = None
    funcs: dict[int, str] = field(default_factory=dict)
    locals: dict[int, dict[int, str]] = field(default_factory=dict)


@dataclass(slots=True)
class Module:
    types: list[FuncType] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    funcs: list[Func] = field(default_factory=list)
    tables: list[TableType] = field(default_factory=list)
    mems: list[MemType] = field(default_factory=list)
    tags: list[TagType] = field(default_factory=list)
    globals: list[Global] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    start: int | None = None
    elems: list[Elem] = field(default_factory=list)
    datas: list[Data] = field(default_factory=list)
    data_count: int | None = None   # the data count section, when present
    customs: list[Custom] = field(default_factory=list)
    names: Names = field(default_factory=Names)
    id: str | None = None           # the text format's ``$name`` of the module

    def imported(self, kind: str) -> list[Import]:
        return [i for i in self.imports if i.kind == kind]

    # Index spaces: imports come first, then definitions.
    def func_types(self) -> list[FuncType]:
        return [self.types[i.desc] for i in self.imported("func")] + \
               [self.types[f.type_index] for f in self.funcs]

    def table_types(self) -> list[TableType]:
        return [i.desc for i in self.imported("table")] + list(self.tables)

    def mem_types(self) -> list[MemType]:
        return [i.desc for i in self.imported("memory")] + list(self.mems)

    def global_types(self) -> list[GlobalType]:
        return [i.desc for i in self.imported("global")] + [g.type for g in self.globals]

    def tag_types(self) -> list[FuncType]:
        return [self.types[i.desc.type_index] for i in self.imported("tag")] + \
               [self.types[t.type_index] for t in self.tags]
