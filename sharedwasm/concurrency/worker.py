"""``Worker``: the Web Worker model with processes (parent side).

Processes start from a forkserver with the runtime preloaded (``multiprocess``, so
closures and lambdas travel with dill); a ``Worker`` normally takes the idle spare process
(spare.py) and only sends it the target: a few ms to a running worker instead of a fork.
A process's first worker is spawned while the forkserver boots in the background.
Messages are pickled: a ``Module`` travels whole, a shared ``Memory`` by name (the worker
maps the same segment). Every blocking call takes a timeout and also watches the process
sentinel, so a worker that dies (killed, crashed) fails the caller with ``WorkerDied``
instead of hanging. An exception raised in the worker is raised again in the parent with
the worker's traceback text as ``__cause__`` (as ``concurrent.futures`` does).
"""
from __future__ import annotations

import collections
import itertools
import os
import sys
import threading
import time
from typing import Any, Callable

from . import child, spare, wire
from .context import (end_process, forkserver_running, mp_context, spawn_context,
                      wait_ready)

__all__ = ["Worker", "WorkerError", "WorkerDied", "RemoteTraceback"]

_ids = itertools.count(1)


class WorkerError(Exception):
    """A worker failed (its exception could not travel, or it died)."""


class WorkerDied(WorkerError):
    """The worker process ended without reporting (killed, crashed, ``os._exit``)."""


class RemoteTraceback(Exception):
    """The traceback text of an exception raised in a worker (an error's ``__cause__``)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n\n" + self.text


def remote_error(exc: BaseException | None, text: str, where: str) -> BaseException:
    """The exception to raise in the parent for an ``("error", exc, text)`` report."""
    if exc is None:
        last = text.strip().splitlines()[-1] if text.strip() else "unknown error"
        exc = WorkerError(f"{where} failed: {last}")
    exc.__cause__ = RemoteTraceback(text)
    return exc


class Worker:
    """A worker process running ``target`` (a script path or a callable).

    ``Worker(target, *args)`` starts it at once. ``post_message(obj)`` sends to it;
    ``receive(timeout)`` takes its next message (or set ``on_message`` to a callable and
    messages are delivered on a background thread); ``result(timeout)`` waits for the
    target to finish and returns what it returned; ``terminate()`` ends it at once, also
    while it is blocked in a wait. Use it as a context manager to always terminate.
    """

    def __init__(self, target: str | os.PathLike | Callable, *args: Any,
                 name: str | None = None):
        if not (callable(target) or isinstance(target, (str, os.PathLike))):
            raise TypeError("a Worker runs a script path or a callable")
        if isinstance(target, (str, os.PathLike)):
            target = os.path.abspath(os.fspath(target))
            if not os.path.isfile(target):
                raise FileNotFoundError(f"worker script not found: {target}")
        self.name = name or f"sharedwasm-worker-{next(_ids)}"
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._finished = False
        self._result: Any = None
        self._error: BaseException | None = None
        self._inbox: collections.deque = collections.deque()
        self._handler: Callable[[Any], Any] | None = None
        self._dispatcher: threading.Thread | None = None
        self._closed = False
        self._exitcode: int | None = None
        self._process, self._conn = self._start(target, args)
        self._pid = self._process.pid

    def _start(self, target: Any, args: tuple) -> tuple[Any, Any]:
        """Hand the target to the idle spare process, or fork a new process."""
        handed = spare.take()
        if handed is not None:
            process, conn = handed
            process.name = self.name
            try:
                conn.send(("start", target, args, self.name, os.getcwd(), list(sys.path),
                           child.engine_setting()))
                return process, conn
            except (BrokenPipeError, ConnectionResetError, EOFError):
                spare.drop(process, conn)     # the spare died: fork instead
            except BaseException:
                spare.drop(process, conn)
                raise
        ctx = mp_context()
        if (ctx.get_start_method() == "forkserver" and spare.enabled()
                and not forkserver_running()):
            ctx = spawn_context()         # do not wait for the forkserver to boot
        conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(target=child.worker_main,
                              args=(child_conn, target, args, self.name,
                                    child.engine_setting()),
                              name=self.name, daemon=True)
        try:
            process.start()
        finally:
            child_conn.close()
        spare.refill()
        return process, conn

    # -- messages -------------------------------------------------------------------------
    def post_message(self, message: Any) -> None:
        """Send ``message`` to the worker (``postMessage``)."""
        if self._closed:
            raise WorkerError(f"{self.name} is terminated")
        with self._send_lock:
            try:
                wire.send(self._conn, ("message", message))
            except (BrokenPipeError, ConnectionResetError, EOFError):
                self._raise_finished()
                raise WorkerDied(f"{self.name} is gone") from None

    def receive(self, timeout: float | None = None) -> Any:
        """The worker's next message; ``TimeoutError`` after ``timeout`` seconds; the
        worker's exception if it failed; ``WorkerDied`` if it died; ``EOFError`` if it
        finished without sending more."""
        if self._handler is not None:
            raise WorkerError("messages of this worker go to on_message")
        with self._lock:
            kind, value = self._next(timeout)
        return value

    @property
    def on_message(self) -> Callable[[Any], Any] | None:
        return self._handler

    @on_message.setter
    def on_message(self, handler: Callable[[Any], Any] | None) -> None:
        """Deliver messages to ``handler`` on a background thread (``onmessage``)."""
        self._handler = handler
        if handler is not None and self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._dispatch, daemon=True,
                                                name=f"{self.name}-messages")
            self._dispatcher.start()

    def _dispatch(self) -> None:
        while not self._closed:
            with self._lock:
                try:
                    kind, value = self._next(0.2)
                except TimeoutError:
                    continue
                except BaseException:
                    return
            handler = self._handler
            if handler is not None:
                handler(value)

    def _next(self, timeout: float | None) -> tuple[str, Any]:
        """Read until a message arrives (caller holds ``_lock``)."""
        if self._inbox:
            return self._inbox.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._raise_finished()
            if self._closed:
                raise WorkerError(f"{self.name} is terminated")
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not wait_ready(self._conn, self._process.sentinel, remaining):
                raise TimeoutError(f"{self.name}: no message within {timeout} s")
            item = self._read()
            if item is None:
                continue
            if item[0] == "message":
                return item

    def _read(self) -> tuple | None:
        """One item from the pipe, or None after recording how the worker ended."""
        try:
            if self._conn.poll():
                item = self._conn.recv()
            else:
                item = None
        except (EOFError, OSError):
            item = None
        if item is None:
            self._process.join(1.0)
            if not self._finished:
                self._finished = True
                self._error = WorkerDied(
                    f"{self.name} (pid {self._process.pid}) died with exit code "
                    f"{self._process.exitcode}")
            return None
        if item[0] == "done":
            self._finished, self._result = True, item[1]
        elif item[0] == "error":
            self._finished = True
            self._error = remote_error(item[1], item[2], self.name)
        return item

    def _raise_finished(self) -> None:
        if self._finished:
            if self._error is not None:
                raise self._error
            raise EOFError(f"{self.name} finished")

    # -- lifetime -------------------------------------------------------------------------
    def result(self, timeout: float | None = None) -> Any:
        """Wait for the target to return; its return value, or its exception. Messages it
        posted meanwhile stay queued for ``receive``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._finished:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not wait_ready(self._conn, self._process.sentinel, remaining):
                    raise TimeoutError(f"{self.name} did not finish within {timeout} s")
                item = self._read()
                if item is not None and item[0] == "message":
                    self._inbox.append(item)
        self._process.join(5.0)
        if self._error is not None:
            raise self._error
        return self._result

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the process to end; True if it did."""
        self._process.join(timeout)
        return self._process.exitcode is not None

    def close(self) -> None:
        """Ask the worker to end after its current message (``("close",)``), then wait."""
        if not self._closed:
            try:
                with self._send_lock:
                    self._conn.send(("close",))
            except (OSError, EOFError):
                pass
            self._process.join(2.0)
        self.terminate()

    def terminate(self) -> None:
        """End the worker now (SIGTERM, then SIGKILL), join it and close the pipe."""
        if self._closed:
            return
        self._closed = True
        proc = self._process
        end_process(proc)
        try:
            self._conn.close()
        except OSError:
            pass
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            self._dispatcher.join(1.0)
        self._exitcode = proc.exitcode
        try:
            proc.close()
        except ValueError:
            pass

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def exitcode(self) -> int | None:
        """The exit code once the process ended (negative: killed by that signal)."""
        if self._closed:
            return self._exitcode
        return self._process.exitcode

    def is_alive(self) -> bool:
        try:
            return self._process.is_alive()
        except ValueError:
            return False


    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()

    def __reduce__(self):
        raise TypeError("a Worker cannot be pickled")

    def __repr__(self) -> str:
        if self._closed:
            state = "terminated"
        elif self._finished:
            state = "finished" if self._error is None else "failed"
        else:
            state = "running" if self.is_alive() else "exited"
        return f"<Worker {self.name} pid={self.pid} {state}>"
