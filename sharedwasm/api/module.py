"""The compile-and-inspect part of the public API: ``Module``, ``validate``, the text tools.

``Module`` mirrors ``WebAssembly.Module``: it owns the module's bytes, the decoded AST and
what validation recorded for later stages. It pickles by its bytes (that is how a module
reaches a worker process); unpickling re-decodes and re-validates once per process and
then reuses the result from a small cache keyed by the bytes' digest. When the engine is
native, the pickle also carries the module's machine code (compiled first if need be), so
a worker links it instead of compiling again (``tiers.shipped_code``).
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable

from ..binary.decode import decode_module
from ..binary.encode import encode_module
from ..errors import ALL_FEATURES, CompileError
from ..spec import ast
from ..spec.types import FuncType, GlobalType, MemType, TableType
from ..text.parser import parse_module
from ..text.printer import print_module
from ..tiers import receive_code, remember_source, shipped_code
from ..valid.validate import validate_module

__all__ = ["Module", "ModuleExportDescriptor", "ModuleImportDescriptor", "validate",
           "wat2wasm", "wasm2wat", "compile", "compile_streaming", "as_bytes"]

#: the AST's kind names -> the JS API's ``ImportExportKind`` strings
KIND_NAMES = {"func": "function", "table": "table", "memory": "memory", "global": "global",
              "tag": "tag"}


def as_bytes(data: Any, what: str = "data") -> bytes:
    """An immutable copy of any bytes-like object; TypeError for anything else (as JS does)."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str) or not _is_buffer(data):
        raise TypeError(f"{what} must be a bytes-like object (bytes, bytearray, memoryview, "
                        f"array, ...), not {type(data).__name__!r}")
    with memoryview(data) as view:
        return view.tobytes()


def _is_buffer(data: Any) -> bool:
    try:
        memoryview(data).release()
    except TypeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class ModuleExportDescriptor:
    """One entry of ``Module.exports``: ``kind`` is the JS API's string, ``type`` the detail.

    ``type`` is a ``FuncType`` for functions and tags, else a ``TableType``, ``MemType`` or
    ``GlobalType``.
    """

    name: str
    kind: str
    type: FuncType | TableType | MemType | GlobalType


@dataclass(frozen=True, slots=True)
class ModuleImportDescriptor:
    """One entry of ``Module.imports``: the two-level name, the kind and its type."""

    module: str
    name: str
    kind: str
    type: FuncType | TableType | MemType | GlobalType


class _ModuleCache:
    """Decoded and validated modules by digest, so re-creating one from bytes is cheap."""

    def __init__(self, capacity: int = 32):
        self.capacity = capacity
        self._items: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple, item: tuple) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


_CACHE = _ModuleCache()


def _restore(data: bytes, features: frozenset[str], code: tuple | None = None) -> "Module":
    """Unpickling entry point: reuses this process's cache before decoding again; ``code``
    is machine code the sending process compiled (see ``tiers.shipped_code``)."""
    module = Module(data, features=features, _cached=True)
    if code is not None:
        receive_code(module._ast, code)
    return module


class Module:
    """A decoded and validated WebAssembly module (``WebAssembly.Module``).

    ``Module(data)`` accepts any bytes-like object and raises ``CompileError`` (a
    ``MalformedError`` or ``ValidationError``) whose message is the spec's wording and whose
    ``str()`` says where. ``features`` narrows what is accepted (default: everything
    sharedwasm implements).
    """

    __slots__ = ("_bytes", "_ast", "_info", "_features", "__weakref__")

    def __init__(self, data: Any, *, features: frozenset[str] = ALL_FEATURES,
                 _cached: bool = False):
        raw = as_bytes(data)
        features = frozenset(features)
        key = (hashlib.sha256(raw).digest(), features)
        item = _CACHE.get(key) if _cached else None
        if item is None:
            tree = decode_module(raw, features)
            info = validate_module(tree, features)
            item = (tree, info)
            _CACHE.put(key, item)
            remember_source(tree, key[0] + ",".join(sorted(features)).encode())
        self._bytes = raw
        self._ast, self._info = item
        self._features = features

    # -- the JS API's static methods; they work as ``Module.exports(m)`` and ``m.exports()`` --
    def exports(self) -> list[ModuleExportDescriptor]:
        """The exports in module order."""
        tree = _check(self, "exports")._ast
        spaces = _index_spaces(tree)
        return [ModuleExportDescriptor(e.name, KIND_NAMES[e.kind], spaces[e.kind][e.index])
                for e in tree.exports]

    def imports(self) -> list[ModuleImportDescriptor]:
        """The imports in module order."""
        tree = _check(self, "imports")._ast
        return [ModuleImportDescriptor(i.module, i.name, KIND_NAMES[i.kind],
                                       _import_type(tree, i)) for i in tree.imports]

    def custom_sections(self, name: str) -> list[bytes]:
        """The contents of every custom section called ``name``, in module order."""
        tree = _check(self, "custom_sections")._ast
        if not isinstance(name, str):
            raise TypeError(f"section name must be a str, not {type(name).__name__!r}")
        return [bytes(c.data) for c in tree.customs if c.name == name]

    # -- Python conveniences -----------------------------------------------------------------
    @property
    def binary(self) -> bytes:
        """The module's binary, exactly as given."""
        return self._bytes

    @property
    def ast(self) -> ast.Module:
        """The decoded module (shared with other Modules of the same bytes: do not mutate)."""
        return self._ast

    @property
    def info(self) -> Any:
        """What validation recorded for compilers (``valid.validate.ModuleInfo``)."""
        return self._info

    @property
    def features(self) -> frozenset[str]:
        return self._features

    def __reduce__(self):
        code = shipped_code(self._ast, self._info)
        if code is None:
            return _restore, (self._bytes, self._features)
        return _restore, (self._bytes, self._features, code)

    def __repr__(self) -> str:
        tree = self._ast
        return (f"<sharedwasm.Module {len(self._bytes)} bytes, {len(tree.imports)} imports, "
                f"{len(tree.exports)} exports, {len(tree.funcs)} functions>")


def _check(module: Any, method: str) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"Module.{method}() needs a Module, not {type(module).__name__!r}")
    return module


def _import_type(tree: ast.Module, imp: ast.Import):
    if imp.kind == "func":
        return tree.types[imp.desc]
    if imp.kind == "tag":
        return tree.types[imp.desc.type_index]
    return imp.desc


def _index_spaces(tree: ast.Module) -> dict[str, list]:
    return {"func": tree.func_types(), "table": tree.table_types(),
            "memory": tree.mem_types(), "global": tree.global_types(),
            "tag": tree.tag_types()}


def validate(data: Any, *, features: frozenset[str] = ALL_FEATURES) -> bool:
    """True when ``data`` is a valid module; never raises for bad bytes (TypeError for non-bytes)."""
    raw = as_bytes(data)
    try:
        validate_module(decode_module(raw, frozenset(features)), frozenset(features))
    except CompileError:
        return False
    return True


def wat2wasm(text: str | bytes, *, features: frozenset[str] = ALL_FEATURES,
             validate: bool = False, source: str | None = None) -> bytes:
    """The binary of a text-format module.

    Only parses and encodes by default, so invalid modules (tests need them) can be
    written; ``validate=True`` also validates. Bad text raises ``ParseError`` with
    ``line``/``column``.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = _decode_utf8(bytes(text), source)
    elif not isinstance(text, str):
        raise TypeError(f"text must be str or UTF-8 bytes, not {type(text).__name__!r}")
    features = frozenset(features)
    tree = parse_module(text, features, source)
    binary = encode_module(tree)
    if validate:
        validate_module(decode_module(binary, features), features)
    return binary


def _decode_utf8(raw: bytes, source: str | None) -> str:
    from ..errors import ParseError
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ParseError("malformed UTF-8 encoding", line=line, column=column,
                         source=source) from None


def wasm2wat(data: Any, *, features: frozenset[str] = ALL_FEATURES) -> str:
    """The canonical text of a binary module (decoded, not validated).

    ``wat2wasm(wasm2wat(b)) == b`` for every module sharedwasm can decode.
    """
    return print_module(decode_module(as_bytes(data), frozenset(features)))


async def compile(data: Any) -> Module:
    """``WebAssembly.compile``: a Module, built off the event loop's thread."""
    raw = as_bytes(data)
    return await asyncio.to_thread(Module, raw)


async def compile_streaming(source: Any) -> Module:
    """``WebAssembly.compileStreaming``: ``source`` is an async iterable of byte chunks, a
    binary file object, a path, or an awaitable of one of these."""
    return await compile(await read_source(source))


async def read_source(source: Any) -> bytes:
    """All the bytes a streaming source gives (shared with ``instantiate_streaming``)."""
    if hasattr(source, "__await__"):
        source = await source
    if isinstance(source, (str, os.PathLike)):
        return await asyncio.to_thread(_read_path, source)
    if hasattr(source, "__aiter__"):
        chunks = [as_bytes(chunk, "a stream chunk") async for chunk in source]
        return b"".join(chunks)
    if hasattr(source, "read"):
        data = await asyncio.to_thread(source.read)
        if hasattr(data, "__await__"):
            data = await data
        return as_bytes(data, "the stream's contents")
    if _is_buffer(source):
        return as_bytes(source)
    if isinstance(source, Iterable):
        return b"".join(as_bytes(chunk, "a stream chunk") for chunk in source)
    raise TypeError("a streaming source must be an async iterable of bytes, a binary file "
                    f"object or a path, not {type(source).__name__!r}")


def _read_path(path: str | os.PathLike) -> bytes:
    with open(path, "rb") as f:
        return f.read()

