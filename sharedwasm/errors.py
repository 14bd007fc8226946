"""The one error hierarchy of sharedwasm (mirrors the JS API's error classes).

Every error keeps the spec's wording in ``message`` (the text the conformance suites expect)
and says where it happened: a byte offset for binaries, ``line:column`` for text, and the
function index and name when inside code.
"""
from __future__ import annotations

import builtins

__all__ = ["WasmError", "CompileError", "MalformedError", "ParseError", "ValidationError",
           "LinkError", "RuntimeError", "Features", "ALL_FEATURES", "WASM2_FEATURES"]


class WasmError(Exception):
    """Base of the errors raised for WebAssembly reasons (not for Python misuse)."""

    def __init__(self, message: str, *, offset: int | None = None,
                 line: int | None = None, column: int | None = None,
                 func_index: int | None = None, func_name: str | None = None,
                 source: str | None = None):
        self.message = message
        self.offset = offset
        self.line = line
        self.column = column
        self.func_index = func_index
        self.func_name = func_name
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.line is not None:
            where.append(f"{self.line}:{self.column}")
        if self.offset is not None:
            where.append(f"byte 0x{self.offset:x}")
        if self.func_index is not None:
            fn = f"function {self.func_index}"
            if self.func_name:
                fn += f" ({self.func_name})"
            where.append(fn)
        return f"{self.message} (at {', '.join(where)})" if where else self.message

    def located(self, **where) -> "WasmError":
        """Fill in location fields that are still unknown and re-render the message."""
        for key, value in where.items():
            if getattr(self, key) is None and value is not None:
                setattr(self, key, value)
        self.args = (self._render(),)
        return self


class CompileError(WasmError):
    """A module failed to decode, parse or validate (``WebAssembly.CompileError``)."""


class MalformedError(CompileError):
    """The bytes or text do not follow the format's grammar (the suites' ``assert_malformed``)."""


class ParseError(MalformedError):
    """Malformed text; always carries ``line`` and ``column``."""


class ValidationError(CompileError):
    """Well-formed but invalid (the suites' ``assert_invalid``)."""


class LinkError(WasmError):
    """Imports do not match what the module asks for (``WebAssembly.LinkError``)."""


class RuntimeError(WasmError, builtins.RuntimeError):
    """A trap (``WebAssembly.RuntimeError``); ``message`` holds the spec's trap text."""


Features = frozenset
#: WebAssembly 2.0: what the core suite of this release enables
WASM2_FEATURES: frozenset[str] = frozenset({
    "mvp", "sign-ext", "sat-trunc", "multi-value", "reference-types", "bulk-memory", "simd"})
#: everything sharedwasm implements; the default everywhere
ALL_FEATURES: frozenset[str] = WASM2_FEATURES | {"threads", "exceptions", "tail-call"}
