"""Deadlines for native code: a loop in machine code runs no Python, so neither a
``SIGALRM`` handler nor anything else in its thread can stop it. One daemon thread keeps
the deadlines armed by ``arm`` and interrupts the native code of a thread whose deadline
passed (``tiers.native.vm``): the native call raises the exception given to ``arm``.
"""
from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Callable

__all__ = ["arm", "disarm"]


def _native_state() -> Any:
    """The calling thread's native VM state, or None without the native tier; loops of
    modules compiled from now on poll, so that a deadline can stop them."""
    try:
        from ..tiers import native
        from ..tiers.native import vm
    except ImportError:
        return None
    native.require_interruptible_loops()
    return vm.current()


class _Watchdog:
    def __init__(self):
        self.cond = threading.Condition()
        self.deadlines: dict[int, tuple[float, Any, Callable[[], BaseException]]] = {}
        self.tokens = itertools.count(1)
        self.thread: threading.Thread | None = None

    def arm(self, seconds: float, make_exc: Callable[[], BaseException]) -> int | None:
        state = _native_state()
        if state is None:
            return None
        with self.cond:
            token = next(self.tokens)
            self.deadlines[token] = (time.monotonic() + seconds, state, make_exc)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="sharedwasm-deadlines",
                                               daemon=True)
                self.thread.start()
            self.cond.notify()
        return token

    def disarm(self, token: int | None) -> None:
        if token is None:
            return
        with self.cond:           # the watchdog interrupts holding it: none is half done
            entry = self.deadlines.pop(token, None)
        if entry is None:         # it fired: withdraw a request no native code consumed
            _native_state().clear_interrupt()

    def _run(self) -> None:
        with self.cond:
            while True:
                now = time.monotonic()
                for token, (when, state, make_exc) in list(self.deadlines.items()):
                    if when <= now:
                        del self.deadlines[token]
                        state.interrupt(make_exc())
                nearest = min((when for when, _, _ in self.deadlines.values()), default=None)
                self.cond.wait(None if nearest is None else nearest - now)


_WATCHDOG = _Watchdog()


def arm(seconds: float, make_exc: Callable[[], BaseException]) -> int | None:
    """Interrupt the calling thread's native code with ``make_exc()`` after ``seconds``;
    returns the token ``disarm`` takes (None: there is no native tier)."""
    return _WATCHDOG.arm(seconds, make_exc)


def disarm(token: int | None) -> None:
    """Cancel the deadline ``token``; if it already fired, withdraw its interrupt."""
    _WATCHDOG.disarm(token)
