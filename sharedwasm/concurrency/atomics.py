"""Host-side ``Atomics`` (``wasm.atomics``): atomic operations on a Memory from Python.

Every function takes a ``wasm.Memory`` (or a runtime memory instance) and a *byte* address
(unlike JS, which indexes a typed array), and goes through the same protocol as wasm code
(``runtime.atomics``: hardware atomics on shared memories), so it interoperates with wasm
running in any process that shares the memory. ``type`` picks the access: ``"i32"``
(default), ``"u32"``, ``"i64"``, ``"u64"``, ``"i16"``, ``"u16"``, ``"i8"``, ``"u8"``;
results come back signed or unsigned accordingly. Misaligned or out-of-range addresses
raise the wasm traps ("unaligned atomic", "out of bounds memory access").

``wait(memory, address, expected, timeout=None)`` returns ``"ok"``, ``"not-equal"`` or
``"timed-out"`` like ``Atomics.wait``; ``timeout`` is in seconds (None: forever). Waiting
on an unshared memory raises the trap "expected shared memory"; ``notify`` on one
returns 0.
"""
from __future__ import annotations

from typing import Any

from ..runtime import atomics as _rt

__all__ = ["load", "store", "add", "sub", "and_", "or_", "xor", "exchange",
           "compare_exchange", "wait", "notify", "TYPES"]

#: type name -> (width in bytes, signed)
TYPES = {"i32": (4, True), "u32": (4, False), "i64": (8, True), "u64": (8, False),
         "i16": (2, True), "u16": (2, False), "i8": (1, True), "u8": (1, False)}
_WAIT_RESULTS = ("ok", "not-equal", "timed-out")


def _data(memory: Any) -> Any:
    inst = getattr(memory, "_inst", memory)
    data = getattr(inst, "data", None)
    if data is None:
        raise TypeError(f"atomics work on a wasm Memory, not {type(memory).__name__!r}")
    return data


def _width(type_: str) -> tuple[int, bool]:
    try:
        return TYPES[type_]
    except KeyError:
        raise ValueError(f"unknown atomic type {type_!r} (one of {', '.join(TYPES)})") \
            from None


def _address(address: int) -> int:
    if isinstance(address, bool) or not isinstance(address, int):
        raise TypeError(f"an address is an int, not {type(address).__name__!r}")
    if address < 0:
        raise ValueError(f"negative address {address}")
    return address


def _out(value: int, width: int, signed: bool) -> int:
    if signed and value >> (8 * width - 1):
        return value - (1 << (8 * width))
    return value


def load(memory: Any, address: int, type: str = "i32") -> int:
    width, signed = _width(type)
    return _out(_rt.atomic_load(_data(memory), _address(address), width), width, signed)


def store(memory: Any, address: int, value: int, type: str = "i32") -> int:
    """Store ``value`` (wrapped to the width); returns ``value`` as ``Atomics.store`` does."""
    width, _signed = _width(type)
    _rt.atomic_store(_data(memory), _address(address), width, int(value))
    return value


def _rmw(op: str, memory: Any, address: int, value: int, type: str) -> int:
    width, signed = _width(type)
    old = _rt.atomic_rmw(_data(memory), _address(address), width, op, int(value))
    return _out(old, width, signed)


def add(memory: Any, address: int, value: int, type: str = "i32") -> int:
    """Add ``value``; returns the old value (as every read-modify-write here)."""
    return _rmw("add", memory, address, value, type)


def sub(memory: Any, address: int, value: int, type: str = "i32") -> int:
    return _rmw("sub", memory, address, value, type)


def and_(memory: Any, address: int, value: int, type: str = "i32") -> int:
    return _rmw("and", memory, address, value, type)


def or_(memory: Any, address: int, value: int, type: str = "i32") -> int:
    return _rmw("or", memory, address, value, type)


def xor(memory: Any, address: int, value: int, type: str = "i32") -> int:
    return _rmw("xor", memory, address, value, type)


def exchange(memory: Any, address: int, value: int, type: str = "i32") -> int:
    return _rmw("xchg", memory, address, value, type)


def compare_exchange(memory: Any, address: int, expected: int, replacement: int,
                     type: str = "i32") -> int:
    """Store ``replacement`` if the value equals ``expected`` (both wrapped to the width);
    returns the old value."""
    width, signed = _width(type)
    old = _rt.atomic_cmpxchg(_data(memory), _address(address), width, int(expected),
                             int(replacement))
    return _out(old, width, signed)


def wait(memory: Any, address: int, expected: int, timeout: float | None = None,
         type: str = "i32") -> str:
    """Sleep until notified at ``address`` if it holds ``expected``: "ok", "not-equal" or
    "timed-out". ``type`` is "i32"/"u32" (wait32) or "i64"/"u64" (wait64)."""
    width, _signed = _width(type)
    if width not in (4, 8):
        raise ValueError("wait works on 32- or 64-bit values")
    ns = -1 if timeout is None else max(0, int(timeout * 1e9))
    code = _rt.atomic_wait(_data(memory), _address(address), width, int(expected), ns)
    return _WAIT_RESULTS[code]


def notify(memory: Any, address: int, count: int | None = None) -> int:
    """Wake up to ``count`` waiters at ``address`` (None: all), oldest first; returns how
    many woke."""
    n = 0xFFFF_FFFF if count is None else max(0, int(count))
    return _rt.atomic_notify(_data(memory), _address(address), n)
