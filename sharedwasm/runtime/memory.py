"""Memory instances (spec 4.2.8): linear memory as a ``bytearray`` grown in place.

Generated code reads ``MemoryInst.data`` at function entry and again after anything that
may grow memory (calls, ``memory.grow``), and lets ``struct`` / indexing raise on accesses
past ``len(data)``; for this plain memory ``len(data)`` is the current size. A shared memory
(``shared_memory.SharedMemoryInst``, made by ``new_memory`` for shared limits) reserves its
maximum up front but its ``data`` is a view of the current size as last read, so the same
rule holds there; ``size_bytes`` reads its header.

A plain memory also offers typed views of its bytes (``u16 u32 u64 f64 s8 s16 s32``:
``memoryview`` casts, little-endian hosts only, see ``VIEWS``) that generated code indexes
for aligned accesses. ``grow`` releases them before growing (so they never pin the buffer
into a copy) and opens new ones after: code holding a view reloads it after anything that
may grow memory, like ``data``. Subclasses (shared, native) get views cast from ``data``
when read.
"""
from __future__ import annotations

import struct
import sys

from ..spec.types import MAX_PAGES, PAGE_SIZE, Limits, MemType
from .traps import OOB_MEMORY, Trap

__all__ = ["MemoryInst", "PAGE_SIZE", "memory_fill", "memory_copy", "memory_init",
           "new_memory", "VIEWS"]

#: typed views of a plain memory: attribute -> memoryview format (empty on big-endian
#: hosts, where native casts would not read wasm's little-endian layout)
VIEWS: dict[str, str] = {}
if sys.byteorder == "little" and all(struct.calcsize(c) == n for c, n in
                                     (("H", 2), ("I", 4), ("Q", 8), ("d", 8), ("b", 1),
                                      ("h", 2), ("i", 4))):
    VIEWS = {"u16": "H", "u32": "I", "u64": "Q", "f64": "d", "s8": "b", "s16": "h",
             "s32": "i"}


class MemoryInst:
    """A memory instance: ``data`` holds the bytes, ``type`` the current ``MemType``."""

    __slots__ = ("data", "type", "u16", "u32", "u64", "f64", "s8", "s16", "s32",
                 "__weakref__")

    shared = False

    def __init__(self, limits: Limits | MemType):
        if isinstance(limits, MemType):
            limits = limits.limits
        self.type = MemType(limits)
        self.data = bytearray(limits.min * PAGE_SIZE)
        self._open_views()

    def __init_subclass__(cls, **kwargs) -> None:
        """A subclass keeps its bytes its own way (``data`` may be a property, the class
        may even be assigned to an existing plain memory): its typed views are cast from
        ``data`` each time they are read, so they always show the current bytes."""
        super().__init_subclass__(**kwargs)
        for name, code in VIEWS.items():
            if name not in cls.__dict__:
                setattr(cls, name, property(lambda self, c=code: memoryview(self.data).cast(c)))

    def _open_views(self) -> None:
        if type(self) is MemoryInst:
            data = self.data
            for name, code in VIEWS.items():
                setattr(self, name, memoryview(data).cast(code))

    def _release_views(self) -> None:
        if type(self) is MemoryInst:
            for name in VIEWS:
                getattr(self, name).release()

    @property
    def pages(self) -> int:
        return len(self.data) // PAGE_SIZE

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    def grow(self, delta: int) -> int:
        """The spec's growmem: the old size in pages, or -1 when growing is not possible.

        Grows in place so references to ``data`` stay valid; when outside views pin the
        buffer (a ``memoryview`` still held), the bytes move to a new ``bytearray`` and the
        old views keep the old contents (like a detached ``ArrayBuffer``).
        """
        old = len(self.data) // PAGE_SIZE
        new = old + delta
        limits = self.type.limits
        ceiling = MAX_PAGES if limits.max is None else limits.max
        if delta < 0 or new > ceiling:
            return -1
        if delta:
            self._release_views()
            try:
                self.data.extend(bytes(delta * PAGE_SIZE))
            except BufferError:
                fresh = bytearray(new * PAGE_SIZE)
                fresh[:len(self.data)] = self.data
                self.data = fresh
            except MemoryError:
                return -1
            finally:
                self._open_views()
            self.type = MemType(Limits(new, limits.max, limits.shared))
        return old

    def __repr__(self) -> str:
        lim = self.type.limits
        return f"<MemoryInst pages={self.pages} max={lim.max}>"


def new_memory(limits: Limits) -> MemoryInst:
    """A memory instance for ``limits``: shared limits give a ``SharedMemoryInst``."""
    if limits.shared:
        from .shared_memory import SharedMemoryInst
        return SharedMemoryInst(limits)
    return MemoryInst(limits)


def memory_fill(data: bytearray, d: int, val: int, n: int) -> None:
    """memory.fill: bounds are checked before anything is written."""
    if d + n > len(data):
        raise Trap(OOB_MEMORY)
    if n:
        data[d:d + n] = bytes([val & 0xFF]) * n


def memory_copy(dst: bytearray, src: bytearray, d: int, s: int, n: int) -> None:
    """memory.copy (overlapping ranges behave like memmove)."""
    if s + n > len(src) or d + n > len(dst):
        raise Trap(OOB_MEMORY)
    if n:
        dst[d:d + n] = src[s:s + n]


def memory_init(data: bytearray, datas: list, idx: int, d: int, s: int, n: int) -> None:
    """memory.init from data segment ``idx`` (a dropped segment is empty)."""
    seg = datas[idx]
    if s + n > len(seg) or d + n > len(data):
        raise Trap(OOB_MEMORY)
    if n:
        data[d:d + n] = seg[s:s + n]
