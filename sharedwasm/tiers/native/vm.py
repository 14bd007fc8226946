"""The state native code runs with: one VM state block per OS thread, traps, handles.

Every thread that calls native code gets its own ``ThreadState`` (made at its first call):
a small C struct that native code receives as an argument (the second of every entry and
internal function, after the context), so threads of one process run native code at the
same time without sharing trap codes or stack limits (``ctypes`` releases the GIL):

====== ======= ====================================================================
offset type    meaning
====== ======= ====================================================================
0      i32     trap code (0: none; ``PENDING``: a Python exception is stashed;
               ``INTERRUPTED``: ``interrupt`` stopped the code)
4      u32     trap argument (the element index of "uninitialized element")
8      i32     interrupt request: nonzero makes native code stop at its next loop header
               or call
16     u64     stack limit: native code traps "call stack exhausted" below it; 0 while
               no native frame of the thread is active
24     ptr     the host-call callback (``host.py``)
32     ptr     the runtime callback (``runtime_ops.py``): bulk/table ops, wait/notify
40     u64     stack budget: bytes of C stack below the outermost native entry
48     u64     stack floor: the limit never goes below it (the thread's stack end plus
               a reserve for the Python frames of callbacks)
====== ======= ====================================================================

The outermost entry (stack limit 0) sets the limit from its own stack pointer and puts
0 back when it returns. A trap stores its code and returns; every caller checks the code
after a call and returns too, so the stack unwinds with plain returns. The Python wrapper
that made the outermost call sees the code, clears it and raises ``errors.RuntimeError``
with the spec's message, the exception given to ``interrupt``, or the Python exception a
callback stashed (a host function's own error, a trap of a nested call). Callbacks run on
the thread that called them and use its state.

Machine code holds no number that is particular to one process (it may be shipped to
workers or cached on disk): addresses and the stack budget are read from the state block
or the context, and type ids are a digest of the type.
"""
from __future__ import annotations

import ctypes
import hashlib
import itertools
import resource
import threading
import weakref

from ...runtime import traps
from ...runtime.traps import Trap
from ...spec.types import FuncType

__all__ = ["VMState", "ThreadState", "LOCAL", "current", "states", "interrupt", "TRAP_CODES",
           "TRAP_MESSAGES", "PENDING", "INTERRUPTED", "finish", "stash", "pending", "resume",
           "type_id", "register_handle", "release_handle", "handle_object", "set_callbacks"]

PENDING = 255
INTERRUPTED = 254

#: trap message -> code stored in the VM state by native code
TRAP_CODES: dict[str, int] = {msg: i for i, msg in enumerate((
    traps.UNREACHABLE, traps.INT_DIV_ZERO, traps.INT_OVERFLOW, traps.INVALID_CONV,
    traps.OOB_MEMORY, traps.OOB_TABLE, traps.UNDEFINED_ELEMENT, traps.UNINITIALIZED_ELEMENT,
    traps.INDIRECT_MISMATCH, traps.STACK_EXHAUSTED, traps.UNALIGNED_ATOMIC,
    traps.EXPECTED_SHARED, traps.NULL_FUNC), 1)}
TRAP_MESSAGES: dict[int, str] = {code: msg for msg, code in TRAP_CODES.items()}
_UNINITIALIZED = TRAP_CODES[traps.UNINITIALIZED_ELEMENT]

_MAX_BUDGET = 4 << 20
_MAX_RESERVE = 1 << 20


class VMState(ctypes.Structure):
    _fields_ = [("trap", ctypes.c_int32), ("trap_arg", ctypes.c_uint32),
                ("interrupt", ctypes.c_int32), ("_pad", ctypes.c_uint32),
                ("stack_limit", ctypes.c_uint64), ("host_cb", ctypes.c_void_p),
                ("runtime_cb", ctypes.c_void_p), ("stack_budget", ctypes.c_uint64),
                ("stack_floor", ctypes.c_uint64)]


class _Attr(ctypes.Structure):
    _fields_ = [("opaque", ctypes.c_uint8 * 256)]       # pthread_attr_t, 56 bytes on glibc


def _libc():
    try:
        lib = ctypes.CDLL(None)
    except OSError:
        return None
    if not all(hasattr(lib, name) for name in ("pthread_getattr_np", "pthread_attr_getstack",
                                               "pthread_attr_destroy")):
        return None
    lib.pthread_self.restype = ctypes.c_void_p
    lib.pthread_getattr_np.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Attr)]
    lib.pthread_attr_getstack.argtypes = [ctypes.POINTER(_Attr),
                                          ctypes.POINTER(ctypes.c_void_p),
                                          ctypes.POINTER(ctypes.c_size_t)]
    lib.pthread_attr_destroy.argtypes = [ctypes.POINTER(_Attr)]
    return lib


_LIBC = _libc()


def _this_stack() -> tuple[int, int] | None:
    """(lowest address, size) of the calling thread's stack, when the C library says."""
    if _LIBC is None:
        return None
    attr = _Attr()
    if _LIBC.pthread_getattr_np(_LIBC.pthread_self(), ctypes.byref(attr)):
        return None
    low, size = ctypes.c_void_p(), ctypes.c_size_t()
    try:
        if _LIBC.pthread_attr_getstack(ctypes.byref(attr), ctypes.byref(low),
                                       ctypes.byref(size)):
            return None
    finally:
        _LIBC.pthread_attr_destroy(ctypes.byref(attr))
    return (low.value, size.value) if low.value and size.value else None


def _stack_numbers() -> tuple[int, int]:
    """(budget, floor) for the calling thread: half its stack, at most 4 MiB, below the
    outermost entry, never within a quarter of the stack (at most 1 MiB) of its end.
    Without the thread's bounds: half the soft stack rlimit, at most 4 MiB, no floor."""
    bounds = _this_stack()
    if bounds is None:
        soft, _hard = resource.getrlimit(resource.RLIMIT_STACK)
        if soft == resource.RLIM_INFINITY or soft <= 0:
            soft = 8 << 20
        return min(soft // 2, _MAX_BUDGET), 0
    low, size = bounds
    return min(size // 2, _MAX_BUDGET), low + min(size // 4, _MAX_RESERVE)


_callbacks = {"host_cb": None, "runtime_cb": None}


class ThreadState:
    """One thread's VM state block and what the Python side keeps with it: the stashed
    exceptions, the exception an ``interrupt`` asked for, the reference handles."""

    __slots__ = ("vm", "address", "ident", "stashed", "interrupt_exc", "refs", "handle_of",
                 "__weakref__")

    def __init__(self):
        self.vm = VMState()
        self.address = ctypes.addressof(self.vm)
        self.ident = threading.get_ident()
        self.vm.stack_budget, self.vm.stack_floor = _stack_numbers()
        for name, value in _callbacks.items():
            setattr(self.vm, name, value)
        self.stashed: list[BaseException] = []
        self.interrupt_exc: BaseException | None = None
        self.refs: dict[int, object] = {}        # handle -> object, while native code runs
        self.handle_of: dict[int, int] = {}      # id(object) -> handle

    def interrupt(self, exc: BaseException) -> None:
        """Stop this thread's native code at its next loop header or call; the native
        call the thread made from Python raises ``exc``. Callable from any thread; a
        request made while the thread runs no native code waits for its next native call
        (``clear_interrupt`` withdraws it)."""
        self.interrupt_exc = exc
        self.vm.interrupt = 1

    def clear_interrupt(self) -> None:
        self.vm.interrupt = 0
        self.interrupt_exc = None


_states: "weakref.WeakValueDictionary[int, ThreadState]" = weakref.WeakValueDictionary()
_states_lock = threading.Lock()


class _Local(threading.local):
    def __init__(self):
        state = self.state = ThreadState()
        with _states_lock:
            _states[state.ident] = state


LOCAL = _Local()


def current() -> ThreadState:
    """The calling thread's state (made at its first use)."""
    return LOCAL.state


def states(ident: int | None = None) -> list[ThreadState]:
    """The state of thread ``ident`` (none if it never ran native code), or of every
    thread with one."""
    with _states_lock:
        if ident is None:
            return list(_states.values())
        state = _states.get(ident)
    return [state] if state is not None else []


def interrupt(exc: BaseException, ident: int | None = None) -> None:
    """Interrupt the native code of thread ``ident`` (every thread when None)."""
    for state in states(ident):
        state.interrupt(exc)


def set_callbacks(**addresses: int) -> None:
    """Install the callback addresses (``host_cb``, ``runtime_cb``) in every state."""
    _callbacks.update(addresses)
    for state in states():
        for name, value in addresses.items():
            setattr(state.vm, name, value)


def stash(err: BaseException) -> None:
    """Called by a callback that caught ``err``: native code unwinds, ``finish`` raises it."""
    state = LOCAL.state
    state.stashed.append(err)
    state.vm.trap = PENDING


def finish(state: ThreadState) -> None:
    """Raise what made the native call that just returned stop (its trap code is set)."""
    vm = state.vm
    code = vm.trap
    vm.trap = 0
    if code == PENDING and state.stashed:
        err = state.stashed.pop()
        state.stashed.clear()
        raise err
    if code == INTERRUPTED:
        err = state.interrupt_exc
        state.clear_interrupt()
        raise err if err is not None else Trap("interrupted")
    message = TRAP_MESSAGES.get(code, f"native trap {code}")
    if code == _UNINITIALIZED:        # the portable tier names the element index
        message = f"{message} {vm.trap_arg}"
    raise Trap(message)


def pending() -> BaseException | None:
    """The stashed exception native code is unwinding with (None while it is a trap)."""
    state = LOCAL.state
    return state.stashed[-1] if state.vm.trap == PENDING and state.stashed else None


def resume() -> None:
    """A ``try_table`` caught the pending exception: native code carries on normally."""
    state = LOCAL.state
    state.stashed.clear()
    state.vm.trap = 0


_type_ids: dict[FuncType, int] = {}


def type_id(ft: FuncType) -> int:
    """The number ``call_indirect`` compares for ``ft``: the top 63 bits of a 64-bit digest
    of the type's canonical text, so it is the same in every process (the odds that two
    of a million distinct types share one are below 1 in 10 million)."""
    tid = _type_ids.get(ft)
    if tid is None:
        digest = hashlib.blake2b(str(ft).encode(), digest_size=8).digest()
        tid = int.from_bytes(digest, "little") >> 1
        tid = _type_ids[ft] = tid or 1
    return tid


_handles: dict[int, object] = {}
_next_handle = itertools.count(1)


def register_handle(obj: object) -> int:
    """A number native code can pass back to a callback to name ``obj``."""
    h = next(_next_handle)
    _handles[h] = obj
    return h


def release_handle(h: int) -> None:
    _handles.pop(h, None)


def handle_object(h: int) -> object:
    return _handles[h]
