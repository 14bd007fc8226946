"""The descriptor table: what each guest file descriptor stands for.

Three kinds of entry: a ``StreamEntry`` (stdin/stdout/stderr: a host fd or file object,
no seeking), a ``FileEntry`` (a host file opened by ``path_open``) and a ``DirEntry`` (a host
directory descriptor: a preopen, which has a guest ``name``, or one opened by
``path_open``). Every entry carries the witx rights (base and inheriting) and its fdflags;
``FdTable.get`` checks both the kind and the rights, failing with ``EBADF`` and
``ENOTCAPABLE``.
"""
from __future__ import annotations

import os
from typing import Any

from . import abi
from .errno import Errno, WasiError
from .streams import Stream

#: the guest sees at most this many descriptors at once
MAX_FDS = 1 << 16


class Entry:
    """A guest descriptor; subclasses say what it refers to."""

    filetype = abi.FILETYPE_UNKNOWN

    def __init__(self, rights_base: int, rights_inheriting: int, fdflags: int = 0):
        self.rights_base = rights_base
        self.rights_inheriting = rights_inheriting
        self.fdflags = fdflags

    def host_fd(self) -> int | None:
        return None

    def close(self) -> None:
        """Release the host resource."""


class StreamEntry(Entry):
    def __init__(self, stream: Stream):
        super().__init__(stream.rights(), 0)
        self.stream = stream
        self.filetype = stream.filetype()

    def host_fd(self) -> int | None:
        return self.stream.host_fd()


class FileEntry(Entry):
    """A host file descriptor the table owns (a regular file, device, fifo, ...)."""

    def __init__(self, fd: int, filetype: int, rights_base: int, rights_inheriting: int,
                 fdflags: int = 0):
        super().__init__(rights_base, rights_inheriting, fdflags)
        self.fd = fd
        self.filetype = filetype

    def host_fd(self) -> int:
        return self.fd

    def close(self) -> None:
        os.close(self.fd)


class DirEntry(Entry):
    """A host directory descriptor; ``name`` is the guest path of a preopen (None for
    directories opened by the guest). ``listing`` caches the entries ``fd_readdir`` pages
    through (refreshed when a read starts again at cookie 0)."""

    filetype = abi.FILETYPE_DIRECTORY

    def __init__(self, fd: int, rights_base: int, rights_inheriting: int,
                 name: str | None = None, fdflags: int = 0):
        super().__init__(rights_base, rights_inheriting, fdflags)
        self.fd = fd
        self.name = name
        self.listing: list[tuple[bytes, int, int]] | None = None

    def host_fd(self) -> int:
        return self.fd

    def close(self) -> None:
        os.close(self.fd)


def require(entry: Entry, rights: int) -> None:
    """``ENOTCAPABLE`` unless ``entry`` holds every one of ``rights``."""
    if rights & ~entry.rights_base:
        raise WasiError(Errno.NOTCAPABLE, "the descriptor lacks the rights for this")


class FdTable:
    """Guest descriptor number -> Entry; new descriptors take the lowest free number."""

    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}

    def add(self, entry: Entry) -> int:
        fd = 0
        while fd in self.entries:
            fd += 1
        if fd >= MAX_FDS:
            raise WasiError(Errno.MFILE, "too many open descriptors")
        self.entries[fd] = entry
        return fd

    def get(self, fd: int, rights: int = 0, kind: type | tuple[type, ...] = Entry) -> Any:
        """The entry of ``fd`` if it is of ``kind`` and holds ``rights``."""
        entry = self.entries.get(fd & abi.U32)
        if entry is None:
            raise WasiError(Errno.BADF, f"descriptor {fd & abi.U32} is not open")
        if not isinstance(entry, kind):
            if kind is DirEntry:
                raise WasiError(Errno.NOTDIR, f"descriptor {fd} is not a directory")
            raise WasiError(Errno.BADF, f"descriptor {fd} does not support this")
        require(entry, rights)
        return entry

    def close(self, fd: int) -> None:
        entry = self.entries.pop(fd & abi.U32, None)
        if entry is None:
            raise WasiError(Errno.BADF, f"descriptor {fd & abi.U32} is not open")
        entry.close()

    def renumber(self, src: int, dst: int) -> None:
        src &= abi.U32
        dst &= abi.U32
        if src not in self.entries or dst not in self.entries:
            raise WasiError(Errno.BADF, "fd_renumber needs two open descriptors")
        if src == dst:
            return
        self.entries[dst].close()
        self.entries[dst] = self.entries.pop(src)

    def close_all(self) -> None:
        for fd in list(self.entries):
            entry = self.entries.pop(fd)
            try:
                entry.close()
            except OSError:
                pass
