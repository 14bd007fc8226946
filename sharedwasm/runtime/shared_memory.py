"""Shared linear memory (threads proposal): one named segment every process maps.

Layout of the segment (a ``multiprocessing.shared_memory.SharedMemory`` named
``sharedwasm_...``)::

    0        header: magic, version, current pages, maximum pages, owner pid
    64       the parking lot of wait/notify (lock word + waiter slots, ``atomics.ParkingLot``)
    65536    data: ``maximum`` pages, reserved up front (the file is sparse: untouched
             pages cost nothing and read as zeros)

``grow`` is a compare-and-swap on the page count in the header, so every process sees the
new size and nobody's mapping moves. ``data`` is a ``memoryview`` of the current size as
this process last read it: generated code takes ``mem.data`` at function entry and after
calls / ``memory.grow`` and may then rely on ``len(data)`` for bounds (a grow by another
agent becomes visible at the next reload; the size only ever increases). ``size_bytes``
reads the header. Atomic operations find the memory behind a ``data`` view through
``atomics.register_view``.

Lifetime: the creating process owns the segment and unlinks it exactly once (``close()``,
the context manager, garbage collection or interpreter exit); other processes attach by
name (pickling carries only the name) and only unmap. Attaching opens the segment directly
instead of through ``SharedMemory``: in Python 3.8-3.12 ``SharedMemory(name)`` registers
the segment with the attaching process's resource tracker, which would unlink it when that
process ends. If the owner is killed, the creator's resource tracker unlinks it.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import secrets
import struct
import threading
import weakref
from multiprocessing import shared_memory as _mp_shm
from typing import Any

from ..spec.types import MAX_PAGES, PAGE_SIZE, Limits, MemType
from . import atomics
from .memory import MemoryInst

__all__ = ["SharedMemoryInst", "SharedMemoryError", "HEADER_SIZE", "NAME_PREFIX",
           "SHM_DIR", "list_segments"]

NAME_PREFIX = "sharedwasm_"
SHM_DIR = "/dev/shm"
HEADER_SIZE = PAGE_SIZE                 # data starts page-aligned
_MAGIC = b"SWASMSHM"
_VERSION = 1
_PARKING_OFFSET = 64
# header fields after the magic: u32 version, u32 pages, u32 max pages, u32 owner pid
_OFF_PAGES = 12
_FIELDS = struct.Struct("<8sIIII")


class SharedMemoryError(MemoryError):
    """A shared memory could not be created or attached (no space, gone, not ours)."""


def list_segments() -> list[str]:
    """Names of this package's segments currently in ``/dev/shm`` (for leak checks)."""
    try:
        return sorted(n for n in os.listdir(SHM_DIR) if n.startswith(NAME_PREFIX))
    except FileNotFoundError:
        return []


class _Segment:
    """The mapping of one process and everything exported from it; releasable once."""

    def __init__(self, name: str, shm: Any, mm: mmap.mmap | None, buf: memoryview,
                 owner: bool):
        self.name, self.shm, self.mm, self.buf, self.owner = name, shm, mm, buf, owner
        self.owner_pid = os.getpid()
        self.views: list[memoryview] = []
        self.parking: atomics.ParkingLot | None = None
        self.anchor = (ctypes.c_char * len(buf)).from_buffer(buf)
        self.address = ctypes.addressof(self.anchor)
        self.closed = False
        self.lock = threading.Lock()

    def release(self) -> None:
        """Unmap (when nothing outside still views it) and, in the owner, unlink."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for view in self.views:
            atomics.unregister_view(view)
            view.release()
        self.views.clear()
        if self.parking is not None:
            self.parking.release()
        self.anchor = None
        try:
            if self.shm is not None:
                self.buf = None
                self.shm.close()
            else:
                self.buf.release()
                self.mm.close()
        except BufferError:
            pass                # a view handed out is still alive: unmapped when it dies
        if self.owner and os.getpid() == self.owner_pid:
            try:
                if self.shm is not None:
                    self.shm.unlink()
                else:
                    os.unlink(os.path.join(SHM_DIR, self.name))
            except FileNotFoundError:
                pass


_attached: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_attach_lock = threading.Lock()


class SharedMemoryInst(MemoryInst):
    """A shared memory instance: the ``MemoryInst`` interface over a named segment.

    ``SharedMemoryInst(limits)`` creates a segment (``limits.max`` is required);
    ``SharedMemoryInst.attach(name)`` maps an existing one. Unpickling attaches by name and
    gives the same object when this process already has the segment mapped.
    """

    shared = True

    def __init__(self, limits: Limits | MemType, *, name: str | None = None):
        if isinstance(limits, MemType):
            limits = limits.limits
        if limits.max is None:
            raise ValueError("a shared memory needs a maximum")
        if not 0 <= limits.min <= limits.max <= MAX_PAGES:
            raise ValueError(f"bad shared memory limits {limits.min}..{limits.max}")
        name = name or f"{NAME_PREFIX}{os.getpid()}_{secrets.token_hex(6)}"
        total = HEADER_SIZE + limits.max * PAGE_SIZE
        _check_space(total)
        shm = _mp_shm.SharedMemory(name=name, create=True, size=total)
        try:
            _FIELDS.pack_into(shm.buf, 0, _MAGIC, _VERSION, limits.min, limits.max,
                              os.getpid())
            seg = _Segment(shm.name, shm, None, shm.buf, owner=True)
        except BaseException:
            shm.close()
            shm.unlink()
            raise
        self._setup(seg)
        with _attach_lock:
            _attached[seg.name] = self

    @classmethod
    def attach(cls, name: str) -> "SharedMemoryInst":
        """Map the existing segment ``name`` (the same object if already mapped here)."""
        with _attach_lock:
            mem = _attached.get(name)
            if mem is not None and not mem._seg.closed:
                return mem
            if not name.startswith(NAME_PREFIX) or "/" in name:
                raise SharedMemoryError(f"{name!r} is not a sharedwasm shared memory")
            try:
                fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR)
            except FileNotFoundError:
                raise SharedMemoryError(
                    f"shared memory {name!r} no longer exists (its owner closed it or "
                    "exited)") from None
            try:
                mm = mmap.mmap(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            buf = memoryview(mm)
            if len(buf) < HEADER_SIZE or bytes(buf[:8]) != _MAGIC:
                buf.release()
                mm.close()
                raise SharedMemoryError(f"{name!r} is not a sharedwasm shared memory")
            mem = object.__new__(cls)
            mem._setup(_Segment(name, None, mm, buf, owner=False))
            _attached[name] = mem
            return mem

    def _setup(self, seg: _Segment) -> None:
        self._seg = seg
        _magic, _v, _pages, self._max, _pid = _FIELDS.unpack_from(seg.buf, 0)
        self._words = seg.buf[:_PARKING_OFFSET].cast("I")
        seg.views.append(self._words)
        seg.parking = atomics.ParkingLot(seg.address + _PARKING_OFFSET,
                                         seg.buf[_PARKING_OFFSET:HEADER_SIZE])
        self._full = seg.buf[HEADER_SIZE:HEADER_SIZE + self._max * PAGE_SIZE]
        seg.views.append(self._full)
        self._views: dict[int, memoryview] = {}
        self._finalizer = weakref.finalize(self, seg.release)

    # -- the MemoryInst interface ---------------------------------------------------------
    @property
    def pages(self) -> int:
        return self._words[_OFF_PAGES // 4]

    @property
    def size_bytes(self) -> int:
        return self._words[_OFF_PAGES // 4] * PAGE_SIZE

    @property
    def data(self) -> memoryview:
        """The bytes of the current size (one cached view per size seen)."""
        pages = self._words[_OFF_PAGES // 4]
        view = self._views.get(pages)
        if view is None:
            view = self._full[:pages * PAGE_SIZE]
            self._seg.views.append(view)
            atomics.register_view(view, self)
            self._views[pages] = view
        return view

    @property
    def full_data(self) -> memoryview:
        """The whole reservation (``maximum`` pages); beyond ``size_bytes`` it is not yet
        part of the memory."""
        return self._full

    @property
    def type(self) -> MemType:
        return MemType(Limits(self.pages, self._max, True))

    @property
    def maximum(self) -> int:
        return self._max

    def grow(self, delta: int) -> int:
        """The spec's growmem for every process at once: old pages, or -1."""
        if delta < 0:
            return -1
        hw = atomics.hardware(4)
        addr = self._seg.address + _OFF_PAGES
        old = hw.load(addr, atomics.SEQ_CST)
        while True:
            if old + delta > self._max:
                return -1
            if delta == 0:
                return old
            seen = hw.compare_exchange(addr, old, old + delta)
            if seen == old:
                return old
            old = seen

    # -- shared-memory specifics ----------------------------------------------------------
    @property
    def name(self) -> str:
        return self._seg.name

    @property
    def address(self) -> int:
        """Base address of the data in this process (for hardware atomics, native code)."""
        return self._seg.address + HEADER_SIZE

    @property
    def parking(self) -> atomics.ParkingLot:
        return self._seg.parking

    @property
    def owner(self) -> bool:
        return self._seg.owner

    @property
    def closed(self) -> bool:
        return self._seg.closed

    def close(self) -> None:
        """Unmap here; the owner also unlinks the segment (other mappings stay valid)."""
        self._finalizer()

    def __enter__(self) -> "SharedMemoryInst":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self):
        if self._seg.closed:
            raise ValueError("cannot pickle a closed shared memory")
        return (SharedMemoryInst.attach, (self._seg.name,))

    def __repr__(self) -> str:
        if self._seg.closed:
            return f"<SharedMemoryInst {self._seg.name} closed>"
        role = "owner" if self._seg.owner else "attached"
        return (f"<SharedMemoryInst {self._seg.name} pages={self.pages} max={self._max} "
                f"{role} waiters={self.parking.waiters()}>")


def _check_space(total: int) -> None:
    """Refuse a reservation /dev/shm cannot hold: touching sparse pages past its capacity
    would kill the process with SIGBUS instead of raising."""
    try:
        st = os.statvfs(SHM_DIR)
    except OSError:
        return
    free = st.f_bavail * st.f_frsize
    if total > free:
        mib = 1 << 20
        raise SharedMemoryError(
            f"cannot reserve {total / mib:.1f} MiB of shared memory: {SHM_DIR} has "
            f"{free / mib:.1f} MiB free (a shared memory reserves its maximum up front; "
            "lower the maximum or enlarge /dev/shm)")
