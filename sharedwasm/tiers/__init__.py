"""L4: execution tiers. ``pygen`` (wasm -> Python source) is the portable tier;
``native`` (wasm -> LLVM -> machine code) is chosen with ``SHAREDWASM_ENGINE=native``.

``instantiate(module, info, externs)`` is the entry the API layer uses: it compiles the
module once (cached per ``ast.Module`` object) and builds a ``ModuleInstance``.
"""
from __future__ import annotations

import os
from typing import Sequence

from ..runtime.instance import ModuleInstance, invoke
from ..runtime.instance import instantiate as _instantiate
from ..spec import ast
from .pygen import CompiledModule, compile_module

__all__ = ["instantiate", "invoke", "compile_module", "CompiledModule", "ModuleInstance"]


def instantiate(module: ast.Module, info, externs: Sequence,
                compiled: CompiledModule | None = None) -> ModuleInstance:
    """Instantiate ``module`` (validated, ``info`` from ``validate_module``) with ``externs``,
    the resolved imports in import order; raises a trap (``errors.RuntimeError``) when a
    segment or the start function traps, ``CompileError`` when a function cannot be compiled
    by this tier (SIMD)."""
    if os.environ.get("SHAREDWASM_ENGINE") == "native":
        from .native import instantiate as native_instantiate
        return native_instantiate(module, info, externs, compiled)

    def build(inst: ModuleInstance) -> list:
        code = compiled if compiled is not None else compile_module(module, info)
        return code.create(inst)
    return _instantiate(module, info, externs, build)
