"""Exception handling objects: tag instances, exception instances and ``WasmThrow``.

A wasm ``throw`` raises ``WasmThrow`` carrying an ``ExceptionInst``; ``try_table`` catches it
with a Python ``except WasmThrow`` and matches the tag by identity. Host code may raise a
``WasmThrow`` (or a subclass, as the public ``Exception`` class) to throw into wasm code.
"""
from __future__ import annotations

from ..spec.types import FuncType

__all__ = ["TagInst", "ExceptionInst", "WasmThrow"]


class TagInst:
    """A tag instance: identity is what ``catch`` compares; ``type`` gives the payload."""

    __slots__ = ("type", "__weakref__")

    def __init__(self, type_: FuncType):
        self.type = type_

    def __repr__(self) -> str:
        return f"<TagInst {self.type}>"


class ExceptionInst:
    """An exception instance (the value an ``exnref`` refers to)."""

    __slots__ = ("tag", "payload", "__weakref__")

    def __init__(self, tag: TagInst, payload: list | tuple):
        self.tag = tag
        self.payload = tuple(payload)

    def __repr__(self) -> str:
        return f"<ExceptionInst {self.tag.type} {self.payload!r}>"


class WasmThrow(Exception):
    """The Python exception that carries a wasm exception while it unwinds."""

    def __init__(self, exn: ExceptionInst):
        super().__init__(exn)
        self.exn = exn
