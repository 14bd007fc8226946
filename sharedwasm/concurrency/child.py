"""The worker process side: its main loop and the scope a worker script sees.

A worker runs a *target*: the path of a Python script (the counterpart of a ``worker.js``
file) or a callable. A script runs with the names of its ``WorkerScope`` as globals
(``post_message``, ``receive``, ``close``, ``worker``); a callable is called as
``target(scope, *args)``. If either leaves a message handler (a script's global
``on_message``, or ``scope.on_message``), the worker then delivers every incoming message
to it until the parent closes the worker; otherwise it ends when the target returns.

The worker takes its engine setting (``SHAREDWASM_ENGINE``) from the parent at start,
not from the environment its process inherited: a forkserver or spare process may predate
the parent's change to ``os.environ``. The target may still change it for itself.

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

from . import wire

__all__ = ["WorkerScope", "worker_main", "spare_main", "MainModule", "WorkerClosed",
           "pack_error", "engine_setting", "apply_engine"]

_ENGINE_VAR = "SHAREDWASM_ENGINE"


def engine_setting() -> str | None:
    """This process's ``SHAREDWASM_ENGINE`` (None when unset), to hand to a worker."""
    return os.environ.get(_ENGINE_VAR)


def apply_engine(setting: str | None) -> None:
    """Make this process's engine setting the one ``engine_setting`` gave in the parent."""
    if setting is None:
        os.environ.pop(_ENGINE_VAR, None)
    else:
        os.environ[_ENGINE_VAR] = setting


class MainModule:
    """The parent's main module as ``multiprocess`` would re-import it in a child
    (``spec``: its preparation keys), imported in a spare process only once something
    received refers to ``__main__``: a script worker never pays for it."""

    def __init__(self) -> None:
        self.spec: dict[str, str] = {}

    def load_for(self, payload: bytes) -> None:
        if self.spec and (b"__main__" in payload or b"__mp_main__" in payload):
            spec, self.spec = self.spec, {}
            from multiprocess import spawn
            if "init_main_from_name" in spec:
                spawn._fixup_main_from_name(spec["init_main_from_name"])
            elif "init_main_from_path" in spec:
                spawn._fixup_main_from_path(spec["init_main_from_path"])


_main = MainModule()


def _recv(conn: Any) -> Any:
    """``conn.recv()``, re-importing the parent's main module first when needed."""
    payload = conn.recv_bytes()
    _main.load_for(payload)
    from multiprocess.reduction import ForkingPickler
    return ForkingPickler.loads(payload)


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
            wire.send(self._conn, ("message", message))

    def receive(self, timeout: float | None = None) -> Any:
        """The next message from the parent; ``TimeoutError`` after ``timeout`` seconds,
        ``WorkerClosed`` once the parent closed the worker."""
        if timeout is not None and not self._conn.poll(timeout):
            raise TimeoutError(f"no message within {timeout} s")
        try:
            item = _recv(self._conn)
        except EOFError:
            raise WorkerClosed("the parent closed the connection") from None
        if item[0] == "close":
            raise WorkerClosed("the parent closed the worker")
        return item[1]

    def poll(self, seconds: float) -> bool:
        """Busy-wait up to ``seconds`` for a message from the parent (True if one came),
        keeping this process on its CPU instead of sleeping."""
        deadline = time.perf_counter() + seconds
        conn = self._conn
        while True:
            if conn.poll(0):
                return True
            if time.perf_counter() >= deadline:
                return False

    def close(self) -> None:
        """End this worker after the current handler returns (``self.close()`` in JS)."""
        raise WorkerClosed("the worker closed itself")

    def _send(self, item: tuple) -> None:
        with self._send_lock:
            wire.send(self._conn, item)


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


def _start_parent_watch() -> None:
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True,
                     name="parent-watch").start()


def spare_main(conn: Any, main: MainModule) -> None:
    """A spare process's entry point: wait for ``("start", target, args, name, cwd,
    sys_path, engine)`` from the parent, then become that worker. EOF (the parent dropped
    the spare) ends the process quietly."""
    global _main
    _main = main
    _start_parent_watch()
    try:
        item = _recv(conn)
    except (EOFError, OSError):
        return
    except BaseException as exc:      # the target did not unpickle here
        _try_send(WorkerScope(conn, "worker"), pack_error(exc))
        conn.close()
        return
    _kind, target, args, name, cwd, path, engine = item
    apply_engine(engine)
    try:
        os.chdir(cwd)
    except OSError:
        pass
    sys.path[:] = path
    import multiprocess
    multiprocess.current_process().name = name
    _run_worker(conn, target, args, name)


def worker_main(conn: Any, target: Any, args: tuple, name: str,
                engine: str | None = None) -> None:
    """The worker process's entry point."""
    apply_engine(engine)
    _start_parent_watch()
    _run_worker(conn, target, args, name)


def _run_worker(conn: Any, target: Any, args: tuple, name: str) -> None:
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
