"""How worker processes start: one ``multiprocess`` context for the whole package.

The default is a forkserver with the runtime preloaded (measured to a worker's first
reply: forkserver 20 ms, spawn 95 ms; Node's ``new Worker`` 40-47 ms). Plain ``fork`` is
unsafe once the parent has threads, so it is only used when asked for.
``SHAREDWASM_START_METHOD`` (``forkserver``, ``spawn``, ``fork``) overrides the choice.
"""
from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["mp_context", "wait_ready", "PRELOAD"]

#: modules the forkserver imports once, so every worker starts with them loaded
PRELOAD = ["sharedwasm", "sharedwasm.api.module", "sharedwasm.api.instance",
           "sharedwasm.api.objects", "sharedwasm.tiers", "sharedwasm.runtime.shared_memory",
           "sharedwasm.concurrency.child", "sharedwasm.concurrency.tasks", "dill"]

_lock = threading.Lock()
_context: Any = None


def mp_context() -> Any:
    """The ``multiprocess`` context workers start from (created on first use)."""
    global _context
    if _context is None:
        with _lock:
            if _context is None:
                import multiprocess
                method = os.environ.get("SHAREDWASM_START_METHOD", "forkserver")
                ctx = multiprocess.get_context(method)
                if method == "forkserver":
                    ctx.set_forkserver_preload(PRELOAD)
                _context = ctx
    return _context


def wait_ready(conn: Any, sentinel: int, timeout: float | None) -> bool:
    """Block until ``conn`` has data or the process behind ``sentinel`` ended; False on
    timeout."""
    from multiprocess.connection import wait
    return bool(wait([conn, sentinel], timeout))
