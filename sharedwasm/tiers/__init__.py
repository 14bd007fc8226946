"""L4: execution tiers. ``pygen`` (wasm -> Python source) is the portable tier;
``native`` (wasm -> LLVM -> machine code) is the default when llvmlite imports.

``instantiate(module, info, externs)`` is the entry the API layer uses: it compiles the
module once (cached per ``ast.Module`` object) and builds a ``ModuleInstance`` with the
engine ``engine()`` names, read from ``SHAREDWASM_ENGINE`` at every instantiation.

The API layer also tells the native tier what identifies a module's bytes
(``remember_source``, the key of the on-disk cache) and moves machine code between
processes with a pickled module (``shipped_code`` / ``receive_code``).
"""
from __future__ import annotations

import os
from typing import Sequence

from ..runtime.instance import ModuleInstance, invoke
from ..runtime.instance import instantiate as _instantiate
from ..spec import ast
from .pygen import CompiledModule, compile_module

__all__ = ["instantiate", "invoke", "compile_module", "CompiledModule", "ModuleInstance",
           "engine", "ENGINES", "remember_source", "shipped_code", "receive_code"]

#: the values of ``SHAREDWASM_ENGINE``
ENGINES = ("python", "native")


def engine() -> str:
    """The engine this process instantiates with: ``SHAREDWASM_ENGINE`` if set (``python``
    or ``native``), else ``native`` when llvmlite imports and ``python`` otherwise.

    ``native`` asked for explicitly without llvmlite raises ``ImportError``: a program that
    asks for machine code should not silently get the slower tier. (A module the native
    tier cannot lower still runs on the portable tier: see ``native.fallback_reason``.)
    """
    value = os.environ.get("SHAREDWASM_ENGINE", "")
    if not value:
        from .native import available
        return "native" if available() else "python"
    if value not in ENGINES:
        raise ValueError(f"SHAREDWASM_ENGINE={value!r}: the engine is one of "
                         f"{', '.join(ENGINES)} (or unset for the default)")
    if value == "native":
        from .native import available, unavailable_reason
        if not available():
            raise ImportError(f"SHAREDWASM_ENGINE=native needs llvmlite: "
                              f"{unavailable_reason()}")
    return value


def instantiate(module: ast.Module, info, externs: Sequence,
                compiled: CompiledModule | None = None) -> ModuleInstance:
    """Instantiate ``module`` (validated, ``info`` from ``validate_module``) with ``externs``,
    the resolved imports in import order; raises a trap (``errors.RuntimeError``) when a
    segment or the start function traps, ``CompileError`` when a function cannot be compiled
    by this tier (SIMD)."""
    if engine() == "native":
        from .native import instantiate as native_instantiate
        return native_instantiate(module, info, externs, compiled)

    def build(inst: ModuleInstance) -> list:
        code = compiled if compiled is not None else compile_module(module, info)
        return code.create(inst)
    return _instantiate(module, info, externs, build)


_SOURCES: dict[int, tuple[ast.Module, bytes]] = {}
_SOURCES_SIZE = 64


def remember_source(module: ast.Module, key: bytes) -> None:
    """Record ``key`` (a digest of the bytes and features ``module`` was decoded from)."""
    _SOURCES.pop(id(module), None)
    _SOURCES[id(module)] = (module, key)
    while len(_SOURCES) > _SOURCES_SIZE:
        del _SOURCES[next(iter(_SOURCES))]


def source_key(module: ast.Module) -> bytes | None:
    """The key ``remember_source`` recorded for this very object, if any."""
    hit = _SOURCES.get(id(module))
    return hit[1] if hit is not None and hit[0] is module else None


def shipped_code(module: ast.Module, info) -> tuple | None:
    """What a pickled module carries to another process: ``(compat key, object code)``
    when this process's engine is native and the module compiles natively (compiling it
    now if it was not), else None (also for an engine setting instantiation would reject:
    pickling is not where that error belongs)."""
    try:
        if engine() != "native":
            return None
    except (ValueError, ImportError):
        return None
    from .native import object_code
    return object_code(module, info)


def receive_code(module: ast.Module, code: tuple) -> None:
    """Keep code ``shipped_code`` produced elsewhere for ``module``'s first native use."""
    from .native import offer_object
    offer_object(module, code)
