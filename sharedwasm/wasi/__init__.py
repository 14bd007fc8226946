"""WASI preview1 (``wasi_snapshot_preview1``) for instances of the public API, as Node's
``node:wasi``: a ``WASI`` object provides the imports, binds the instance's exported
``memory`` and runs ``_start``.

    wasi = WASI(args=["prog", "x"], env={"K": "V"}, preopens={"/data": "host/dir"})
    instance = wasm.Instance(module, wasi.imports)
    code = wasi.start(instance)        # 0 when _start returns, else the proc_exit code

The host side works only through the public objects (``Memory.buffer``, Python callables
as host functions), so it runs with any tier. Modules: ``errno`` (error numbers),
``abi`` (constants, layouts, guest memory), ``streams`` (stdio), ``fs`` (descriptor table),
``sandbox`` (path resolution), ``fdcalls``/``pathcalls``/``clocks``/``proccalls`` (the
calls), ``threads`` (wasi-threads), ``cli`` (``python -m sharedwasm run``).

wasi-threads: ``WASI(thread_spawn=callable)`` adds the import ``wasi.thread-spawn``
(``(i32 start_arg) -> i32 tid``); the callable gets the ``WASI`` object and the argument.
``threads.ThreadGroup.spawn`` is that callable: each thread is a worker process on the
shared memory (``threads``); without a callable the import is absent.
"""
from __future__ import annotations

import io
import os
import sys
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Callable

from . import abi, clocks, fdcalls, pathcalls, proccalls
from .abi import GuestMemory
from .errno import ESCAPE, Errno, WasiError, errno_of
from .fs import DirEntry, FdTable, StreamEntry
from .proccalls import ProcExit
from .streams import Stream

__all__ = ["WASI", "ProcExit", "Errno", "WasiError", "ESCAPE", "MODULE_NAME"]

MODULE_NAME = "wasi_snapshot_preview1"

#: every preview1 function: name -> implementation(ctx, *wasm arguments)
CALLS: dict[str, Callable[..., None]] = {
    **proccalls.CALLS, **clocks.CALLS, **fdcalls.CALLS, **pathcalls.CALLS}

_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _encode(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    raise TypeError(f"expected str or bytes, not {type(value).__name__}")


def _pairs(value: Any) -> list[tuple[Any, Any]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.items())
    return [tuple(pair) for pair in value]


class _Discard(io.RawIOBase):
    """Where output goes when the host process has no such stream."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


class WASI:
    """The state of one WASI program: arguments, environment, descriptors (stdio 0-2,
    then the preopened directories from 3 in the given order).

    ``args``: strings or bytes, ``args[0]`` being the program name. ``env``: a mapping or
    ordered ``(name, value)`` pairs (delivered in that order). ``preopens``: guest path ->
    host directory (mapping or pairs). ``stdin``/``stdout``/``stderr``: an OS descriptor
    (``int``) or a file object; by default the current ``sys.stdin``/``sys.stdout``/
    ``sys.stderr``. Host directories are opened now (``OSError`` if one cannot be).
    """

    def __init__(self, args: Iterable[str | bytes] = (), env: Any = None, preopens: Any = None,
                 stdin: Any = None, stdout: Any = None, stderr: Any = None, *,
                 thread_spawn: Callable[["WASI", int], int] | None = None):
        self.args: list[bytes] = [_encode(a) for a in args]
        self.environ: list[bytes] = [_encode(k) + b"=" + _encode(v) for k, v in _pairs(env)]
        self.fds = FdTable()
        self._finalizer = weakref.finalize(self, self.fds.close_all)
        self._memory: Any = None
        self._started = False
        self._thread_spawn = thread_spawn
        streams = (
            Stream(_default(stdin, sys.stdin, io.BytesIO), True, False),
            Stream(_default(stdout, sys.stdout, _Discard), False, True),
            Stream(_default(stderr, sys.stderr, _Discard), False, True),
        )
        for stream in streams:
            self.fds.add(StreamEntry(stream))
        self._streams = streams
        for guest, host in _pairs(preopens):
            self.add_preopen(str(guest), host)
        self.imports = self._build_imports()

    # -- setup -----------------------------------------------------------------------------
    def add_preopen(self, guest: str, host: Any) -> int:
        """Preopen the host directory ``host`` as ``guest``; returns its descriptor."""
        fd = os.open(os.fspath(host), _O_DIR)
        try:
            return self.fds.add(DirEntry(fd, abi.RIGHTS_DIR, abi.RIGHTS_DIR | abi.RIGHTS_FILE,
                                         name=guest))
        except BaseException:
            os.close(fd)
            raise

    def _build_imports(self) -> dict[str, dict[str, Callable]]:
        table = {name: self._host(fn) for name, fn in CALLS.items()}
        table["proc_exit"] = self._proc_exit
        imports: dict[str, dict[str, Callable]] = {MODULE_NAME: table}
        if self._thread_spawn is not None:
            spawn = self._thread_spawn
            imports["wasi"] = {"thread-spawn": lambda start_arg: spawn(self, start_arg)}
        return imports

    def _host(self, fn: Callable[..., None]) -> Callable[..., int]:
        """``fn`` as a host function: 0 on success, the errno when it fails."""
        def call(*args: int) -> int:
            try:
                fn(self, *args)
            except WasiError as err:
                return int(err.errno)
            except OSError as err:
                return int(errno_of(err))
            except (OverflowError, ValueError):
                return int(Errno.INVAL)
            return 0
        call.__name__ = fn.__name__
        call.__qualname__ = f"WASI.{fn.__name__}"
        return call

    @staticmethod
    def _proc_exit(code: int) -> None:
        raise ProcExit(code & abi.U32)

    def get_import_object(self) -> dict[str, dict[str, Callable]]:
        """The imports to instantiate with (the same as ``imports``)."""
        return self.imports

    # -- memory ----------------------------------------------------------------------------
    def bind(self, memory: Any) -> None:
        """Use ``memory`` (a ``wasm.Memory``) as the guest memory; ``start`` and
        ``initialize`` bind the instance's exported ``memory`` themselves."""
        if not hasattr(memory, "buffer"):
            raise TypeError(f"a Memory is needed, not {type(memory).__name__}")
        self._memory = memory

    def memory(self) -> GuestMemory:
        """The guest memory as it is now (it may have grown since the last call)."""
        if self._memory is None:
            raise RuntimeError("WASI memory is not bound: call start(), initialize() or "
                               "bind() first")
        return GuestMemory(self._memory.buffer)

    def _bind_instance(self, instance: Any) -> Any:
        if self._started:
            raise RuntimeError("this WASI object has already started an instance")
        exports = instance.exports
        if "memory" not in exports:
            raise TypeError("the instance does not export a memory named 'memory'")
        self.bind(exports["memory"])
        self._started = True
        return exports

    # -- running ---------------------------------------------------------------------------
    def start(self, instance: Any) -> int:
        """Run a command: call ``_start``; returns 0 when it returns, or the code given to
        ``proc_exit``. Traps and other exceptions propagate."""
        exports = self._bind_instance(instance)
        if "_start" not in exports:
            raise TypeError("the instance does not export '_start' (not a WASI command)")
        try:
            exports["_start"]()
            return 0
        except ProcExit as exit_:
            return exit_.code
        finally:
            self.flush()

    def initialize(self, instance: Any) -> None:
        """Prepare a reactor: bind its memory and call ``_initialize`` when exported.
        A ``proc_exit`` during it raises ``ProcExit``."""
        exports = self._bind_instance(instance)
        try:
            if "_initialize" in exports:
                exports["_initialize"]()
        finally:
            self.flush()

    def flush(self) -> None:
        for stream in self._streams:
            if stream.writable:
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass

    def close(self) -> None:
        """Close every descriptor the guest still holds (preopens included)."""
        self._finalizer()

    def __enter__(self) -> "WASI":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _default(given: Any, current: Any, fallback: Callable[[], Any]) -> Any:
    if given is not None:
        return given
    return current if current is not None else fallback()
