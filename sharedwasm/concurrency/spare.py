"""The spare worker process: an idle process kept ready (one by default), so a
``Worker`` starts without forking.

Starting a process costs a fork by the forkserver plus the child's preparation (unpickling
its start data, re-running the parent's main module as ``__mp_main__``); a spare has done
all that in the background. ``take()`` hands the spare out (its pipe then carries the
target, see ``child.spare_main``) and starts the next one on a background thread; the first
``take()`` of a process finds none, and the caller's ``refill()`` then starts one (which
also boots the forkserver, off the caller's thread).

An idle spare is not a worker: it is kept out of ``multiprocess.active_children()`` until
handed out, and is terminated and joined at interpreter exit (``atexit``), by
``shutdown()``, or — like every worker — ends itself when its parent disappears.
"""
from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from . import child
from .context import end_process, mp_context

__all__ = ["take", "refill", "drop", "shutdown", "enabled", "count", "idle_pids"]

_lock = threading.Lock()
#: idle spares as (Process, parent end of its pipe), oldest first
_spares: list[tuple[Any, Any]] = []
_filler: threading.Thread | None = None
_owner_pid = os.getpid()
_closed = False
_registered = False


def count() -> int:
    """How many idle spares to keep: ``SHAREDWASM_SPARE_WORKERS`` (default 1; 0 = none)."""
    try:
        return max(0, int(os.environ.get("SHAREDWASM_SPARE_WORKERS", "1")))
    except ValueError:
        return 1


def enabled() -> bool:
    """Spares only pay off when processes come from a forkserver or spawn."""
    if count() == 0:
        return False
    return mp_context().get_start_method() != "fork"


def take() -> tuple[Any, Any] | None:
    """The idle spare ``(process, conn)`` registered as an active child (and the next
    spare starting in the background), or None: then the caller forks its own process
    and calls ``refill()`` afterwards, so the two starts do not compete."""
    if not enabled() or os.getpid() != _owner_pid:
        return None
    filler = _filler
    if not _spares and filler is not None and filler is not threading.current_thread():
        filler.join(5.0)                      # a spare being started beats a new fork
    with _lock:
        spare = _spares.pop(0) if _spares else None
    if spare is None:
        return None
    refill()
    process, conn = spare
    if process.exitcode is not None:          # died while idle (killed): not usable
        _discard(process, conn)
        return None
    _adopt(process)
    return process, conn


def refill() -> None:
    """Start spares in the background up to ``count()`` unless they are starting."""
    if not enabled() or os.getpid() != _owner_pid:
        return
    with _lock:
        if len(_spares) < count():
            _refill_locked()


def _refill_locked() -> None:
    global _filler, _registered
    if _closed or (_filler is not None and _filler.is_alive()):
        return
    if not _registered:
        atexit.register(shutdown)
        _registered = True
    _filler = threading.Thread(target=_start_spare, daemon=True, name="sharedwasm-spare")
    _filler.start()


def _start_spare() -> None:
    while True:
        with _lock:
            if _closed or len(_spares) >= count():
                return
        if not _start_one():
            return


_local = threading.local()


def _preparation_without_main(original: Any) -> Any:
    """``spawn.get_preparation_data`` that, on the thread starting a spare, leaves the
    parent's main module out (kept in ``_local.main``): the spare re-imports it only when a
    target or message refers to ``__main__`` (``child.MainModule``), not on every start."""
    def preparation(name: str) -> dict:
        data = original(name)
        if getattr(_local, "lazy_main", False):
            for key in ("init_main_from_name", "init_main_from_path"):
                if key in data:
                    _local.main.spec[key] = data.pop(key)
        return data
    preparation.lazy_main = True
    return preparation


def _install_lazy_main() -> None:
    from multiprocess import spawn
    if not getattr(spawn.get_preparation_data, "lazy_main", False):
        spawn.get_preparation_data = _preparation_without_main(spawn.get_preparation_data)


def _start_one() -> bool:
    try:
        ctx = mp_context()
        _install_lazy_main()
        conn, child_conn = ctx.Pipe(duplex=True)
        main = child.MainModule()
        process = ctx.Process(target=child.spare_main, args=(child_conn, main),
                              name="sharedwasm-spare", daemon=True)
        _local.lazy_main, _local.main = True, main
        try:
            process.start()
        finally:
            _local.lazy_main = False
            child_conn.close()
    except Exception:                         # no spare: Worker forks as before
        return False
    _hide(process)
    with _lock:
        keep = not _closed and len(_spares) < count()
        if keep:
            _spares.append((process, conn))
    if not keep:
        _discard(process, conn)
    return keep


def _hide(process: Any) -> None:
    from multiprocess import process as mp_process
    mp_process._children.discard(process)


def _adopt(process: Any) -> None:
    from multiprocess import process as mp_process
    mp_process._children.add(process)


def drop(process: Any, conn: Any) -> None:
    """End a handed-out spare that could not take its target (it did not pickle)."""
    _discard(process, conn)


def _discard(process: Any, conn: Any) -> None:
    try:
        conn.close()
    except OSError:
        pass
    end_process(process)


def idle_pids() -> set[int]:
    """The pids of the idle spares, for leak checks that list processes."""
    with _lock:
        return {process.pid for process, _conn in _spares}


def shutdown() -> None:
    """End the idle spares and stop making new ones (interpreter exit)."""
    global _closed
    if os.getpid() != _owner_pid:
        return
    with _lock:
        _closed = True
        filler = _filler
    if filler is not None and filler is not threading.current_thread():
        filler.join(10.0)
    with _lock:
        spares = list(_spares)
        _spares.clear()
    for spare in spares:
        _discard(*spare)


def reopen() -> None:
    """Allow spares again after ``shutdown()`` (tests that shut them down)."""
    global _closed
    with _lock:
        _closed = False
