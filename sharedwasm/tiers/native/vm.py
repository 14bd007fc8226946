"""Process-wide state shared by all native code: the VM state block, traps, handles.

The VM state is one small C struct every context points to (field 0 of a context):

====== ======= ====================================================================
offset type    meaning
====== ======= ====================================================================
0      i32     trap code (0: none; ``PENDING``: a Python exception is stashed)
8      i64     call depth (wasm frames currently active in native code)
16     u64     stack limit: native code traps "call stack exhausted" below it
24     ptr     the host-call callback (``host.py``)
32     ptr     the runtime callback (``runtime_ops.py``): bulk/table ops, wait/notify
40     u64     stack budget: bytes of C stack below the outermost native entry
====== ======= ====================================================================

A trap stores its code and returns; every caller checks the code after a call and returns
too, restoring the depth it saw at entry, so the stack unwinds with plain returns. The
Python wrapper that made the outermost call sees the code, clears it and raises
``errors.RuntimeError`` with the spec's message, or re-raises the Python exception a
callback stashed (a host function's own error, a trap of a nested call). One state per
process: native code is not entered by two threads of one process at once.

Machine code holds no number that is particular to one process (it may be shipped to
workers or cached on disk): addresses and the stack budget are read from the state block
or the context, and type ids are a digest of the type.
"""
from __future__ import annotations

import ctypes
import hashlib
import itertools
import resource

from ...runtime import traps
from ...runtime.traps import Trap
from ...spec.types import FuncType

__all__ = ["VMState", "VM", "TRAP_CODES", "TRAP_MESSAGES", "PENDING", "finish", "stash",
           "pending", "resume", "type_id", "register_handle", "release_handle",
           "handle_object", "STACK_BUDGET", "MAX_DEPTH"]

PENDING = 255

#: trap message -> code stored in the VM state by native code
TRAP_CODES: dict[str, int] = {msg: i for i, msg in enumerate((
    traps.UNREACHABLE, traps.INT_DIV_ZERO, traps.INT_OVERFLOW, traps.INVALID_CONV,
    traps.OOB_MEMORY, traps.OOB_TABLE, traps.UNDEFINED_ELEMENT, traps.UNINITIALIZED_ELEMENT,
    traps.INDIRECT_MISMATCH, traps.STACK_EXHAUSTED, traps.UNALIGNED_ATOMIC,
    traps.EXPECTED_SHARED, traps.NULL_FUNC), 1)}
TRAP_MESSAGES: dict[int, str] = {code: msg for msg, code in TRAP_CODES.items()}
_UNINITIALIZED = TRAP_CODES[traps.UNINITIALIZED_ELEMENT]

#: wasm frames allowed at once (the spec only asks that runaway recursion traps)
MAX_DEPTH = 40_000


def _stack_budget() -> int:
    """Bytes of C stack native code may use below the outermost native entry: half the
    soft stack limit, at most 4 MiB (threads get the same default size on Linux)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        soft = 8 << 20
    return min(soft // 2, 4 << 20)


STACK_BUDGET = _stack_budget()


class VMState(ctypes.Structure):
    _fields_ = [("trap", ctypes.c_int32), ("trap_arg", ctypes.c_uint32),
                ("depth", ctypes.c_int64), ("stack_limit", ctypes.c_uint64),
                ("host_cb", ctypes.c_void_p), ("runtime_cb", ctypes.c_void_p),
                ("stack_budget", ctypes.c_uint64)]


VM = VMState()
VM.stack_budget = STACK_BUDGET
VM_ADDRESS = ctypes.addressof(VM)

#: exceptions raised by Python code called from native code, re-raised by ``finish``
_pending: list[BaseException] = []


def stash(err: BaseException) -> None:
    """Called by a callback that caught ``err``: native code unwinds, ``finish`` raises it."""
    _pending.append(err)
    VM.trap = PENDING


def finish() -> None:
    """Raise what made the native call that just returned stop (its trap code is set)."""
    code = VM.trap
    VM.trap = 0
    if code == PENDING and _pending:
        err = _pending.pop()
        _pending.clear()
        raise err
    message = TRAP_MESSAGES.get(code, f"native trap {code}")
    if code == _UNINITIALIZED:        # the portable tier names the element index
        message = f"{message} {VM.trap_arg}"
    raise Trap(message)


def pending() -> BaseException | None:
    """The stashed exception native code is unwinding with (None while it is a trap)."""
    return _pending[-1] if VM.trap == PENDING and _pending else None


def resume() -> None:
    """A ``try_table`` caught the pending exception: native code carries on normally."""
    _pending.clear()
    VM.trap = 0


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
