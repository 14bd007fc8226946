"""sharedwasm: WebAssembly for Python, with the Web Worker + SharedArrayBuffer model over processes.

``import sharedwasm as wasm`` reads like the browser's ``WebAssembly`` namespace.
"""
from .errors import CompileError, LinkError, RuntimeError  # noqa: F401

__version__ = "0.1.0"
