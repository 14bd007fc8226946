"""The on-disk cache of the native tier: object code by module, so a program's second run
(and every process of a program) skips lowering and LLVM.

An entry is one file named by ``entry_key(source, compat)``: a digest of the module's
bytes and features and of ``jit.compat_key()``. It holds a magic line, the key again, a
digest of the object and the object; anything else (truncated, corrupt, another key) reads
as a miss and the recompiled object replaces it. Writes go to a temporary file renamed over
the entry, so readers never see half an entry and concurrent writers of the same entry
leave one whole copy. The cache never fails an instantiation: an unusable directory only
means nothing is cached.

``SHAREDWASM_CACHE=0`` turns it off; ``SHAREDWASM_CACHE_DIR`` picks the directory (default
``$XDG_CACHE_HOME/sharedwasm``, else ``~/.cache/sharedwasm``). Both are read at each use.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["cache_dir", "entry_key", "load", "store"]

_MAGIC = b"sharedwasm native object 1\n"
_DIGEST = 32


def cache_dir() -> Path | None:
    """The cache directory, or None when the cache is off."""
    if os.environ.get("SHAREDWASM_CACHE", "1") == "0":
        return None
    explicit = os.environ.get("SHAREDWASM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sharedwasm"


def entry_key(source: bytes, compat: str) -> str:
    return hashlib.blake2b(source + b"\0" + compat.encode(), digest_size=_DIGEST).hexdigest()


def _path(key: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / f"{key}.o"


def load(key: str) -> bytes | None:
    """The object stored under ``key``, or None (no cache, no entry, a damaged entry)."""
    path = _path(key)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC) + 2 * _DIGEST
    if len(data) < head or not data.startswith(_MAGIC):
        return None
    stored_key = data[len(_MAGIC):len(_MAGIC) + _DIGEST].hex()
    check = data[len(_MAGIC) + _DIGEST:head]
    obj = data[head:]
    if stored_key != key or hashlib.blake2b(obj, digest_size=_DIGEST).digest() != check:
        return None
    return obj


def store(key: str, obj: bytes) -> None:
    """Write the entry atomically; any failure to write is ignored."""
    path = _path(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + bytes.fromhex(key)
                    + hashlib.blake2b(obj, digest_size=_DIGEST).digest() + obj)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
