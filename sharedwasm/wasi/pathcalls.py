"""The ``path_*`` calls: opening, creating, removing, renaming and inspecting files by
path, relative to a directory descriptor and confined to it (``sandbox.resolve``)."""
from __future__ import annotations

import os
import stat
from typing import Callable

from . import abi
from .abi import U32, U64
from .errno import ESCAPE, Errno, WasiError
from .fdcalls import new_times, pack_filestat
from .fs import DirEntry, FileEntry
from .sandbox import Resolved, resolve
from .streams import filetype_of_mode

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

_OFLAGS = {abi.OFLAGS_CREAT: os.O_CREAT, abi.OFLAGS_DIRECTORY: _O_DIRECTORY,
           abi.OFLAGS_EXCL: os.O_EXCL, abi.OFLAGS_TRUNC: os.O_TRUNC}
_FDFLAGS = {abi.FDFLAGS_APPEND: os.O_APPEND,
            abi.FDFLAGS_DSYNC: getattr(os, "O_DSYNC", 0),
            abi.FDFLAGS_NONBLOCK: _O_NONBLOCK,
            abi.FDFLAGS_RSYNC: getattr(os, "O_RSYNC", getattr(os, "O_SYNC", 0)),
            abi.FDFLAGS_SYNC: getattr(os, "O_SYNC", 0)}

_READ_RIGHTS = abi.RIGHT_FD_READ | abi.RIGHT_FD_READDIR
_WRITE_RIGHTS = (abi.RIGHT_FD_WRITE | abi.RIGHT_FD_DATASYNC | abi.RIGHT_FD_ALLOCATE
                 | abi.RIGHT_FD_FILESTAT_SET_SIZE)


def _walk(ctx, fd: int, right: int, path: int, path_len: int, follow: bool) -> Resolved:
    """The directory entry of ``fd`` (holding ``right``) and ``path`` resolved in it."""
    entry = ctx.fds.get(fd, right, DirEntry)
    name = ctx.memory().string(path & U32, path_len & U32)
    return resolve(entry.fd, name, follow)


def _stat(r: Resolved) -> os.stat_result:
    st = os.stat(r.name, dir_fd=r.parent, follow_symlinks=False)
    if r.must_be_dir and not stat.S_ISDIR(st.st_mode):
        raise WasiError(Errno.NOTDIR, f"{r.name!r} is not a directory")
    return st


def path_open(ctx, fd: int, dirflags: int, path: int, path_len: int, oflags: int,
              rights_base: int, rights_inheriting: int, fdflags: int, opened: int) -> None:
    parent = ctx.fds.get(fd, abi.RIGHT_PATH_OPEN, DirEntry)
    oflags &= 0xFFFF
    fdflags &= 0xFFFF
    base = rights_base & U64
    inheriting = rights_inheriting & U64
    if oflags & ~abi.OFLAGS_ALL or fdflags & ~abi.FDFLAGS_ALL:
        raise WasiError(Errno.INVAL, "unknown oflags or fdflags")
    needed = (abi.RIGHT_PATH_CREATE_FILE if oflags & abi.OFLAGS_CREAT else 0) | \
        (abi.RIGHT_PATH_FILESTAT_SET_SIZE if oflags & abi.OFLAGS_TRUNC else 0)
    if needed & ~parent.rights_base or (base | inheriting) & ~parent.rights_inheriting:
        raise WasiError(Errno.NOTCAPABLE, "path_open asks for rights the directory lacks")
    if fdflags & (abi.FDFLAGS_RSYNC | abi.FDFLAGS_SYNC) and not base & abi.RIGHT_FD_SYNC or \
            fdflags & abi.FDFLAGS_DSYNC and not base & (abi.RIGHT_FD_SYNC | abi.RIGHT_FD_DATASYNC):
        raise WasiError(Errno.NOTCAPABLE, "synchronised I/O needs the fd_sync rights")
    read = bool(base & _READ_RIGHTS)
    write = bool(base & _WRITE_RIGHTS) and not oflags & abi.OFLAGS_DIRECTORY
    flags = (os.O_RDWR if read and write else os.O_WRONLY if write else os.O_RDONLY)
    flags |= _O_NOFOLLOW | _CLOEXEC
    for bit, host in _OFLAGS.items():
        if oflags & bit:
            flags |= host
    for bit, host in _FDFLAGS.items():
        if fdflags & bit:
            flags |= host
    with _walk(ctx, fd, abi.RIGHT_PATH_OPEN, path, path_len,
               bool(dirflags & abi.LOOKUP_SYMLINK_FOLLOW)) as r:
        if r.must_be_dir:
            if oflags & abi.OFLAGS_CREAT:
                raise WasiError(Errno.ISDIR, "cannot create a file named with a trailing /")
            flags |= _O_DIRECTORY
        host_fd = os.open(r.name, flags, 0o666, dir_fd=r.parent)
    try:
        mode = os.fstat(host_fd).st_mode
        if stat.S_ISDIR(mode):
            entry = DirEntry(host_fd, base & abi.RIGHTS_DIR, inheriting, fdflags=fdflags)
        else:
            entry = FileEntry(host_fd, filetype_of_mode(mode), base & abi.RIGHTS_FILE,
                              inheriting, fdflags)
        new_fd = ctx.fds.add(entry)
    except BaseException:
        os.close(host_fd)
        raise
    try:
        ctx.memory().set_u32(opened & U32, new_fd)
    except WasiError:
        ctx.fds.close(new_fd)
        raise


def path_create_directory(ctx, fd: int, path: int, path_len: int) -> None:
    with _walk(ctx, fd, abi.RIGHT_PATH_CREATE_DIRECTORY, path, path_len, False) as r:
        os.mkdir(r.name, 0o777, dir_fd=r.parent)


def path_remove_directory(ctx, fd: int, path: int, path_len: int) -> None:
    with _walk(ctx, fd, abi.RIGHT_PATH_REMOVE_DIRECTORY, path, path_len, False) as r:
        os.rmdir(r.name, dir_fd=r.parent)


def path_unlink_file(ctx, fd: int, path: int, path_len: int) -> None:
    with _walk(ctx, fd, abi.RIGHT_PATH_UNLINK_FILE, path, path_len, False) as r:
        if r.must_be_dir:
            st = _stat(r)
            if stat.S_ISDIR(st.st_mode):
                raise WasiError(Errno.ISDIR, f"{r.name!r} is a directory")
        os.unlink(r.name, dir_fd=r.parent)


def path_filestat_get(ctx, fd: int, flags: int, path: int, path_len: int, buf: int) -> None:
    with _walk(ctx, fd, abi.RIGHT_PATH_FILESTAT_GET, path, path_len,
               bool(flags & abi.LOOKUP_SYMLINK_FOLLOW)) as r:
        st = _stat(r)
    pack_filestat(ctx.memory(), buf & U32, st)


def path_filestat_set_times(ctx, fd: int, flags: int, path: int, path_len: int, atim: int,
                            mtim: int, fst_flags: int) -> None:
    with _walk(ctx, fd, abi.RIGHT_PATH_FILESTAT_SET_TIMES, path, path_len,
               bool(flags & abi.LOOKUP_SYMLINK_FOLLOW)) as r:
        times = new_times(lambda: _stat(r), atim, mtim, fst_flags)
        if times is not None:
            _stat(r)
            os.utime(r.name, ns=times, dir_fd=r.parent, follow_symlinks=False)


def path_readlink(ctx, fd: int, path: int, path_len: int, buf: int, buf_len: int,
                  bufused: int) -> None:
    with _walk(ctx, fd, abi.RIGHT_PATH_READLINK, path, path_len, False) as r:
        target = os.fsencode(os.readlink(r.name, dir_fd=r.parent))
    mem = ctx.memory()
    data = target[:buf_len & U32]
    mem.write(buf & U32, data)
    mem.set_u32(bufused & U32, len(data))


def path_symlink(ctx, old_path: int, old_path_len: int, fd: int, new_path: int,
                 new_path_len: int) -> None:
    target = ctx.memory().string(old_path & U32, old_path_len & U32)
    if target.startswith("/"):
        raise WasiError(ESCAPE, "a link to an absolute path")
    if "\0" in target:
        raise WasiError(Errno.INVAL, "a NUL byte in the link")
    with _walk(ctx, fd, abi.RIGHT_PATH_SYMLINK, new_path, new_path_len, False) as r:
        if r.must_be_dir:
            raise WasiError(Errno.NOENT, "a link name with a trailing /")
        os.symlink(target, r.name, dir_fd=r.parent)


def path_link(ctx, old_fd: int, old_flags: int, old_path: int, old_path_len: int,
              new_fd: int, new_path: int, new_path_len: int) -> None:
    with _walk(ctx, old_fd, abi.RIGHT_PATH_LINK_SOURCE, old_path, old_path_len,
               bool(old_flags & abi.LOOKUP_SYMLINK_FOLLOW)) as src, \
            _walk(ctx, new_fd, abi.RIGHT_PATH_LINK_TARGET, new_path, new_path_len,
                  False) as dst:
        if src.must_be_dir or dst.must_be_dir:
            _stat(src)
            raise WasiError(Errno.NOENT if dst.must_be_dir else Errno.PERM,
                            "hard links to directories are not possible")
        os.link(src.name, dst.name, src_dir_fd=src.parent, dst_dir_fd=dst.parent,
                follow_symlinks=False)


def path_rename(ctx, fd: int, old_path: int, old_path_len: int, new_fd: int, new_path: int,
                new_path_len: int) -> None:
    with _walk(ctx, fd, abi.RIGHT_PATH_RENAME_SOURCE, old_path, old_path_len, False) as src, \
            _walk(ctx, new_fd, abi.RIGHT_PATH_RENAME_TARGET, new_path, new_path_len,
                  False) as dst:
        if src.must_be_dir:
            _stat(src)
        if dst.must_be_dir and not stat.S_ISDIR(_stat(src).st_mode):
            raise WasiError(Errno.NOTDIR, "renaming a file to a name with a trailing /")
        os.rename(src.name, dst.name, src_dir_fd=src.parent, dst_dir_fd=dst.parent)


CALLS: dict[str, Callable[..., None]] = {
    name: fn for name, fn in globals().items()
    if name.startswith("path_") and callable(fn)}
