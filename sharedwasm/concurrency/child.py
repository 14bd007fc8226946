"""The worker process side: its main loop and the scope a worker script sees.

A worker runs a *target*: the path of a Python script (the counterpart of a ``worker.js``
file) or a callable. A script runs with the names of its ``WorkerScope`` as globals
(``post_message``, ``receive``, ``close``, ``worker``); a callable is called as
``target(scope, *args)``. If either leaves a message handler (a script's global
``on_message``, or ``scope.on_message``), the worker then delivers every incoming message
to it until the parent closes the worker; otherwise it ends when the target returns.

Wire protocol (tuples over one duplex pipe, pickled with dill):
parent -> child ``("message", obj)``, ``("close",)``;
child -> parent ``("message", obj)``, ``("done", value)``, ``("error", exc, traceback)``.
"""
from __future__ import annotations

import os
import runpy
import sys
import threading
import time
import traceback
from typing import Any, Callable

__all__ = ["WorkerScope", "worker_main", "WorkerClosed", "pack_error"]


class WorkerClosed(Exception):
    """The parent closed the worker (raised by ``receive`` in the worker)."""


class WorkerScope:
    """What a worker sees of its parent (the ``self`` of a JS worker)."""

    def __init__(self, conn: Any, name: str):
        self.name = name
        self.on_message: Callable[[Any], Any] | None = None
        self._conn = conn
        self._send_lock = threading.Lock()

    def post_message(self, message: Any) -> None:
        """Send ``message`` to the parent (Modules pickle; shared Memories go by name)."""
        with self._send_lock:
            self._conn.send(("message", message))

    def receive(self, timeout: float | None = None) -> Any:
        """The next message from the parent; ``TimeoutError`` after ``timeout`` seconds,
        ``WorkerClosed`` once the parent closed the worker."""
        if timeout is not None and not self._conn.poll(timeout):
            raise TimeoutError(f"no message within {timeout} s")
        try:
            item = self._conn.recv()
        except EOFError:
            raise WorkerClosed("the parent closed the connection") from None
        if item[0] == "close":
            raise WorkerClosed("the parent closed the worker")
        return item[1]

    def close(self) -> None:
        """End this worker after the current handler returns (``self.close()`` in JS)."""
        raise WorkerClosed("the worker closed itself")

    def _send(self, item: tuple) -> None:
        with self._send_lock:
            self._conn.send(item)


def pack_error(exc: BaseException) -> tuple:
    """An ``("error", exc, traceback text)`` item; the exception itself only if it pickles."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        import dill
        dill.dumps(exc)
        payload: Any = exc
    except Exception:
        payload = None
    return ("error", payload, text)


def _run_script(path: str, scope: WorkerScope, args: tuple) -> Callable | None:
    names = {"post_message": scope.post_message, "receive": scope.receive,
             "close": scope.close, "worker": scope, "worker_args": args}
    result = runpy.run_path(path, init_globals=names, run_name="__worker__")
    handler = result.get("on_message")
    return handler if callable(handler) else None


def _watch_parent(parent: int) -> None:
    """End this process when its parent is gone (never outlive the program)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(70)


def worker_main(conn: Any, target: Any, args: tuple, name: str) -> None:
    """The worker process's entry point."""
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True,
                     name="parent-watch").start()
    scope = WorkerScope(conn, name)
    try:
        if isinstance(target, (str, os.PathLike)):
            handler = _run_script(os.fspath(target), scope, args)
            result = None
        else:
            result = target(scope, *args)
            handler = None
        handler = scope.on_message or handler
        if handler is not None:
            while True:
                handler(scope.receive())
        scope._send(("done", result))
    except WorkerClosed:
        _try_send(scope, ("done", None))
    except BaseException as exc:   # reported to the parent, which raises it there
        _try_send(scope, pack_error(exc))
    finally:
        try:
            conn.close()
        except OSError:
            pass
        sys.stdout.flush()
        sys.stderr.flush()


def _try_send(scope: WorkerScope, item: tuple) -> None:
    try:
        scope._send(item)
    except (OSError, EOFError, BrokenPipeError):
        pass
