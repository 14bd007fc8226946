"""The atomic protocol of shared memories: hardware atomics, futex parking, wait/notify.

One protocol for every agent of a shared memory (generated code of either tier, the host
``atomics`` API, every process): sequentially consistent hardware atomics on the address of
the mapping, called through ``libatomic`` (``__atomic_fetch_add_4`` ...). A lock-based
protocol would not interoperate with the native tier's inline atomics on the same words
(mixing the two loses updates), so there is no second protocol.

wait/notify (``memory.atomic.wait32/64``, ``memory.atomic.notify``) park agents in a
``ParkingLot``: a table of waiter slots in the shared memory's header, guarded by a
three-state futex mutex. Each waiting agent owns one slot holding the address it waits on,
a FIFO ticket and its own futex word; ``notify`` marks the oldest ``count`` slots of the
address woken, sets their futex words and wakes them with ``FUTEX_WAKE``. ``wait`` compares
the value and enqueues under the lock, so a notify that follows a store can never miss a
waiter that saw the old value. Futexes are the shared (not ``_PRIVATE``) kind because the
agents are processes. A short spin precedes sleeping: most hand-offs finish within it.

``atomic_load/store/rmw/cmpxchg/notify/wait`` are the operations generated code calls:
they take a memory's bytes as the code holds them (``MemoryInst.data``, a ``bytearray``,
or a shared memory's registered ``data`` view), the effective address (offset added, not
wrapped) and unsigned internal values, check alignment ("unaligned atomic") before bounds,
and dispatch to the hardware protocol for shared memories or to plain single-process
operations for unshared ones (where ``notify`` returns 0 and ``wait`` traps "expected
shared memory", as the spec says).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import struct
import threading
import time
import weakref
from typing import Any, Callable

from .traps import EXPECTED_SHARED, OOB_MEMORY, UNALIGNED_ATOMIC, Trap

__all__ = ["libatomic", "hardware", "HardwareAtomics", "Futex", "FutexMutex", "ParkingLot",
           "atomic_load", "atomic_store", "atomic_rmw", "atomic_cmpxchg", "atomic_notify",
           "atomic_wait", "register_view", "unregister_view", "shared_memory_of",
           "WAIT_OK", "WAIT_NOT_EQUAL", "WAIT_TIMED_OUT", "SLOT_SIZE", "PARKING_HEADER"]

SEQ_CST = 5
WAIT_OK, WAIT_NOT_EQUAL, WAIT_TIMED_OUT = 0, 1, 2

_WIDTH_TYPES = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32, 8: ctypes.c_uint64}
_MASKS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}
_FORMATS = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
_RMW_NAMES = ("add", "sub", "and", "or", "xor")


# -- libatomic ---------------------------------------------------------------------------------

_lib_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


def libatomic() -> ctypes.CDLL:
    """The loaded ``libatomic`` with prototypes set; a clear error when it is missing."""
    global _lib
    if _lib is None:
        with _lib_lock:
            if _lib is None:
                _lib = _load_libatomic()
    return _lib


def _load_libatomic() -> ctypes.CDLL:
    names = ["libatomic.so.1", ctypes.util.find_library("atomic")]
    for name in filter(None, names):
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        raise ImportError(
            "shared memories need libatomic (hardware atomics for every agent): install the "
            "libatomic1 package (Debian/Ubuntu: apt-get install libatomic1)")
    vp, order = ctypes.c_void_p, ctypes.c_int
    for width, ctype in _WIDTH_TYPES.items():
        fn = getattr(lib, f"__atomic_load_{width}")
        fn.argtypes, fn.restype = [vp, order], ctype
        fn = getattr(lib, f"__atomic_store_{width}")
        fn.argtypes, fn.restype = [vp, ctype, order], None
        for op in (*_RMW_NAMES, "exchange"):
            fn = getattr(lib, f"__atomic_{'fetch_' + op if op != 'exchange' else op}_{width}")
            fn.argtypes, fn.restype = [vp, ctype, order], ctype
        fn = getattr(lib, f"__atomic_compare_exchange_{width}")
        fn.argtypes = [vp, ctypes.POINTER(ctype), ctype, order, order]
        fn.restype = ctypes.c_bool
    return lib


class HardwareAtomics:
    """Sequentially consistent operations on raw addresses of one width (1, 2, 4 or 8)."""

    __slots__ = ("width", "mask", "load", "store", "rmw", "exchange", "_cas", "_ctype")

    def __init__(self, width: int):
        lib = libatomic()
        self.width, self.mask, self._ctype = width, _MASKS[width], _WIDTH_TYPES[width]
        self.load = getattr(lib, f"__atomic_load_{width}")
        self.store = getattr(lib, f"__atomic_store_{width}")
        self.rmw = {op: getattr(lib, f"__atomic_fetch_{op}_{width}") for op in _RMW_NAMES}
        self.exchange = getattr(lib, f"__atomic_exchange_{width}")
        self._cas = getattr(lib, f"__atomic_compare_exchange_{width}")

    def compare_exchange(self, address: int, expected: int, replacement: int) -> int:
        """Replace the value at ``address`` if it equals ``expected``; returns the old value."""
        cell = self._ctype(expected)
        self._cas(address, ctypes.byref(cell), replacement, SEQ_CST, SEQ_CST)
        return cell.value


_hw_cache: dict[int, HardwareAtomics] = {}


def hardware(width: int) -> HardwareAtomics:
    hw = _hw_cache.get(width)
    if hw is None:
        hw = _hw_cache[width] = HardwareAtomics(width)
    return hw


# -- futex -------------------------------------------------------------------------------------

_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98, "riscv64": 98,
              "ppc64le": 221, "s390x": 238}
FUTEX_WAIT, FUTEX_WAKE = 0, 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class Futex:
    """The Linux futex syscall on shared (cross-process) words."""

    _syscall: Any = None
    _nr = -1

    @classmethod
    def _setup(cls) -> None:
        machine = platform.machine().lower()
        if machine not in _SYS_FUTEX:
            raise OSError(f"futex wait/notify is not supported on {machine!r}")
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syscall
        fn.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint,
                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint]
        fn.restype = ctypes.c_long
        cls._nr, cls._syscall = _SYS_FUTEX[machine], fn

    @classmethod
    def wait(cls, address: int, value: int, timeout_ns: int | None) -> int:
        """Sleep while the u32 at ``address`` equals ``value``; 0 or an errno (EAGAIN,
        ETIMEDOUT, EINTR). Spurious returns happen: callers re-check their condition."""
        if cls._syscall is None:
            cls._setup()
        ts = None
        if timeout_ns is not None:
            spec = _Timespec(timeout_ns // 1_000_000_000, timeout_ns % 1_000_000_000)
            ts = ctypes.byref(spec)
        if cls._syscall(cls._nr, address, FUTEX_WAIT, value, ts, None, 0) == 0:
            return 0
        return ctypes.get_errno()

    @classmethod
    def wake(cls, address: int, count: int = 1) -> int:
        if cls._syscall is None:
            cls._setup()
        return max(0, cls._syscall(cls._nr, address, FUTEX_WAKE, count, None, None, 0))


class FutexMutex:
    """A three-state futex mutex (0 free, 1 locked, 2 locked with sleepers) on a shared word.

    The word after it records the holder's pid, so an agent that waits long checks whether
    the holder died (a worker killed while it held the lock) and takes the lock over
    instead of blocking forever.
    """

    __slots__ = ("address", "_hw", "_words", "_index")

    STALE_CHECK_NS = 200_000_000

    def __init__(self, address: int, words: memoryview, index: int):
        self.address = address
        self._hw = hardware(4)
        self._words, self._index = words, index       # u32 view: lock word at [index]

    def acquire(self) -> None:
        hw = self._hw
        addr = self.address
        c = hw.compare_exchange(addr, 0, 1)
        if c:
            words, i = self._words, self._index
            for _ in range(40):
                if not words[i]:
                    c = hw.compare_exchange(addr, 0, 1)
                    if not c:
                        break
            if c:
                if c != 2:
                    c = hw.exchange(addr, 2, SEQ_CST)
                while c:
                    if Futex.wait(addr, 2, self.STALE_CHECK_NS) == errno.ETIMEDOUT and \
                            self._holder_dead():
                        hw.store(addr, 0, SEQ_CST)
                    c = hw.exchange(addr, 2, SEQ_CST)
        self._words[self._index + 1] = os.getpid()

    def _holder_dead(self) -> bool:
        pid = self._words[self._index + 1]
        if not pid or pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def release(self) -> None:
        self._words[self._index + 1] = 0
        if self._hw.rmw["sub"](self.address, 1, SEQ_CST) != 1:
            self._hw.store(self.address, 0, SEQ_CST)
            Futex.wake(self.address, 1)

    def __enter__(self) -> "FutexMutex":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# -- the parking lot ---------------------------------------------------------------------------

#: parking lot layout: u32 lock, u32 lock holder pid, u32 high-water mark, u32 spare,
#: u64 next ticket, then SLOT_SIZE-byte slots:
#: u32 state, u32 futex word, u64 address, u64 ticket, u32 pid, u32 spare
PARKING_HEADER = 32
SLOT_SIZE = 32
_FREE, _WAITING, _WOKEN = 0, 1, 2
SPIN_LOADS = 200


class ParkingLot:
    """The waiter table of one shared memory (lives in its header at ``address``)."""

    __slots__ = ("address", "nslots", "mutex", "_u32", "_u64", "_hw4", "__weakref__")

    def __init__(self, address: int, region: memoryview):
        self.address = address
        self.nslots = (len(region) - PARKING_HEADER) // SLOT_SIZE
        self._u32 = region.cast("I")
        self._u64 = region.cast("Q")
        self._hw4 = hardware(4)
        self.mutex = FutexMutex(address, self._u32, 0)

    def release(self) -> None:
        """Drop the views of the header (before the mapping closes)."""
        self._u32.release()
        self._u64.release()

    def _allocate(self, ea: int) -> int:
        u32, u64 = self._u32, self._u64
        hwm = u32[2]
        for i in range(hwm):
            if u32[(PARKING_HEADER + i * SLOT_SIZE) // 4] == _FREE:
                break
        else:
            i = hwm
            if i >= self.nslots:
                raise Trap("too many waiters on one shared memory")
            u32[2] = hwm + 1
        w, q = (PARKING_HEADER + i * SLOT_SIZE) // 4, (PARKING_HEADER + i * SLOT_SIZE) // 8
        ticket = u64[2]
        u64[2] = ticket + 1
        u32[w + 1] = 0
        u64[q + 1] = ea
        u64[q + 2] = ticket
        u32[w + 6] = os.getpid()
        u32[w] = _WAITING
        return i

    def wait(self, ea: int, expected: int, timeout_ns: int, load: Callable[[], int]) -> int:
        """Park until notified at ``ea``: 0 ok, 1 not-equal, 2 timed-out.

        ``load`` reads the current value (under the lock); ``timeout_ns`` < 0 waits forever.
        """
        mutex = self.mutex
        mutex.acquire()
        try:
            if load() != expected:
                return WAIT_NOT_EQUAL
            if timeout_ns == 0:
                return WAIT_TIMED_OUT
            slot = self._allocate(ea)
        finally:
            mutex.release()
        off = PARKING_HEADER + slot * SLOT_SIZE
        w = off // 4
        u32, hw = self._u32, self._hw4
        futex_addr = self.address + off + 4
        deadline = None if timeout_ns < 0 else time.monotonic_ns() + timeout_ns
        try:
            for _ in range(SPIN_LOADS):
                if u32[w + 1]:
                    return WAIT_OK
            while not hw.load(futex_addr, SEQ_CST):
                remaining = None
                if deadline is not None:
                    remaining = deadline - time.monotonic_ns()
                    if remaining <= 0:
                        return self._time_out(w)
                Futex.wait(futex_addr, 0, remaining)
            return WAIT_OK
        except BaseException:
            self._time_out(w)       # interrupted (KeyboardInterrupt, ...): leave the queue
            raise
        finally:
            hw.store(self.address + off, _FREE, SEQ_CST)

    def _time_out(self, w: int) -> int:
        """Leave the queue after a timeout, unless a notify won the race (then it counts)."""
        with self.mutex:
            woken = self._u32[w + 1] != 0
            self._u32[w] = _WOKEN
        return WAIT_OK if woken else WAIT_TIMED_OUT

    def notify(self, ea: int, count: int) -> int:
        """Wake up to ``count`` agents waiting at ``ea``, oldest first; returns how many."""
        if count <= 0:
            return 0
        u32, u64 = self._u32, self._u64
        mutex = self.mutex
        mutex.acquire()
        try:
            found = []
            for i in range(u32[2]):
                off = PARKING_HEADER + i * SLOT_SIZE
                if u32[off // 4] == _WAITING and u64[off // 8 + 1] == ea:
                    found.append((u64[off // 8 + 2], off))
            if not found:
                return 0
            found.sort()
            woken = found[:count]
            for _ticket, off in woken:
                u32[off // 4] = _WOKEN
                self._hw4.store(self.address + off + 4, 1, SEQ_CST)
        finally:
            mutex.release()
        for _ticket, off in woken:
            Futex.wake(self.address + off + 4, 1)
        return len(woken)

    def waiters(self, ea: int | None = None) -> int:
        """How many agents are parked (at ``ea``, or anywhere); for tests and ``repr``."""
        u32, u64 = self._u32, self._u64
        n = 0
        for i in range(u32[2]):
            off = PARKING_HEADER + i * SLOT_SIZE
            if u32[off // 4] == _WAITING and (ea is None or u64[off // 8 + 1] == ea):
                n += 1
        return n


# -- the operations generated code and the host API call -------------------------------------

#: id(data view) -> the shared memory instance whose ``data`` it is (see ``register_view``)
_SHARED_VIEWS: dict[int, Any] = {}


def register_view(view: memoryview, mem: Any) -> None:
    """Make ``view`` (a ``data`` view of shared memory ``mem``) known to the operations
    below, which receive a memory's bytes the way generated code holds them."""
    _SHARED_VIEWS[id(view)] = weakref.ref(mem)


def unregister_view(view: memoryview) -> None:
    _SHARED_VIEWS.pop(id(view), None)


def shared_memory_of(data: Any) -> Any:
    """The shared memory instance behind ``data``, or None for an unshared memory's bytes."""
    if type(data) is bytearray:
        return None
    ref = _SHARED_VIEWS.get(id(data))
    return None if ref is None else ref()


def _check(data: Any, ea: int, width: int) -> Any:
    """Alignment then bounds (the spec's order); the shared memory instance or None."""
    if ea & (width - 1):
        raise Trap(UNALIGNED_ATOMIC)
    shared = shared_memory_of(data)
    if shared is None:
        if ea + width > len(data):
            raise Trap(OOB_MEMORY)
    elif ea + width > len(data) and ea + width > shared.size_bytes:
        raise Trap(OOB_MEMORY)
    return shared


def atomic_load(data: Any, ea: int, width: int) -> int:
    """``*.atomic.load*``: the value at effective address ``ea`` (zero-extended)."""
    shared = _check(data, ea, width)
    if shared is None:
        return _UNPACK[width](data, ea)[0]
    return _hw[width].load(shared.address + ea, SEQ_CST)


def atomic_store(data: Any, ea: int, width: int, value: int) -> None:
    shared = _check(data, ea, width)
    if shared is None:
        _PACK[width](data, ea, value & _MASKS[width])
    else:
        _hw[width].store(shared.address + ea, value & _MASKS[width], SEQ_CST)


def atomic_rmw(data: Any, ea: int, width: int, op: str, value: int) -> int:
    """``*.atomic.rmw*.{add,sub,and,or,xor,xchg}``: returns the old value."""
    shared = _check(data, ea, width)
    mask = _MASKS[width]
    if shared is None:
        old = _UNPACK[width](data, ea)[0]
        _PACK[width](data, ea, _COMBINE[op](old, value & mask) & mask)
        return old
    hw = _hw[width]
    fn = hw.exchange if op == "xchg" else hw.rmw[op]
    return fn(shared.address + ea, value & mask, SEQ_CST)


def atomic_cmpxchg(data: Any, ea: int, width: int, expected: int, replacement: int) -> int:
    """``*.atomic.rmw*.cmpxchg``: operands wrap to the access width; returns the old value."""
    shared = _check(data, ea, width)
    mask = _MASKS[width]
    if shared is None:
        old = _UNPACK[width](data, ea)[0]
        if old == expected & mask:
            _PACK[width](data, ea, replacement & mask)
        return old
    return _hw[width].compare_exchange(shared.address + ea, expected & mask,
                                       replacement & mask)


def atomic_notify(data: Any, ea: int, count: int) -> int:
    """``memory.atomic.notify``: how many waiters woke (always 0 on unshared memory)."""
    shared = _check(data, ea, 4)
    if shared is None:
        return 0
    return shared.parking.notify(ea, count)


def atomic_wait(data: Any, ea: int, width: int, expected: int, timeout: int) -> int:
    """``memory.atomic.wait32/64``: 0 ok, 1 not-equal, 2 timed-out; ``timeout`` in ns as
    an i64 (unsigned internal values above 2^63 are negative: wait forever)."""
    shared = _check(data, ea, width)
    if shared is None:
        raise Trap(EXPECTED_SHARED)
    if timeout >= 1 << 63:
        timeout -= 1 << 64
    hw = _hw[width]
    address = shared.address + ea
    return shared.parking.wait(ea, expected & _MASKS[width], timeout,
                               lambda: hw.load(address, SEQ_CST))


_UNPACK = {w: struct.Struct(f).unpack_from for w, f in _FORMATS.items()}
_PACK = {w: struct.Struct(f).pack_into for w, f in _FORMATS.items()}
_COMBINE: dict[str, Callable[[int, int], int]] = {
    "add": lambda old, v: old + v, "sub": lambda old, v: old - v,
    "and": lambda old, v: old & v, "or": lambda old, v: old | v,
    "xor": lambda old, v: old ^ v, "xchg": lambda old, v: v,
}


class _HardwareByWidth(dict):
    """width -> ``HardwareAtomics``, loading libatomic on first use."""

    def __missing__(self, width: int) -> HardwareAtomics:
        hw = self[width] = hardware(width)
        return hw


_hw = _HardwareByWidth()
