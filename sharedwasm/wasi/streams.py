"""Host streams behind descriptors 0-2: an OS file descriptor or a Python file object.

``WASI(stdin=..., stdout=..., stderr=...)`` accepts an ``int`` (an OS descriptor, used with
``os.read``/``os.write``, so output is unbuffered and ordered as the guest wrote it) or a file
object: binary (``.write(bytes)``, ``.read1``/``.read``), or text (its ``.buffer`` is used
when it has one; otherwise bytes are decoded as UTF-8 incrementally). Writes to file objects
are flushed after each call so stdout and stderr interleave as the guest wrote them.
"""
from __future__ import annotations

import codecs
import os
import stat
from typing import Any

from . import abi
from .errno import Errno, WasiError


def _fileno(obj: Any) -> int | None:
    try:
        return obj.fileno()
    except (AttributeError, OSError, ValueError):
        return None


class Stream:
    """One end of a byte stream; ``readable``/``writable`` say which way it goes."""

    def __init__(self, target: Any, readable: bool, writable: bool):
        self.readable = readable
        self.writable = writable
        self.fd: int | None = target if isinstance(target, int) else None
        self.obj: Any = None if isinstance(target, int) else target
        self.text_out: Any = None
        self.decoder: Any = None
        if self.obj is not None:
            binary = getattr(self.obj, "buffer", None)
            if binary is not None:
                self.text_out = self.obj
                self.obj = binary
            elif _is_text(self.obj):
                self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    # -- metadata --------------------------------------------------------------------------
    def host_fd(self) -> int | None:
        return self.fd if self.fd is not None else _fileno(self.obj)

    def filetype(self) -> int:
        """The type of the host end (``fstat``); ``unknown`` for in-memory objects and pipes,
        ``character_device`` for terminals (so the guest's ``isatty`` works)."""
        fd = self.host_fd()
        if fd is None:
            return abi.FILETYPE_UNKNOWN
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            return abi.FILETYPE_UNKNOWN
        return filetype_of_mode(mode)

    def rights(self) -> int:
        rights = abi.RIGHTS_STREAM
        if not self.readable:
            rights &= ~abi.RIGHT_FD_READ
        if not self.writable:
            rights &= ~abi.RIGHT_FD_WRITE
        return rights

    # -- transfer --------------------------------------------------------------------------
    def readinto(self, buffers: list[memoryview]) -> int:
        """Fill ``buffers`` in order with what one read gives; 0 at end of input."""
        total = sum(len(b) for b in buffers)
        if total == 0:
            return 0
        if self.fd is not None:
            return os.readv(self.fd, buffers)
        reader = getattr(self.obj, "read1", None) or self.obj.read
        data = reader(total)
        if isinstance(data, str):
            data = data.encode("utf-8")
        data = data or b""
        done = 0
        for buf in buffers:
            if done >= len(data):
                break
            chunk = data[done:done + len(buf)]
            buf[:len(chunk)] = chunk
            done += len(chunk)
        return done

    def write(self, buffers: list[memoryview]) -> int:
        if self.fd is not None:
            return _write_all(self.fd, buffers)
        data = b"".join(buffers)
        if self.decoder is not None:
            self.obj.write(self.decoder.decode(data))
        else:
            if self.text_out is not None:
                self.text_out.flush()
            self.obj.write(data)
        self.flush()
        return len(data)

    def flush(self) -> None:
        flush = getattr(self.obj, "flush", None)
        if flush is not None:
            flush()

    def ready_bytes(self) -> int:
        """How many bytes a read could take without blocking, as far as known (for polls)."""
        fd = self.host_fd()
        if fd is None:
            return 0
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode):
                return max(0, st.st_size - os.lseek(fd, 0, os.SEEK_CUR))
        except OSError:
            pass
        return 0


def _is_text(obj: Any) -> bool:
    import io
    return isinstance(obj, io.TextIOBase)


def _write_all(fd: int, buffers: list[memoryview]) -> int:
    """``writev`` until everything is out (a terminal or pipe may take less per call)."""
    total = sum(len(b) for b in buffers)
    done = os.writev(fd, buffers) if buffers else 0
    if done < total:
        rest = b"".join(buffers)[done:]
        view = memoryview(rest)
        while view:
            n = os.write(fd, view)
            view = view[n:]
            done += n
    return done


def filetype_of_mode(mode: int) -> int:
    """The WASI filetype of a host ``st_mode``."""
    if stat.S_ISREG(mode):
        return abi.FILETYPE_REGULAR_FILE
    if stat.S_ISDIR(mode):
        return abi.FILETYPE_DIRECTORY
    if stat.S_ISLNK(mode):
        return abi.FILETYPE_SYMBOLIC_LINK
    if stat.S_ISCHR(mode):
        return abi.FILETYPE_CHARACTER_DEVICE
    if stat.S_ISBLK(mode):
        return abi.FILETYPE_BLOCK_DEVICE
    if stat.S_ISSOCK(mode):
        return abi.FILETYPE_SOCKET_STREAM
    return abi.FILETYPE_UNKNOWN


def not_a_stream() -> WasiError:
    return WasiError(Errno.SPIPE, "a stream cannot seek")
