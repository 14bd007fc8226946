"""sharedwasm: WebAssembly for Python, with the Web Worker + SharedArrayBuffer model over processes.

``import sharedwasm as wasm`` reads like the browser's ``WebAssembly`` namespace. The error
classes load eagerly (they are tiny); everything else loads on first use, so importing the
package stays cheap.
"""
from __future__ import annotations

import importlib

from .errors import (CompileError, LinkError, MalformedError, ParseError,  # noqa: F401
                     RuntimeError, ValidationError)

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first access)
_LAZY = {
    "Module": "sharedwasm.api.module",
    "ModuleExportDescriptor": "sharedwasm.api.module",
    "ModuleImportDescriptor": "sharedwasm.api.module",
    "validate": "sharedwasm.api.module",
    "wat2wasm": "sharedwasm.api.module",
    "wasm2wat": "sharedwasm.api.module",
    "compile": "sharedwasm.api.module",
    "compile_streaming": "sharedwasm.api.module",
    "Instance": "sharedwasm.api.instance",
    "instantiate": "sharedwasm.api.instance",
    "instantiate_streaming": "sharedwasm.api.instance",
    "Function": "sharedwasm.api.objects",
    "Memory": "sharedwasm.api.objects",
    "Table": "sharedwasm.api.objects",
    "Global": "sharedwasm.api.objects",
    "Tag": "sharedwasm.api.objects",
    "Exception": "sharedwasm.api.objects",
    "WASI": "sharedwasm.wasi",
    "atomics": "sharedwasm.concurrency",
    "Worker": "sharedwasm.concurrency.worker",
    "WorkerError": "sharedwasm.concurrency.worker",
    "WorkerDied": "sharedwasm.concurrency.worker",
    "run_parallel": "sharedwasm.concurrency.parallel",
    "WorkerPool": "sharedwasm.concurrency.parallel",
    "ALL_FEATURES": "sharedwasm.errors",
    "WASM2_FEATURES": "sharedwasm.errors",
}

__all__ = ["CompileError", "LinkError", "RuntimeError", "MalformedError", "ParseError",
           "ValidationError", "__version__", *_LAZY]


def __getattr__(name: str) -> object:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'sharedwasm' has no attribute {name!r}")
    value = getattr(importlib.import_module(target), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

