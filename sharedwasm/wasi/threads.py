"""wasi-threads across processes: each ``thread-spawn`` starts a worker process on the
program's shared memory.

A threaded WASI module imports ``wasi.thread-spawn`` and a shared memory (``env.memory``),
exports that memory and ``wasi_thread_start(tid, start_arg)``. ``ThreadGroup`` is the
supervisor in the parent process:

    with ThreadGroup(module) as group:                 # creates env.memory from its type
        wasi = WASI(args=[...], thread_spawn=group.spawn)
        instance = Instance(module, group.imports(wasi))
        code = group.start(wasi, instance)             # or run(module, args=[...])

``spawn`` starts a process (from the package's forkserver) that unpickles the Module,
attaches the same shared memory, builds a ``WASI`` with the same configuration (args,
environment, preopened directories and stdio passed as duplicated descriptors; stdio that
are Python objects are served by the parent), instantiates and calls
``wasi_thread_start``. A worker's own ``thread-spawn`` is a request to the parent, so every
thread is a child of the supervisor and thread ids are unique.

Ending: the first of these ends the whole program, whichever thread it happens in: the
main thread returning from ``_start``, a ``proc_exit``, a trap, a worker failing otherwise
(``ThreadError``). Then every other worker is killed and joined. A main thread still
running wasm when a worker ends the program is interrupted: machine code of the native tier
through its interrupt request (``tiers.native.vm``, polled at loop headers and calls);
Python code in the Python main thread by a signal (``SIGUSR1``, handled only while
``start`` runs; it also ends a blocked ``memory.atomic.wait`` or a sleeping host call),
elsewhere by an asynchronous exception (which a wait without timeout only sees when it
returns).
"""
from __future__ import annotations

import ctypes
import io
import os
import signal
import threading
import time
import traceback
from typing import Any

from ..errors import RuntimeError as Trap
from .errno import Errno
from .fs import DirEntry
from .proccalls import ProcExit

__all__ = ["ThreadGroup", "ThreadError", "run", "uses_threads", "needs_group", "THREAD_START",
           "INTERRUPT_SIGNAL", "MAX_TID"]

THREAD_START = "wasi_thread_start"
#: the signal that interrupts the main thread when another thread ends the program
INTERRUPT_SIGNAL = signal.SIGUSR1
#: thread ids run from 1 to this (wasi-threads keeps the top bits for libc's locks)
MAX_TID = 0x1FFF_FFFF
#: ``thread-spawn`` failures: no ``wasi_thread_start`` export / a worker could not start
SPAWN_NO_ENTRY = -int(Errno.INVAL)
SPAWN_FAILED = -int(Errno.AGAIN)


class ThreadError(Exception):
    """A thread failed without a trap or ``proc_exit`` (its process died, or it raised a
    host error); the whole program ends with it."""


class _Interrupted(BaseException):
    """Raised in the main thread when another thread ended the program."""


def _native_state() -> Any:
    """The calling thread's native VM state (None without the native tier)."""
    try:
        from ..tiers.native import vm
    except ImportError:
        return None
    return vm.current()


def uses_threads(module: Any) -> bool:
    """Whether ``module`` imports ``wasi.thread-spawn``."""
    return any(d.module == "wasi" and d.name == "thread-spawn" and d.kind == "function"
               for d in module.imports())


def needs_group(module: Any) -> bool:
    """Whether running ``module`` needs a ``ThreadGroup``: it imports ``thread-spawn`` or a
    memory (which the group creates from the import type)."""
    return uses_threads(module) or _memory_import(module) is not None


def _memory_import(module: Any) -> Any:
    for desc in module.imports():
        if desc.kind == "memory":
            return desc
    return None


# -- descriptors handed to workers ----------------------------------------------------------
class _Fd:
    """A host descriptor that a worker receives as a duplicate (through the forkserver)."""

    def __init__(self, fd: int):
        self.fd = fd

    def __reduce__(self):
        from multiprocess import reduction
        return (_Fd._rebuild, (reduction.DupFd(self.fd),))

    @staticmethod
    def _rebuild(dup: Any) -> int:
        return dup.detach()


class _Config:
    """What a worker's ``WASI`` is built from: the program's configuration when it
    started (arguments, environment, stdio, preopened directories with their rights)."""

    def __init__(self, wasi: Any):
        self.args = list(wasi.args)
        self.environ = list(wasi.environ)
        self.streams: list[Any] = [
            _Fd(os.dup(s.fd)) if s.fd is not None else None for s in wasi._streams]
        self.preopens = [
            (fd, e.name, _Fd(os.dup(e.fd)), e.rights_base, e.rights_inheriting)
            for fd, e in sorted(wasi.fds.entries.items())
            if isinstance(e, DirEntry) and e.name is not None]

    def close(self) -> None:
        """Close the duplicates kept for later spawns."""
        held = [s for s in self.streams if s is not None]
        held += [p[2] for p in self.preopens]
        for item in held:
            try:
                os.close(item.fd)
            except OSError:
                pass

    def build(self, conn: Any) -> Any:
        """The worker's ``WASI`` (its ``thread-spawn`` asks the parent)."""
        from . import WASI
        stdio = [s if s is not None else _Forwarded(conn, i, i == 0)
                 for i, s in enumerate(self.streams)]
        wasi = WASI(stdin=stdio[0], stdout=stdio[1], stderr=stdio[2],
                    thread_spawn=_RemoteSpawn(conn))
        wasi.args = list(self.args)
        wasi.environ = list(self.environ)
        for number, name, fd, base, inheriting in self.preopens:
            wasi.fds.entries[number] = DirEntry(fd, base, inheriting, name=name)
        return wasi


class _Forwarded(io.RawIOBase):
    """A worker's stdio stream whose host end is a Python object of the parent: every
    read and write is a round trip, so output keeps the program's order."""

    def __init__(self, conn: Any, index: int, readable: bool):
        super().__init__()
        self._conn, self._index, self._readable = conn, index, readable

    def readable(self) -> bool:
        return self._readable

    def writable(self) -> bool:
        return not self._readable

    def write(self, data: Any) -> int:
        self._conn.send(("write", self._index, bytes(data)))
        return self._conn.recv()

    def read1(self, size: int = -1) -> bytes:
        self._conn.send(("read", self._index, size))
        return self._conn.recv()

    read = read1


class _RemoteSpawn:
    """A worker's ``thread-spawn``: the parent starts the thread and answers its id."""

    def __init__(self, conn: Any):
        self._conn = conn

    def __call__(self, wasi: Any, start_arg: int) -> int:
        self._conn.send(("spawn", start_arg & 0xFFFF_FFFF))
        return self._conn.recv()


# -- the worker process ---------------------------------------------------------------------
def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(70)


def thread_main(conn: Any, module: Any, memory: Any, config: _Config, tid: int,
                start_arg: int) -> None:
    """A worker's entry point: instantiate on the shared memory, call
    ``wasi_thread_start(tid, start_arg)``, report how it ended."""
    from ..api.instance import Instance
    from ..concurrency.tasks import link_imports
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    wasi = None
    try:
        wasi = config.build(conn)
        instance = Instance(module, link_imports(module, memory, wasi.imports))
        wasi.bind(memory)
        instance.exports[THREAD_START](tid, start_arg)
        report: tuple = ("done",)
    except ProcExit as exit_:
        report = ("exit", exit_.code)
    except Trap as err:
        report = ("trap", err.message)
    except RecursionError:
        report = ("trap", "call stack exhausted")
    except BaseException as exc:    # reported: the parent ends the program with it
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        report = ("error", text)
    finally:
        if wasi is not None:
            wasi.flush()
    try:
        conn.send(report)
    except OSError:
        pass
    finally:
        conn.close()


# -- the supervisor -------------------------------------------------------------------------
class _Thread:
    __slots__ = ("tid", "process", "conn", "ended")

    def __init__(self, tid: int, process: Any, conn: Any):
        self.tid, self.process, self.conn, self.ended = tid, process, conn, False


class ThreadGroup:
    """The threads of one program: spawns them, serves their requests, ends the program
    when one of them does, and cleans up (workers killed and joined, the memory it
    created closed and unlinked) at ``close``."""

    def __init__(self, module: Any, memory: Any = None):
        self.module = module
        self._owns_memory = False
        desc = _memory_import(module)
        if memory is None and desc is not None:
            from ..api.objects import Memory
            limits = desc.type.limits
            memory = Memory(limits.min, limits.max, shared=limits.shared)
            self._owns_memory = True
        self.memory = memory
        self._has_start = any(e.name == THREAD_START and e.kind == "function"
                              for e in module.exports())
        self._lock = threading.RLock()
        self._threads: dict[int, _Thread] = {}
        self._next_tid = 1
        self._config: _Config | None = None
        self._wasi: Any = None
        self._outcome: tuple | None = None
        self._in_wasm = False
        self._main_ident: int | None = None
        self._native: Any = None
        self._use_signal = False
        self._wake_r, self._wake_w = os.pipe()
        self._monitor: threading.Thread | None = None
        self._closed = False

    # -- linking -----------------------------------------------------------------------------
    def imports(self, wasi: Any) -> dict:
        """``wasi.imports`` plus the memory under the module's memory import."""
        from ..concurrency.tasks import link_imports
        return link_imports(self.module, self.memory, wasi.imports)

    # -- spawning ----------------------------------------------------------------------------
    def spawn(self, wasi: Any, start_arg: int) -> int:
        """The ``thread-spawn`` hook: a new thread id, or a negative errno."""
        if self._config is None:
            self._capture(wasi)
        return self._spawn(start_arg & 0xFFFF_FFFF)

    def _capture(self, wasi: Any) -> None:
        self._wasi = wasi
        self._config = _Config(wasi)

    def _spawn(self, start_arg: int) -> int:
        if not self._has_start or self.memory is None:
            return SPAWN_NO_ENTRY
        from ..concurrency.context import mp_context
        with self._lock:
            if self._closed or self._outcome is not None or self._next_tid > MAX_TID:
                return SPAWN_FAILED
            tid = self._next_tid
            self._next_tid += 1
            try:
                ctx = mp_context()
                conn, child = ctx.Pipe(duplex=True)
                process = ctx.Process(
                    target=thread_main, name=f"wasi-thread-{tid}", daemon=True,
                    args=(child, self.module, self.memory, self._config, tid, start_arg))
                process.start()
                child.close()
            except Exception:
                return SPAWN_FAILED
            self._threads[tid] = _Thread(tid, process, conn)
            if self._monitor is None:
                self._monitor = threading.Thread(target=self._watch, daemon=True,
                                                 name="wasi-threads")
                self._monitor.start()
            else:
                os.write(self._wake_w, b"x")
        return tid

    # -- watching the workers ----------------------------------------------------------------
    def _watch(self) -> None:
        from multiprocess.connection import wait
        while True:
            with self._lock:
                if self._closed:
                    return
                live = [t for t in self._threads.values() if not t.ended]
            handles: dict[Any, _Thread] = {}
            for t in live:
                handles[t.conn] = t
                handles[t.process.sentinel] = t
            ready = wait([*handles, self._wake_r])
            for item in ready:
                if item == self._wake_r:
                    os.read(self._wake_r, 4096)
                    continue
                thread = handles[item]
                if not thread.ended:
                    self._serve(thread)

    def _serve(self, thread: _Thread) -> None:
        """Answer the worker's pending requests; record its end when it reports or dies."""
        while True:
            try:
                if not thread.conn.poll():
                    if thread.process.exitcode is None:
                        return
                    message: tuple = ("died",)
                else:
                    message = thread.conn.recv()
            except (EOFError, OSError):
                message = ("died",)
            kind = message[0]
            if kind == "spawn":
                self._reply(thread, self._spawn(message[1]))
            elif kind == "write":
                self._reply(thread, self._forward_write(message[1], message[2]))
            elif kind == "read":
                self._reply(thread, self._forward_read(message[1], message[2]))
            else:
                self._finish(thread, message)
                return

    def _reply(self, thread: _Thread, value: Any) -> None:
        try:
            thread.conn.send(value)
        except OSError:
            pass

    def _forward_write(self, index: int, data: bytes) -> int:
        try:
            return self._wasi._streams[index].write([memoryview(data)])
        except (OSError, ValueError):
            return 0

    def _forward_read(self, index: int, size: int) -> bytes:
        stream = self._wasi._streams[index]
        buf = bytearray(max(0, size) if size >= 0 else 65536)
        try:
            n = stream.readinto([memoryview(buf)])
        except (OSError, ValueError):
            return b""
        return bytes(buf[:n])

    def _finish(self, thread: _Thread, message: tuple) -> None:
        thread.ended = True
        kind = message[0]
        if kind == "done":
            thread.process.join(5.0)
            return
        if kind == "died":
            thread.process.join(1.0)
            outcome: tuple = ("error", f"thread {thread.tid} died (exit code "
                                       f"{thread.process.exitcode})")
        elif kind == "error":
            outcome = ("error", f"thread {thread.tid} failed:\n{message[1]}")
        else:
            outcome = message
        self._end(outcome)

    def _end(self, outcome: tuple) -> None:
        """The program ends with ``outcome`` (unless it already ended): kill the other
        workers, interrupt the main thread if it is in wasm."""
        with self._lock:
            if self._outcome is not None:
                return
            self._outcome = outcome
            self._kill_all()
            if self._in_wasm and self._main_ident is not None:
                if self._native is not None:
                    self._native.interrupt(_Interrupted())
                if self._use_signal:
                    signal.pthread_kill(self._main_ident, INTERRUPT_SIGNAL)
                else:
                    _async_raise(self._main_ident, _Interrupted)

    def _kill_all(self) -> None:
        for t in self._threads.values():
            if t.process.exitcode is None:
                t.process.kill()

    # -- running the main thread -------------------------------------------------------------
    def start(self, wasi: Any, instance: Any) -> int:
        """Run ``_start`` (``wasi.start``) as the main thread. Returns the program's exit
        code (0 when ``_start`` returns, else the ``proc_exit`` code of whichever thread
        called it first); raises the trap (``RuntimeError``) or ``ThreadError`` of the
        thread that failed first. Other threads are killed and joined before it returns."""
        if self._config is None:
            self._capture(wasi)
        self._main_ident = threading.get_ident()
        self._native = _native_state()
        self._use_signal = threading.current_thread() is threading.main_thread()
        previous = None
        if self._use_signal:
            previous = signal.signal(INTERRUPT_SIGNAL, self._on_signal)
        outcome: tuple
        try:
            try:
                with self._lock:
                    self._in_wasm = self._outcome is None
                if not self._in_wasm:
                    raise _Interrupted
                try:
                    outcome = ("exit", wasi.start(instance))
                finally:
                    with self._lock:
                        self._in_wasm = False
            except _Interrupted:
                outcome = ("interrupted",)
            except Trap as err:
                outcome = ("trap", err.message, err)
            except RecursionError:
                outcome = ("trap", "call stack exhausted")
            except BaseException:
                self._end(("error", "the main thread failed"))
                self.join()
                raise
        finally:
            if self._use_signal:
                signal.signal(INTERRUPT_SIGNAL, previous)
            else:
                _async_raise(self._main_ident, None)
            if self._native is not None:
                self._native.clear_interrupt()
        self._end(outcome)
        self.join()
        return self._result(wasi)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._in_wasm:
            raise _Interrupted

    def _result(self, wasi: Any) -> int:
        wasi.flush()
        outcome = self._outcome
        assert outcome is not None
        kind = outcome[0]
        if kind == "exit":
            return outcome[1]
        if kind == "trap":
            if len(outcome) > 2:
                raise outcome[2]
            raise Trap(outcome[1])
        raise ThreadError(outcome[1])

    # -- lifetime ----------------------------------------------------------------------------
    def threads(self) -> list[int]:
        """Ids of the threads still running."""
        with self._lock:
            return [t.tid for t in self._threads.values()
                    if not t.ended and t.process.exitcode is None]

    def join(self) -> None:
        """Kill the workers still running and wait for every one of them."""
        with self._lock:
            self._kill_all()
            threads = list(self._threads.values())
        for t in threads:
            t.process.join(5.0)

    def close(self) -> None:
        """Kill and join every worker, stop watching, close the memory if it was made
        here (which unlinks its segment)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.join()
        os.write(self._wake_w, b"x")
        if self._monitor is not None:
            self._monitor.join(5.0)
        for t in self._threads.values():
            try:
                t.conn.close()
            except OSError:
                pass
            try:
                t.process.close()
            except ValueError:
                pass
        os.close(self._wake_r)
        os.close(self._wake_w)
        if self._config is not None:
            self._config.close()
        if self._owns_memory and self.memory is not None:
            self.memory.close()

    def __enter__(self) -> "ThreadGroup":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _async_raise(ident: int, exc_type: type | None) -> None:
    """Raise ``exc_type`` in the thread ``ident`` at its next bytecode (None cancels)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(exc_type) if exc_type else None)


def run(module: Any, **wasi_options: Any) -> int:
    """Run the command ``module`` with threads: ``WASI(**wasi_options)``, its memory import
    created from the import type. Returns the exit code; raises a trap or ``ThreadError``."""
    from ..api.instance import Instance
    from . import WASI
    with ThreadGroup(module) as group:
        with WASI(**wasi_options, thread_spawn=group.spawn) as wasi:
            return group.start(wasi, Instance(module, group.imports(wasi)))
