"""How worker processes start: one ``multiprocess`` context for the whole package.

The default is a forkserver with the runtime preloaded, so every worker starts with it
imported. Booting that server (a Python process importing the runtime) is the cost of a
process's first worker; that one worker is therefore spawned directly (``spawn_context``:
a bare interpreter, no preload) while the forkserver boots in the background for the
workers after it (see worker.py and spare.py). Plain ``fork`` is unsafe once the parent
has threads, so it is only used when asked for.
``SHAREDWASM_START_METHOD`` (``forkserver``, ``spawn``, ``fork``) overrides the choice.
"""
from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["mp_context", "spawn_context", "forkserver_running", "wait_ready", "end_process",
           "PRELOAD"]

#: modules the forkserver imports once, so every worker starts with the runtime loaded
PRELOAD = ["sharedwasm.concurrency.child", "sharedwasm.concurrency.tasks",
           "sharedwasm.api.module", "sharedwasm.api.instance", "sharedwasm.api.objects",
           "sharedwasm.tiers", "sharedwasm.tiers.native", "sharedwasm.runtime.shared_memory"]

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


def spawn_context() -> Any:
    """The ``spawn`` context (a process's first worker, while the forkserver boots)."""
    import multiprocess
    return multiprocess.get_context("spawn")


def forkserver_running() -> bool:
    """Whether this process's forkserver has been started (or is starting)."""
    from multiprocess import forkserver
    server = getattr(forkserver, "_forkserver", None)
    return getattr(server, "_forkserver_pid", None) is not None


def wait_ready(conn: Any, sentinel: int, timeout: float | None) -> bool:
    """Block until ``conn`` has data or the process behind ``sentinel`` ended; False on
    timeout."""
    from multiprocess.connection import wait
    return bool(wait([conn, sentinel], timeout))


def end_process(process: Any) -> None:
    """End a worker process now (SIGTERM, then SIGKILL if it lingers) and reap it."""
    if process.exitcode is None:
        process.terminate()
        process.join(1.0)
        if process.exitcode is None:
            process.kill()
            process.join(5.0)
    else:
        process.join(1.0)
