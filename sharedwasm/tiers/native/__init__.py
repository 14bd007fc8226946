"""The native tier: wasm functions -> LLVM IR (llvmlite) -> machine code, called by ctypes.

Opt-in with ``SHAREDWASM_ENGINE=native``. ``instantiate`` compiles a module once (cached
per ``ast.Module`` object) and instantiates it natively; a module this tier cannot lower
(exceptions, reference values, tail calls, SIMD, or llvmlite missing) runs on
the portable tier instead, and ``fallback_reason(module)`` says why (printed to stderr
when ``SHAREDWASM_NATIVE_VERBOSE=1``). Objects shared with fallback instances are kept in
their native forms so both tiers see the same state.
"""
from __future__ import annotations

import os
import sys
from collections import OrderedDict
from typing import Sequence

from ...runtime.instance import ModuleInstance
from ...runtime.instance import instantiate as _instantiate
from ...spec import ast
from .jit import available, unavailable_reason

__all__ = ["instantiate", "compile_module", "fallback_reason", "available"]

_CACHE: OrderedDict[int, tuple] = OrderedDict()
_CACHE_SIZE = 64


def compile_module(module: ast.Module, info):
    """The ``NativeModule`` of ``module``, or a string: why it runs on the portable tier."""
    key = id(module)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is module:
        _CACHE.move_to_end(key)
        return hit[1]
    if not available():
        result: object = unavailable_reason()
    else:
        from .module import Unsupported, compile_module as build
        try:
            result = build(module, info)
        except Unsupported as why:
            result = str(why)
        if isinstance(result, str) and os.environ.get("SHAREDWASM_NATIVE_VERBOSE") == "1":
            print(f"sharedwasm native tier: portable fallback: {result}", file=sys.stderr)
    _CACHE[key] = (module, result)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


def fallback_reason(module: ast.Module) -> str | None:
    """Why ``module`` (compiled before) runs on the portable tier; None if it is native."""
    hit = _CACHE.get(id(module))
    if hit is None or hit[0] is not module:
        return None
    return hit[1] if isinstance(hit[1], str) else None


def _portable_build(module: ast.Module, info, compiled):
    from ..pygen import compile_module as portable

    def build(inst: ModuleInstance) -> list:
        if available():
            from .objects import native_table
            for t in inst.tables:
                if t.type.elem == "funcref":
                    native_table(t)
        code = compiled if compiled is not None else portable(module, info)
        return code.create(inst)
    return build


def instantiate(module: ast.Module, info, externs: Sequence, compiled=None) -> ModuleInstance:
    """``tiers.instantiate`` for the native tier (same contract)."""
    native = compile_module(module, info) if compiled is None else None
    if native is None or isinstance(native, str):
        return _instantiate(module, info, externs, _portable_build(module, info, compiled))
    return _instantiate(module, info, externs, native.create)
