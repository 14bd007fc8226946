"""Sandboxed path resolution: a guest path relative to a directory descriptor, walked one
component at a time so nothing outside the preopened tree can be reached.

Each directory on the way is opened with ``O_NOFOLLOW`` relative to the previous one (the
walk never hands a multi-component path to the host), symbolic links are read and spliced
into the remaining components by this code, and ``..`` pops the stack of opened
directories. Absolute paths, absolute link targets and ``..`` above the starting directory
fail with ``errno.ESCAPE``; more than ``MAX_SYMLINKS`` links give ``ELOOP``. The result is a
parent directory descriptor and one final name that the caller hands to an ``*at`` call
(``os.open(name, dir_fd=...)``, ``os.stat(..., dir_fd=..., follow_symlinks=False)``), so the
final step cannot follow a link out either.
"""
from __future__ import annotations

import errno as host_errno
import os

from .errno import ESCAPE, Errno, WasiError

MAX_SYMLINKS = 40

#: how intermediate directories are opened: O_PATH (Linux) needs no read permission
_DIR_FLAGS = (getattr(os, "O_PATH", 0) or os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) \
    | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

#: host errors of an O_NOFOLLOW|O_DIRECTORY open that mean "a link or not a directory"
_NOT_A_DIR = {host_errno.ELOOP, host_errno.ENOTDIR, getattr(host_errno, "EMLINK", -1)}


class Resolved:
    """The outcome of a walk: ``parent`` (a host directory descriptor) and ``name`` (one
    component; ``"."`` when the path names ``parent`` itself). A context manager: leaving
    it closes the directories the walk opened."""

    __slots__ = ("parent", "name", "must_be_dir", "_owned")

    def __init__(self, parent: int, name: str, owned: list[int], must_be_dir: bool):
        self.parent = parent
        self.name = name
        self.must_be_dir = must_be_dir
        self._owned = owned

    def close(self) -> None:
        for fd in self._owned:
            try:
                os.close(fd)
            except OSError:
                pass
        self._owned = []

    def __enter__(self) -> "Resolved":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


def resolve(base: int, path: str, follow: bool) -> Resolved:
    """Walk ``path`` from the directory ``base``; ``follow`` says whether a symbolic link
    in the final position is followed (a trailing ``/`` always follows and requires a
    directory)."""
    if not path:
        raise WasiError(Errno.NOENT, "empty path")
    if "\0" in path:
        raise WasiError(Errno.INVAL, "a path with a NUL byte")
    if path.startswith("/"):
        raise WasiError(ESCAPE, f"absolute path {path!r}")
    must_be_dir = path.endswith("/")
    pending = _components(path)[::-1]
    stack = [base]
    links = 0
    try:
        while pending:
            part = pending.pop()
            last = not pending
            if part == "..":
                if len(stack) == 1:
                    raise WasiError(ESCAPE, f"{path!r} leaves its directory")
                os.close(stack.pop())
                continue
            if last and not follow and not must_be_dir:
                return Resolved(stack[-1], part, stack[1:], False)
            try:
                fd = os.open(part, _DIR_FLAGS, dir_fd=stack[-1])
            except OSError as exc:
                if exc.errno == host_errno.ENOENT and last:
                    return Resolved(stack[-1], part, stack[1:], must_be_dir)
                if exc.errno not in _NOT_A_DIR:
                    raise
                target = _link_target(stack[-1], part)
                if target is None:
                    if last and not must_be_dir:
                        return Resolved(stack[-1], part, stack[1:], False)
                    raise WasiError(Errno.NOTDIR, f"{part!r} is not a directory") from None
                links += 1
                if links > MAX_SYMLINKS:
                    raise WasiError(Errno.LOOP, "too many symbolic links") from None
                if target.startswith("/"):
                    raise WasiError(ESCAPE, f"link {part!r} is absolute") from None
                if target.endswith("/") and last:
                    must_be_dir = True
                pending.extend(_components(target)[::-1])
                continue
            if last:
                os.close(fd)
                return Resolved(stack[-1], part, stack[1:], must_be_dir)
            stack.append(fd)
        return Resolved(stack[-1], ".", stack[1:], True)
    except BaseException:
        for fd in stack[1:]:
            os.close(fd)
        raise


def _link_target(parent: int, name: str) -> str | None:
    """The target of the link ``name`` in ``parent``; None when it is not a link."""
    try:
        return os.readlink(name, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (host_errno.EINVAL, host_errno.ENOENT):
            return None
        raise
    except UnicodeDecodeError:
        raise WasiError(Errno.ILSEQ, "a link target that is not UTF-8") from None
