"""The wasm call stack's depth: Python's recursion limit, raised while wasm runs.

Generated wasm functions call each other as plain Python functions, so wasm recursion is
bounded by the recursion limit (CPython's default of 1000 would trap real programs a
few thousand calls deep). On CPython 3.11+ a call between Python functions does not use
the C stack, but a call through C does (a callable object's ``__call__``, ``map``, ctypes),
and there the recursion limit is all that stands between deep recursion and a crash. So:

- while at least one wasm call is running (any thread), the limit is ``DEPTH_LIMIT``,
  derived from the thread stack size so that even a recursion crossing C on every few
  frames (wasm -> host -> exported function -> wasm ...) stays far from the stack's end;
  the previous limit comes back when the last wasm call returns, so Python code outside
  wasm keeps its usual limit;
- ``RecursionError`` still ends it, and the entry points turn it into the trap
  "call stack exhausted".

Running deep calls on a thread with a bigger stack was not taken: a thread hop costs more
than a whole trivial call should (5 us), and recursion found too deep cannot be resumed
elsewhere after the fact (the frames already ran side effects).
"""
from __future__ import annotations

import resource
import sys
import threading

__all__ = ["DEPTH_LIMIT", "enter", "leave"]

#: stack bytes allowed per recursion level. Measured on CPython 3.11 (x86-64, 8 MiB):
#: wasm -> host object -> exported function -> wasm costs 6 levels and ~1.15 KiB per
#: cycle (~190 bytes a level); a host function recursing through ``map`` ~650 bytes a
#: level. 800 keeps both (and the user's host code run from wasm) clear of the end.
_BYTES_PER_LEVEL = 800
_MAX_LIMIT = 20_000
_FALLBACK_STACK = 2 << 20     # glibc's thread default when the stack rlimit is unlimited


def _stack_bytes() -> int:
    """The smallest stack a thread of this process gets by default."""
    size = threading.stack_size()
    if size:
        return size
    soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return _FALLBACK_STACK
    return soft


DEPTH_LIMIT: int = max(1000, min(_MAX_LIMIT, _stack_bytes() // _BYTES_PER_LEVEL))

_lock = threading.Lock()
_active = [0, 0]     # wasm calls running (all threads), the limit before the first
_get_limit = sys.getrecursionlimit
_set_limit = sys.setrecursionlimit


def enter() -> None:
    """A wasm call starts: raise the recursion limit if it is the only one running."""
    with _lock:
        if _active[0]:
            _active[0] += 1
        else:
            _active[0] = 1
            old = _active[1] = _get_limit()
            if old < DEPTH_LIMIT:
                _set_limit(DEPTH_LIMIT)


def leave() -> None:
    """A wasm call ended: the last one running puts the previous limit back (unless the
    limit was changed meanwhile by someone else)."""
    with _lock:
        n = _active[0] = _active[0] - 1
        if not n:
            old = _active[1]
            if old < DEPTH_LIMIT and _get_limit() == DEPTH_LIMIT:
                try:
                    _set_limit(old)
                except RecursionError:
                    pass
