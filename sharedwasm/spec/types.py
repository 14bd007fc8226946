"""Value, function, table, memory, global and tag types (spec chapter 2.3) and their codes.

Value types are plain strings (``"i32"``, ``"funcref"``, ...) so they print, compare and
hash cheaply; the structured types are frozen dataclasses.
"""
from __future__ import annotations

from dataclasses import dataclass

NUM_TYPES = ("i32", "i64", "f32", "f64")
VEC_TYPES = ("v128",)
REF_TYPES = ("funcref", "externref", "exnref")
VAL_TYPES = NUM_TYPES + VEC_TYPES + REF_TYPES

#: binary code of each value type
VALTYPE_CODE = {"i32": 0x7F, "i64": 0x7E, "f32": 0x7D, "f64": 0x7C, "v128": 0x7B,
                "funcref": 0x70, "externref": 0x6F, "exnref": 0x69}
CODE_VALTYPE = {v: k for k, v in VALTYPE_CODE.items()}

#: heap type (as written after ``ref.null``) <-> reference type
HEAP_TO_REF = {"func": "funcref", "extern": "externref", "exn": "exnref"}
REF_TO_HEAP = {v: k for k, v in HEAP_TO_REF.items()}

PAGE_SIZE = 65536
MAX_PAGES = 65536          # 4 GiB of 32-bit linear memory
MAX_TABLE = 2**32 - 1


def is_num(t: str) -> bool:
    return t in NUM_TYPES


def is_ref(t: str) -> bool:
    return t in REF_TYPES


@dataclass(frozen=True, slots=True)
class FuncType:
    params: tuple[str, ...] = ()
    results: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"[{' '.join(self.params)}] -> [{' '.join(self.results)}]"


@dataclass(frozen=True, slots=True)
class Limits:
    min: int
    max: int | None = None
    shared: bool = False


@dataclass(frozen=True, slots=True)
class TableType:
    elem: str            # a reference type
    limits: Limits


@dataclass(frozen=True, slots=True)
class MemType:
    limits: Limits


@dataclass(frozen=True, slots=True)
class GlobalType:
    type: str
    mutable: bool = False


@dataclass(frozen=True, slots=True)
class TagType:
    """An exception tag: attribute 0 (exception) and the index of its function type."""

    type_index: int
