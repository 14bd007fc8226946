"""Clocks (``clock_time_get``, ``clock_res_get``) and ``poll_oneoff`` (clock timeouts and
descriptor readiness).

``poll_oneoff`` reports, without waiting, every subscription that is already satisfied
(a regular file is always ready; an expired clock; a bad descriptor as an event carrying
the error). Otherwise it waits with ``select`` on the host descriptors of the streams
(or sleeps, with clocks only) until the first descriptor is ready or the earliest clock
expires.
"""
from __future__ import annotations

import os
import select
import time
from typing import Callable

from . import abi
from .abi import U32
from .errno import Errno, WasiError
from .fs import FileEntry, StreamEntry, require

_NOW: dict[int, Callable[[], int]] = {
    abi.CLOCK_REALTIME: time.time_ns,
    abi.CLOCK_MONOTONIC: time.monotonic_ns,
    abi.CLOCK_PROCESS_CPUTIME: time.process_time_ns,
    abi.CLOCK_THREAD_CPUTIME: time.thread_time_ns,
}
_INFO = {abi.CLOCK_REALTIME: "time", abi.CLOCK_MONOTONIC: "monotonic",
         abi.CLOCK_PROCESS_CPUTIME: "process_time", abi.CLOCK_THREAD_CPUTIME: "thread_time"}


def _clock(clock_id: int) -> int:
    clock_id &= U32
    if clock_id not in _NOW:
        raise WasiError(Errno.INVAL, f"clock {clock_id}")
    return clock_id


def resolution_ns(clock_id: int) -> int:
    return max(1, round(time.get_clock_info(_INFO[clock_id]).resolution * 1e9))


def clock_res_get(ctx, clock_id: int, resolution: int) -> None:
    ctx.memory().set_u64(resolution & U32, resolution_ns(_clock(clock_id)))


def clock_time_get(ctx, clock_id: int, precision: int, timestamp: int) -> None:
    ctx.memory().set_u64(timestamp & U32, _NOW[_clock(clock_id)]())


# -- poll_oneoff -------------------------------------------------------------------------------

class _Sub:
    __slots__ = ("userdata", "type", "deadline", "fd", "entry", "error", "nbytes")

    def __init__(self, userdata: int, type_: int):
        self.userdata = userdata
        self.type = type_
        self.deadline: int | None = None   # monotonic ns, for clocks
        self.fd: int | None = None         # host descriptor to wait on, for streams
        self.entry = None
        self.error = Errno.SUCCESS
        self.nbytes = 0


def _parse(ctx, mem, addr: int) -> _Sub:
    userdata, tag = mem.unpack(abi.SUBSCRIPTION_HEAD, addr)
    sub = _Sub(userdata, tag)
    body = addr + 16
    if tag == abi.EVENTTYPE_CLOCK:
        clock_id, timeout, _precision, flags = mem.unpack(abi.SUBSCRIPTION_CLOCK, body)
        if clock_id not in (abi.CLOCK_REALTIME, abi.CLOCK_MONOTONIC):
            sub.error = Errno.INVAL if clock_id not in _NOW else Errno.NOTSUP
            return sub
        now = time.monotonic_ns()
        if flags & abi.SUBCLOCK_ABSTIME:
            sub.deadline = now + timeout - _NOW[clock_id]()
        else:
            sub.deadline = now + timeout
        return sub
    if tag in (abi.EVENTTYPE_FD_READ, abi.EVENTTYPE_FD_WRITE):
        (fd,) = mem.unpack(abi.SUBSCRIPTION_FD, body)
        right = abi.RIGHT_FD_READ if tag == abi.EVENTTYPE_FD_READ else abi.RIGHT_FD_WRITE
        try:
            sub.entry = ctx.fds.get(fd, 0, (StreamEntry, FileEntry))
            require(sub.entry, right | abi.RIGHT_POLL_FD_READWRITE)
        except WasiError as err:
            sub.error = err.errno
            return sub
        if isinstance(sub.entry, StreamEntry) and sub.entry.stream.fd is not None:
            sub.fd = sub.entry.stream.fd
        return sub
    raise WasiError(Errno.INVAL, f"subscription type {tag}")


def _ready_now(sub: _Sub, now: int) -> bool:
    """Whether ``sub`` is satisfied without waiting (and its ``nbytes`` if so)."""
    if sub.error:
        return True
    if sub.type == abi.EVENTTYPE_CLOCK:
        return sub.deadline <= now
    if sub.fd is not None:
        return False
    entry = sub.entry
    if sub.type == abi.EVENTTYPE_FD_READ:
        if isinstance(entry, FileEntry):
            try:
                st = os.fstat(entry.fd)
                sub.nbytes = max(0, st.st_size - os.lseek(entry.fd, 0, os.SEEK_CUR))
            except OSError:
                sub.nbytes = 0
        else:
            sub.nbytes = entry.stream.ready_bytes()
    return True


def poll_oneoff(ctx, subs_in: int, events_out: int, nsubscriptions: int, nevents: int) -> None:
    count = nsubscriptions & U32
    if count == 0:
        raise WasiError(Errno.INVAL, "poll_oneoff needs at least one subscription")
    mem = ctx.memory()
    subs_in &= U32
    events_out &= U32
    mem.check(subs_in, count * abi.SUBSCRIPTION_SIZE)
    mem.check(events_out, count * abi.EVENT_SIZE)
    subs = [_parse(ctx, mem, subs_in + i * abi.SUBSCRIPTION_SIZE) for i in range(count)]
    ready = [s for s in subs if _ready_now(s, time.monotonic_ns())]
    if not ready:
        ready = _wait(subs)
    del mem
    mem = ctx.memory()
    for i, sub in enumerate(ready):
        mem.pack(abi.EVENT, events_out + i * abi.EVENT_SIZE, sub.userdata, sub.error,
                 sub.type, sub.nbytes, 0)
    mem.set_u32(nevents & U32, len(ready))


def _wait(subs: list[_Sub]) -> list[_Sub]:
    deadlines = [s.deadline for s in subs if s.deadline is not None]
    readers = [s.fd for s in subs if s.fd is not None and s.type == abi.EVENTTYPE_FD_READ]
    writers = [s.fd for s in subs if s.fd is not None and s.type == abi.EVENTTYPE_FD_WRITE]
    while True:
        now = time.monotonic_ns()
        timeout = None if not deadlines else max(0, min(deadlines) - now) / 1e9
        if readers or writers:
            try:
                can_read, can_write, _ = select.select(readers, writers, [], timeout)
            except (OSError, ValueError):
                can_read, can_write = readers, writers
            fired = [s for s in subs if s.fd is not None and (
                s.fd in (can_read if s.type == abi.EVENTTYPE_FD_READ else can_write))]
            if fired:
                return fired
        elif timeout is not None:
            time.sleep(timeout)
        now = time.monotonic_ns()
        expired = [s for s in subs if s.deadline is not None and s.deadline <= now]
        if expired:
            return expired


CALLS = {"clock_res_get": clock_res_get, "clock_time_get": clock_time_get,
         "poll_oneoff": poll_oneoff}
