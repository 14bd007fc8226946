"""The ``fd_*`` calls: reading, writing, seeking, metadata and directory listing of open
descriptors.

Each call takes the ``WASI`` object (``ctx``: descriptor table ``ctx.fds``, guest memory
``ctx.memory()``) and the wasm arguments as the API delivers them (i32/i64 as signed
ints), and returns nothing: a failure raises ``WasiError`` (or ``OSError``, mapped by the
caller); result values are stored through the guest pointers.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

from . import abi
from .abi import U32, U64
from .errno import Errno, WasiError
from .fs import DirEntry, FileEntry, StreamEntry, require
from .streams import filetype_of_mode, not_a_stream

_IO = (StreamEntry, FileEntry)
_WHENCE = {abi.WHENCE_SET: os.SEEK_SET, abi.WHENCE_CUR: os.SEEK_CUR,
           abi.WHENCE_END: os.SEEK_END}


def _seekable(ctx, fd: int, rights: int) -> FileEntry:
    """The file entry of ``fd`` for a call that needs a position (``ESPIPE`` on streams)."""
    entry = ctx.fds.get(fd, 0, _IO)
    if isinstance(entry, StreamEntry):
        raise not_a_stream()
    require(entry, rights)
    return entry


def fd_read(ctx, fd: int, iovs: int, iovs_len: int, nread: int) -> None:
    entry = ctx.fds.get(fd, abi.RIGHT_FD_READ, _IO)
    mem = ctx.memory()
    buffers = mem.iovecs(iovs & U32, iovs_len & U32)
    if isinstance(entry, StreamEntry):
        count = entry.stream.readinto(buffers)
    else:
        count = os.readv(entry.fd, buffers) if any(buffers) else 0
    mem.set_u32(nread & U32, count)


def fd_write(ctx, fd: int, iovs: int, iovs_len: int, nwritten: int) -> None:
    entry = ctx.fds.get(fd, abi.RIGHT_FD_WRITE, _IO)
    mem = ctx.memory()
    buffers = mem.iovecs(iovs & U32, iovs_len & U32)
    if isinstance(entry, StreamEntry):
        count = entry.stream.write(buffers)
    else:
        count = os.writev(entry.fd, buffers) if any(buffers) else 0
    mem.set_u32(nwritten & U32, count)


def fd_pread(ctx, fd: int, iovs: int, iovs_len: int, offset: int, nread: int) -> None:
    entry = _seekable(ctx, fd, abi.RIGHT_FD_READ | abi.RIGHT_FD_SEEK)
    mem = ctx.memory()
    buffers = mem.iovecs(iovs & U32, iovs_len & U32)
    count = os.preadv(entry.fd, buffers, offset & U64) if any(buffers) else 0
    mem.set_u32(nread & U32, count)


def fd_pwrite(ctx, fd: int, iovs: int, iovs_len: int, offset: int, nwritten: int) -> None:
    entry = _seekable(ctx, fd, abi.RIGHT_FD_WRITE | abi.RIGHT_FD_SEEK)
    mem = ctx.memory()
    buffers = mem.iovecs(iovs & U32, iovs_len & U32)
    count = os.pwritev(entry.fd, buffers, offset & U64) if any(buffers) else 0
    mem.set_u32(nwritten & U32, count)


def fd_seek(ctx, fd: int, offset: int, whence: int, newoffset: int) -> None:
    whence &= 0xFF
    tell_only = whence == abi.WHENCE_CUR and offset == 0
    entry = _seekable(ctx, fd, abi.RIGHT_FD_TELL if tell_only else abi.RIGHT_FD_SEEK)
    if whence not in _WHENCE:
        raise WasiError(Errno.INVAL, f"whence {whence}")
    position = os.lseek(entry.fd, offset, _WHENCE[whence])
    ctx.memory().set_u64(newoffset & U32, position)


def fd_tell(ctx, fd: int, offset: int) -> None:
    entry = _seekable(ctx, fd, abi.RIGHT_FD_TELL)
    ctx.memory().set_u64(offset & U32, os.lseek(entry.fd, 0, os.SEEK_CUR))


def fd_close(ctx, fd: int) -> None:
    ctx.fds.close(fd)


def fd_renumber(ctx, fd: int, to: int) -> None:
    ctx.fds.renumber(fd, to)


def _sync(ctx, fd: int, right: int, host: Callable[[int], None]) -> None:
    entry = ctx.fds.get(fd, right)
    if isinstance(entry, StreamEntry):
        entry.stream.flush()
        return
    host(entry.host_fd())


def fd_sync(ctx, fd: int) -> None:
    _sync(ctx, fd, abi.RIGHT_FD_SYNC, os.fsync)


def fd_datasync(ctx, fd: int) -> None:
    _sync(ctx, fd, abi.RIGHT_FD_DATASYNC, getattr(os, "fdatasync", os.fsync))


def fd_fdstat_get(ctx, fd: int, buf: int) -> None:
    entry = ctx.fds.get(fd)
    ctx.memory().pack(abi.FDSTAT, buf & U32, entry.filetype, entry.fdflags,
                      entry.rights_base, entry.rights_inheriting)


#: fdflags that can change on an open host descriptor, and their host flags
_SETTABLE = {abi.FDFLAGS_APPEND: os.O_APPEND, abi.FDFLAGS_NONBLOCK: getattr(os, "O_NONBLOCK", 0)}


def fd_fdstat_set_flags(ctx, fd: int, flags: int) -> None:
    entry = ctx.fds.get(fd, abi.RIGHT_FD_FDSTAT_SET_FLAGS)
    flags &= 0xFFFF
    if flags & ~abi.FDFLAGS_ALL:
        raise WasiError(Errno.INVAL, f"fdflags {flags:#x}")
    changed = flags ^ entry.fdflags
    if not changed:
        return
    if changed & ~(abi.FDFLAGS_APPEND | abi.FDFLAGS_NONBLOCK) or not isinstance(entry, FileEntry):
        raise WasiError(Errno.NOTSUP, "these fdflags cannot change on an open descriptor")
    import fcntl
    host = fcntl.fcntl(entry.fd, fcntl.F_GETFL)
    for bit, host_bit in _SETTABLE.items():
        host = host | host_bit if flags & bit else host & ~host_bit
    fcntl.fcntl(entry.fd, fcntl.F_SETFL, host)
    entry.fdflags = flags


def fd_fdstat_set_rights(ctx, fd: int, base: int, inheriting: int) -> None:
    entry = ctx.fds.get(fd)
    base &= U64
    inheriting &= U64
    if base & ~entry.rights_base or inheriting & ~entry.rights_inheriting:
        raise WasiError(Errno.NOTCAPABLE, "rights can only be dropped")
    entry.rights_base = base
    entry.rights_inheriting = inheriting


def pack_filestat(mem, addr: int, st: os.stat_result) -> None:
    mem.pack(abi.FILESTAT, addr, st.st_dev & U64, st.st_ino & U64,
             filetype_of_mode(st.st_mode), st.st_nlink, max(st.st_size, 0),
             st.st_atime_ns & U64, st.st_mtime_ns & U64, st.st_ctime_ns & U64)


def fd_filestat_get(ctx, fd: int, buf: int) -> None:
    entry = ctx.fds.get(fd, abi.RIGHT_FD_FILESTAT_GET)
    host = entry.host_fd()
    mem = ctx.memory()
    if host is None:
        mem.pack(abi.FILESTAT, buf & U32, 0, 0, entry.filetype, 1, 0, 0, 0, 0)
        return
    pack_filestat(mem, buf & U32, os.fstat(host))


def fd_filestat_set_size(ctx, fd: int, size: int) -> None:
    entry = ctx.fds.get(fd, abi.RIGHT_FD_FILESTAT_SET_SIZE, _IO)
    if isinstance(entry, StreamEntry):
        raise WasiError(Errno.INVAL, "a stream has no size")
    os.ftruncate(entry.fd, size & U64)


def new_times(current: Callable[[], os.stat_result], atim: int, mtim: int,
              flags: int) -> tuple[int, int] | None:
    """The (atime, mtime) in ns that ``fstflags`` ask for, or None when neither changes."""
    flags &= 0xFFFF
    if (flags & ~15 or (flags & abi.FSTFLAGS_ATIM and flags & abi.FSTFLAGS_ATIM_NOW)
            or (flags & abi.FSTFLAGS_MTIM and flags & abi.FSTFLAGS_MTIM_NOW)):
        raise WasiError(Errno.INVAL, f"fstflags {flags:#x}")
    if not flags:
        return None
    now = time.time_ns()
    st = None
    if not flags & (abi.FSTFLAGS_ATIM | abi.FSTFLAGS_ATIM_NOW) or \
            not flags & (abi.FSTFLAGS_MTIM | abi.FSTFLAGS_MTIM_NOW):
        st = current()

    def pick(set_bit: int, now_bit: int, value: int, old: Any) -> int:
        if flags & set_bit:
            return value & U64
        if flags & now_bit:
            return now
        return old

    return (pick(abi.FSTFLAGS_ATIM, abi.FSTFLAGS_ATIM_NOW, atim, st and st.st_atime_ns),
            pick(abi.FSTFLAGS_MTIM, abi.FSTFLAGS_MTIM_NOW, mtim, st and st.st_mtime_ns))


def fd_filestat_set_times(ctx, fd: int, atim: int, mtim: int, flags: int) -> None:
    entry = ctx.fds.get(fd, abi.RIGHT_FD_FILESTAT_SET_TIMES)
    host = entry.host_fd()
    if host is None:
        raise WasiError(Errno.BADF, "no host file behind this descriptor")
    times = new_times(lambda: os.fstat(host), atim, mtim, flags)
    if times is not None:
        os.utime(host, ns=times)


_ADVICE = [getattr(os, name, None) for name in (
    "POSIX_FADV_NORMAL", "POSIX_FADV_SEQUENTIAL", "POSIX_FADV_RANDOM", "POSIX_FADV_WILLNEED",
    "POSIX_FADV_DONTNEED", "POSIX_FADV_NOREUSE")]


def fd_advise(ctx, fd: int, offset: int, length: int, advice: int) -> None:
    entry = ctx.fds.get(fd, abi.RIGHT_FD_ADVISE, _IO)
    advice &= 0xFF
    if advice > abi.ADVICE_MAX:
        raise WasiError(Errno.INVAL, f"advice {advice}")
    if isinstance(entry, StreamEntry):
        raise not_a_stream()
    host_advice = _ADVICE[advice]
    if host_advice is not None and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(entry.fd, offset & U64, length & U64, host_advice)


def fd_allocate(ctx, fd: int, offset: int, length: int) -> None:
    entry = ctx.fds.get(fd, abi.RIGHT_FD_ALLOCATE, _IO)
    if isinstance(entry, StreamEntry):
        raise not_a_stream()
    offset &= U64
    length &= U64
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(entry.fd, offset, length)
    elif os.fstat(entry.fd).st_size < offset + length:
        os.ftruncate(entry.fd, offset + length)


# -- preopens ----------------------------------------------------------------------------------

def _preopen(ctx, fd: int) -> DirEntry:
    entry = ctx.fds.get(fd)
    if not isinstance(entry, DirEntry) or entry.name is None:
        raise WasiError(Errno.BADF, f"descriptor {fd} is not a preopened directory")
    return entry


def fd_prestat_get(ctx, fd: int, buf: int) -> None:
    entry = _preopen(ctx, fd)
    ctx.memory().pack(abi.PRESTAT, buf & U32, abi.PREOPENTYPE_DIR,
                      len(entry.name.encode("utf-8")))


def fd_prestat_dir_name(ctx, fd: int, path: int, path_len: int) -> None:
    name = _preopen(ctx, fd).name.encode("utf-8")
    if (path_len & U32) < len(name):
        raise WasiError(Errno.NAMETOOLONG, "the buffer is shorter than the name")
    ctx.memory().write(path & U32, name)


# -- directories -------------------------------------------------------------------------------

def _listing(dirfd: int) -> list[tuple[bytes, int, int]]:
    """``(name, inode, filetype)`` of every entry, ``.`` and ``..`` first."""
    def entry(name: str) -> tuple[bytes, int, int]:
        try:
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            return os.fsencode(name), st.st_ino & U64, filetype_of_mode(st.st_mode)
        except OSError:
            return os.fsencode(name), 0, abi.FILETYPE_UNKNOWN
    names = os.listdir(dirfd)
    return [entry("."), entry("..")] + [entry(name) for name in names]


def fd_readdir(ctx, fd: int, buf: int, buf_len: int, cookie: int, bufused: int) -> None:
    entry = ctx.fds.get(fd, abi.RIGHT_FD_READDIR, DirEntry)
    cookie &= U64
    buf &= U32
    buf_len &= U32
    mem = ctx.memory()
    mem.check(buf, buf_len)
    if cookie == 0 or entry.listing is None:
        entry.listing = _listing(entry.fd)
    listing = entry.listing
    out = bytearray()
    index = cookie
    while index < len(listing) and len(out) < buf_len:
        name, ino, filetype = listing[index]
        out += abi.DIRENT.pack(index + 1, ino, len(name), filetype)
        out += name
        index += 1
    del out[buf_len:]
    mem.write(buf, out)
    mem.set_u32(bufused & U32, len(out))


CALLS: dict[str, Callable[..., None]] = {
    name: fn for name, fn in globals().items()
    if name.startswith("fd_") and callable(fn)}
