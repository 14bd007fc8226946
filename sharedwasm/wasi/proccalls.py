"""Arguments, environment, randomness, process calls and the socket calls.

``proc_exit`` raises ``ProcExit`` (not a WASI error: it unwinds the wasm stack up to
``WASI.start``). Sockets cannot be created in preview1 and none are preopened, so the
``sock_*`` calls answer ``EBADF`` for a closed descriptor and ``ENOTSOCK`` otherwise.
"""
from __future__ import annotations

import os
from typing import Callable

from .abi import U32
from .errno import Errno, WasiError

#: signal numbers of the witx ``signal`` enum run from 0 (none) to 30 (sys)
_MAX_SIGNAL = 30


class ProcExit(Exception):
    """``proc_exit(code)`` was called: the program ends with ``code`` (an unsigned u32)."""

    def __init__(self, code: int):
        super().__init__(f"the program exited with code {code}")
        self.code = code


def _sizes(ctx, items: list[bytes], count: int, size: int) -> None:
    mem = ctx.memory()
    mem.set_u32(count & U32, len(items))
    mem.set_u32(size & U32, sum(len(item) + 1 for item in items))


def _strings(ctx, items: list[bytes], pointers: int, buf: int) -> None:
    mem = ctx.memory()
    pointers &= U32
    buf &= U32
    for i, item in enumerate(items):
        mem.set_u32(pointers + 4 * i, buf)
        mem.write(buf, item + b"\0")
        buf += len(item) + 1


def args_sizes_get(ctx, argc: int, argv_buf_size: int) -> None:
    _sizes(ctx, ctx.args, argc, argv_buf_size)


def args_get(ctx, argv: int, argv_buf: int) -> None:
    _strings(ctx, ctx.args, argv, argv_buf)


def environ_sizes_get(ctx, count: int, buf_size: int) -> None:
    _sizes(ctx, ctx.environ, count, buf_size)


def environ_get(ctx, environ: int, environ_buf: int) -> None:
    _strings(ctx, ctx.environ, environ, environ_buf)


def random_get(ctx, buf: int, buf_len: int) -> None:
    mem = ctx.memory()
    buf &= U32
    length = buf_len & U32
    mem.check(buf, length)
    step = 1 << 20
    for start in range(0, length, step):
        mem.write(buf + start, os.urandom(min(step, length - start)))


def proc_exit(ctx, code: int) -> None:
    raise ProcExit(code & U32)


def proc_raise(ctx, sig: int) -> None:
    sig &= 0xFF
    if sig > _MAX_SIGNAL:
        raise WasiError(Errno.INVAL, f"signal {sig}")
    if sig:
        raise WasiError(Errno.NOSYS, "signals are not delivered to the host process")


def sched_yield(ctx) -> None:
    if hasattr(os, "sched_yield"):
        os.sched_yield()


def _no_socket(ctx, fd: int) -> None:
    ctx.fds.get(fd)
    raise WasiError(Errno.NOTSOCK, f"descriptor {fd & U32} is not a socket")


def sock_accept(ctx, fd: int, flags: int, result: int) -> None:
    _no_socket(ctx, fd)


def sock_recv(ctx, fd: int, ri_data: int, ri_data_len: int, ri_flags: int, ro_datalen: int,
              ro_flags: int) -> None:
    _no_socket(ctx, fd)


def sock_send(ctx, fd: int, si_data: int, si_data_len: int, si_flags: int,
              so_datalen: int) -> None:
    _no_socket(ctx, fd)


def sock_shutdown(ctx, fd: int, how: int) -> None:
    _no_socket(ctx, fd)


CALLS: dict[str, Callable[..., None]] = {
    "args_get": args_get, "args_sizes_get": args_sizes_get,
    "environ_get": environ_get, "environ_sizes_get": environ_sizes_get,
    "random_get": random_get, "proc_raise": proc_raise, "sched_yield": sched_yield,
    "sock_accept": sock_accept, "sock_recv": sock_recv, "sock_send": sock_send,
    "sock_shutdown": sock_shutdown,
}
