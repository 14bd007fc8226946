"""The preview1 ABI: flag and enum values, struct layouts and guest-memory access.

Layouts are the witx ones (little endian, natural alignment): ``iovec`` 8 bytes,
``fdstat`` 24, ``filestat`` 64, ``dirent`` 24 (+ name), ``prestat`` 8, ``subscription``
48, ``event`` 32. ``GuestMemory`` wraps the exported memory's current view: every access is
bounds-checked and an address outside memory fails with ``EFAULT``.
"""
from __future__ import annotations

import struct
from typing import Any

from .errno import Errno, WasiError

U32 = 0xFFFF_FFFF
U64 = 0xFFFF_FFFF_FFFF_FFFF

# -- filetype (u8) ---------------------------------------------------------------------------
FILETYPE_UNKNOWN = 0
FILETYPE_BLOCK_DEVICE = 1
FILETYPE_CHARACTER_DEVICE = 2
FILETYPE_DIRECTORY = 3
FILETYPE_REGULAR_FILE = 4
FILETYPE_SOCKET_DGRAM = 5
FILETYPE_SOCKET_STREAM = 6
FILETYPE_SYMBOLIC_LINK = 7

# -- fdflags (u16) ---------------------------------------------------------------------------
FDFLAGS_APPEND = 1
FDFLAGS_DSYNC = 2
FDFLAGS_NONBLOCK = 4
FDFLAGS_RSYNC = 8
FDFLAGS_SYNC = 16
FDFLAGS_ALL = 31

# -- oflags (u16), lookupflags (u32), fstflags (u16) -----------------------------------------
OFLAGS_CREAT = 1
OFLAGS_DIRECTORY = 2
OFLAGS_EXCL = 4
OFLAGS_TRUNC = 8
OFLAGS_ALL = 15
LOOKUP_SYMLINK_FOLLOW = 1
FSTFLAGS_ATIM = 1
FSTFLAGS_ATIM_NOW = 2
FSTFLAGS_MTIM = 4
FSTFLAGS_MTIM_NOW = 8

# -- whence (u8), advice (u8), preopentype (u8) ----------------------------------------------
WHENCE_SET, WHENCE_CUR, WHENCE_END = 0, 1, 2
ADVICE_MAX = 5          # normal, sequential, random, willneed, dontneed, noreuse
PREOPENTYPE_DIR = 0

# -- clocks, events (u8), subclockflags / eventrwflags (u16), riflags, roflags, sdflags -----
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME, CLOCK_THREAD_CPUTIME = 0, 1, 2, 3
EVENTTYPE_CLOCK, EVENTTYPE_FD_READ, EVENTTYPE_FD_WRITE = 0, 1, 2
SUBCLOCK_ABSTIME = 1
EVENTRW_HANGUP = 1
RIFLAGS_RECV_PEEK, RIFLAGS_RECV_WAITALL = 1, 2
SDFLAGS_RD, SDFLAGS_WR = 1, 2

# -- rights (u64) ----------------------------------------------------------------------------
RIGHT_FD_DATASYNC = 1 << 0
RIGHT_FD_READ = 1 << 1
RIGHT_FD_SEEK = 1 << 2
RIGHT_FD_FDSTAT_SET_FLAGS = 1 << 3
RIGHT_FD_SYNC = 1 << 4
RIGHT_FD_TELL = 1 << 5
RIGHT_FD_WRITE = 1 << 6
RIGHT_FD_ADVISE = 1 << 7
RIGHT_FD_ALLOCATE = 1 << 8
RIGHT_PATH_CREATE_DIRECTORY = 1 << 9
RIGHT_PATH_CREATE_FILE = 1 << 10
RIGHT_PATH_LINK_SOURCE = 1 << 11
RIGHT_PATH_LINK_TARGET = 1 << 12
RIGHT_PATH_OPEN = 1 << 13
RIGHT_FD_READDIR = 1 << 14
RIGHT_PATH_READLINK = 1 << 15
RIGHT_PATH_RENAME_SOURCE = 1 << 16
RIGHT_PATH_RENAME_TARGET = 1 << 17
RIGHT_PATH_FILESTAT_GET = 1 << 18
RIGHT_PATH_FILESTAT_SET_SIZE = 1 << 19
RIGHT_PATH_FILESTAT_SET_TIMES = 1 << 20
RIGHT_FD_FILESTAT_GET = 1 << 21
RIGHT_FD_FILESTAT_SET_SIZE = 1 << 22
RIGHT_FD_FILESTAT_SET_TIMES = 1 << 23
RIGHT_PATH_SYMLINK = 1 << 24
RIGHT_PATH_REMOVE_DIRECTORY = 1 << 25
RIGHT_PATH_UNLINK_FILE = 1 << 26
RIGHT_POLL_FD_READWRITE = 1 << 27
RIGHT_SOCK_SHUTDOWN = 1 << 28
RIGHT_SOCK_ACCEPT = 1 << 29

#: what a regular file descriptor may do
RIGHTS_FILE = (RIGHT_FD_DATASYNC | RIGHT_FD_READ | RIGHT_FD_SEEK | RIGHT_FD_FDSTAT_SET_FLAGS
               | RIGHT_FD_SYNC | RIGHT_FD_TELL | RIGHT_FD_WRITE | RIGHT_FD_ADVISE
               | RIGHT_FD_ALLOCATE | RIGHT_FD_FILESTAT_GET | RIGHT_FD_FILESTAT_SET_SIZE
               | RIGHT_FD_FILESTAT_SET_TIMES | RIGHT_POLL_FD_READWRITE)
#: what a directory descriptor may do
RIGHTS_DIR = (RIGHT_FD_DATASYNC | RIGHT_FD_FDSTAT_SET_FLAGS | RIGHT_FD_SYNC
              | RIGHT_PATH_CREATE_DIRECTORY | RIGHT_PATH_CREATE_FILE | RIGHT_PATH_LINK_SOURCE
              | RIGHT_PATH_LINK_TARGET | RIGHT_PATH_OPEN | RIGHT_FD_READDIR
              | RIGHT_PATH_READLINK | RIGHT_PATH_RENAME_SOURCE | RIGHT_PATH_RENAME_TARGET
              | RIGHT_PATH_FILESTAT_GET | RIGHT_PATH_FILESTAT_SET_SIZE
              | RIGHT_PATH_FILESTAT_SET_TIMES | RIGHT_FD_FILESTAT_GET
              | RIGHT_FD_FILESTAT_SET_TIMES | RIGHT_PATH_SYMLINK
              | RIGHT_PATH_REMOVE_DIRECTORY | RIGHT_PATH_UNLINK_FILE
              | RIGHT_POLL_FD_READWRITE)
#: what a stream (stdin/stdout/stderr, a pipe, a terminal) may do: no seeking
RIGHTS_STREAM = (RIGHT_FD_READ | RIGHT_FD_WRITE | RIGHT_FD_FDSTAT_SET_FLAGS | RIGHT_FD_SYNC
                 | RIGHT_FD_DATASYNC | RIGHT_FD_FILESTAT_GET | RIGHT_POLL_FD_READWRITE)
RIGHTS_ALL = (1 << 30) - 1

# -- struct layouts --------------------------------------------------------------------------
IOVEC = struct.Struct("<II")                     # buf, buf_len
FDSTAT = struct.Struct("<BxHxxxxQQ")             # filetype, flags, rights_base, inheriting
FILESTAT = struct.Struct("<QQBxxxxxxxQQQQQ")     # dev, ino, filetype, nlink, size, a/m/ctim
DIRENT = struct.Struct("<QQIBxxx")               # d_next, d_ino, d_namlen, d_type
PRESTAT = struct.Struct("<BxxxI")                # tag, u.dir.pr_name_len
SUBSCRIPTION_HEAD = struct.Struct("<QB")         # userdata, u.tag (payload at +16)
SUBSCRIPTION_CLOCK = struct.Struct("<IxxxxQQH")  # id, timeout, precision, flags (at +16)
SUBSCRIPTION_FD = struct.Struct("<I")            # file_descriptor (at +16)
EVENT = struct.Struct("<QHBxxxxxQHxxxxxx")       # userdata, error, type, nbytes, flags
SUBSCRIPTION_SIZE = 48
EVENT_SIZE = 32

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

assert (IOVEC.size, FDSTAT.size, FILESTAT.size, DIRENT.size, PRESTAT.size, EVENT.size) == \
    (8, 24, 64, 24, 8, 32)


class GuestMemory:
    """Bounds-checked access to a guest memory view (taken fresh for each call, since the
    memory may grow between calls)."""

    __slots__ = ("view", "size")

    def __init__(self, view: memoryview):
        self.view = view
        self.size = len(view)

    def check(self, addr: int, length: int) -> None:
        if addr < 0 or length < 0 or addr + length > self.size:
            raise WasiError(Errno.FAULT, f"{length} bytes at {addr:#x} are outside memory")

    def read(self, addr: int, length: int) -> bytes:
        self.check(addr, length)
        return bytes(self.view[addr:addr + length])

    def slice(self, addr: int, length: int) -> memoryview:
        """A writable window of guest memory (for reading straight into it)."""
        self.check(addr, length)
        return self.view[addr:addr + length]

    def write(self, addr: int, data: Any) -> None:
        self.check(addr, len(data))
        self.view[addr:addr + len(data)] = data

    def u32(self, addr: int) -> int:
        self.check(addr, 4)
        return _U32.unpack_from(self.view, addr)[0]

    def set_u32(self, addr: int, value: int) -> None:
        self.check(addr, 4)
        _U32.pack_into(self.view, addr, value & U32)

    def set_u64(self, addr: int, value: int) -> None:
        self.check(addr, 8)
        _U64.pack_into(self.view, addr, value & U64)

    def unpack(self, layout: struct.Struct, addr: int) -> tuple:
        self.check(addr, layout.size)
        return layout.unpack_from(self.view, addr)

    def pack(self, layout: struct.Struct, addr: int, *values: Any) -> None:
        self.check(addr, layout.size)
        layout.pack_into(self.view, addr, *values)

    def iovecs(self, addr: int, count: int) -> list[memoryview]:
        """The buffers an ``iovec``/``ciovec`` array names, as windows of guest memory."""
        self.check(addr, count * IOVEC.size)
        out = []
        for i in range(count):
            buf, length = IOVEC.unpack_from(self.view, addr + i * IOVEC.size)
            out.append(self.slice(buf, length))
        return out

    def string(self, addr: int, length: int) -> str:
        """A UTF-8 string argument (a path); ``EILSEQ`` when it is not valid UTF-8."""
        data = self.read(addr, length)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise WasiError(Errno.ILSEQ, "a path that is not UTF-8") from None
