"""The native tier: wasm functions -> LLVM IR (llvmlite) -> machine code, called by ctypes.

The default engine when llvmlite imports (``SHAREDWASM_ENGINE``, see ``tiers.engine``).
``instantiate`` compiles a module once (cached per ``ast.Module`` object) and instantiates
it natively; a module this tier cannot lower (SIMD, more than one memory) runs on the
portable tier instead, and ``fallback_reason(module)`` says why (printed to stderr when
``SHAREDWASM_NATIVE_VERBOSE=1``). Objects shared with fallback instances
are kept in their native forms so both tiers see the same state.

Machine code is reused rather than rebuilt where it can be: code another process compiled
and shipped with a pickled module (``offer_object``), then the on-disk cache (cache.py),
then lowering and LLVM. Reused code must carry this process's ``jit.compat_key()`` (plus
whether its loops poll); any other is ignored and the module is compiled again.

Function entries always poll the thread's interrupt request; loop headers only where
something may have to stop a running loop (``polls_loops``), because an exit in a loop
costs it LLVM's vectorization, idiom recognition and closed forms (the sieve kernel runs
4x slower with it); wasmtime's epoch checks are opt-in too.
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

__all__ = ["instantiate", "compile_module", "fallback_reason", "available", "object_code",
           "offer_object", "polls_loops", "require_interruptible_loops"]

_CACHE: OrderedDict[int, tuple] = OrderedDict()
_CACHE_SIZE = 64
#: id(ast.Module) -> (module, (compat key, object)) shipped from another process
_OFFERED: OrderedDict[int, tuple] = OrderedDict()
_POLL_ALWAYS = False


def require_interruptible_loops() -> None:
    """Make the loops of every module compiled later in this process poll (for callers that
    stop wasm by ``vm.interrupt``, e.g. the spec runner's deadlines)."""
    global _POLL_ALWAYS
    _POLL_ALWAYS = True


def polls_loops(module: ast.Module) -> bool:
    """Whether the loops of ``module`` poll the interrupt request: when asked for
    (``require_interruptible_loops``, ``SHAREDWASM_NATIVE_INTERRUPTIBLE=1``) and in modules
    that spawn wasi threads, whose ``proc_exit`` stops the main thread's loops."""
    return (_POLL_ALWAYS or os.environ.get("SHAREDWASM_NATIVE_INTERRUPTIBLE") == "1"
            or any(imp.module == "wasi" and imp.name == "thread-spawn"
                   for imp in module.imports))


def _variant_key(poll: bool) -> str:
    from .jit import compat_key
    return compat_key() + (":poll" if poll else "")


def _remember(table: OrderedDict, module: ast.Module, value) -> None:
    table[id(module)] = (module, value)
    table.move_to_end(id(module))
    if len(table) > _CACHE_SIZE:
        table.popitem(last=False)


def _take(table: OrderedDict, module: ast.Module, pop: bool = False):
    hit = table.pop(id(module), None) if pop else table.get(id(module))
    return hit[1] if hit is not None and hit[0] is module else None


def compile_module(module: ast.Module, info):
    """The ``NativeModule`` of ``module``, or a string: why it runs on the portable tier."""
    result = _take(_CACHE, module)
    if result is not None:
        _CACHE.move_to_end(id(module))
        return result
    if not available():
        result = unavailable_reason()
    else:
        from .module import Unsupported
        try:
            result = _reuse_or_build(module, info)
        except Unsupported as why:
            result = str(why)
        if isinstance(result, str) and os.environ.get("SHAREDWASM_NATIVE_VERBOSE") == "1":
            print(f"sharedwasm native tier: portable fallback: {result}", file=sys.stderr)
    _remember(_CACHE, module, result)
    return result


def _reuse_or_build(module: ast.Module, info):
    from . import cache
    from .module import compile_module as build, load_module
    poll = polls_loops(module)
    compat = _variant_key(poll)
    native = None
    offered = _take(_OFFERED, module, pop=True)
    if offered is not None and offered[0] == compat:
        native = _link_or_none(load_module, offered[1], info, "shipped")
    from .. import source_key
    source = source_key(module)
    key = cache.entry_key(source, compat) if source is not None else None
    if native is None and key is not None:
        obj = cache.load(key)
        if obj is not None:
            native = _link_or_none(load_module, obj, info, "cache")
    if native is None:
        native = build(module, info, poll_loops=poll)
        if key is not None:
            cache.store(key, native.library.object_code)
    native.compat = compat
    return native


def _link_or_none(load_module, obj: bytes, info, origin: str):
    """A reused object that does not link (damaged in a way its checks missed) is no
    reason to fail: the module is compiled instead."""
    try:
        return load_module(obj, info, origin)
    except Exception:
        return None


def object_code(module: ast.Module, info) -> tuple[str, bytes] | None:
    """``(compat key, object)`` of ``module`` compiled natively (now if not yet), or None
    when it runs on the portable tier."""
    native = compile_module(module, info)
    if isinstance(native, str):
        return None
    return native.compat, native.library.object_code


def offer_object(module: ast.Module, code: tuple[str, bytes]) -> None:
    """Use ``code`` (from ``object_code`` in another process) when ``module`` is first
    compiled here, if its key matches; linking waits for that first native use."""
    if _take(_CACHE, module) is None:
        _remember(_OFFERED, module, code)


def fallback_reason(module: ast.Module) -> str | None:
    """Why ``module`` (compiled before) runs on the portable tier; None if it is native."""
    result = _take(_CACHE, module)
    return result if isinstance(result, str) else None


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
