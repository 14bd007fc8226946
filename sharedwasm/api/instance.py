"""``Instance``: linking a Module's imports and exposing its exports (``WebAssembly.Instance``),
plus the asyncio forms ``instantiate`` and ``instantiate_streaming``.

Linking resolves each import by its two-level name in the ``imports`` mapping (module name
-> mapping of field name -> value) and checks it against the import's declared type with
the spec's matching rules (limits against the *current* size of memories and tables). A
Python callable imported as a function becomes a host function of the declared type;
another instance's exported function keeps its identity and must have the declared type;
a plain Python value may stand for an immutable global. Failures raise ``LinkError`` with
the suites' texts ("unknown import", "incompatible import type"); a trap while
initialising segments or in the start function raises ``wasm.RuntimeError``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterator

from ..tiers import instantiate as tier_instantiate
from ..errors import LinkError
from ..runtime.exceptions import WasmThrow
from ..runtime.funcs import HostFunc
from ..spec import ast
from ..spec.types import FuncType, Limits
from . import calls
from .module import Module, compile as compile_module, read_source
from .objects import (Exception as WasmException, Function, Global, Memory, Table, Tag,
                      exception_of, wrap_extern)

__all__ = ["Instance", "Exports", "WebAssemblyInstantiatedSource", "instantiate",
           "instantiate_streaming"]

UNKNOWN_IMPORT = "unknown import"
INCOMPATIBLE = "incompatible import type"

_API_OBJECTS = (Function, Memory, Table, Global, Tag)


class Exports(Mapping):
    """An instance's exports: attribute access (``exports.add``) and a read-only mapping
    (``exports["add"]``, ``keys()``, iteration, ``in``). An export whose name is also a
    mapping method (``get``, ``keys``, ...) wins attribute access; the method stays
    reachable as ``Mapping.get(exports, ...)``.

    The exports are the instance's ``__dict__``, so ``exports.add`` is a plain attribute
    lookup (an instance's own attributes shadow the class's methods). Exports naming an
    attribute that cannot be shadowed (``__class__``, ``__dict__``) are rare; they get a
    ``_ShadowingExports``, which looks every name up itself.
    """

    __slots__ = ("__dict__",)

    def __new__(cls, items: dict[str, Any]) -> Exports:
        shadowing = cls is Exports and not _UNSHADOWABLE.isdisjoint(items)
        exports = object.__new__(_ShadowingExports if shadowing else cls)
        object.__getattribute__(exports, "__dict__").update(items)
        return exports

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"no export named {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("exports are read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("exports are read-only")

    def __getitem__(self, name: str) -> Any:
        return object.__getattribute__(self, "__dict__")[name]

    def __iter__(self) -> Iterator[str]:
        return iter(object.__getattribute__(self, "__dict__"))

    def __len__(self) -> int:
        return len(object.__getattribute__(self, "__dict__"))

    def __contains__(self, name: object) -> bool:
        return name in object.__getattribute__(self, "__dict__")

    def __dir__(self) -> list[str]:
        return sorted(set(object.__getattribute__(self, "__dict__")) | set(dir(Mapping)))

    def __repr__(self) -> str:
        return f"<sharedwasm exports {', '.join(self)}>"


_UNSHADOWABLE = frozenset(("__class__", "__dict__"))


class _ShadowingExports(Exports):
    """Exports that name ``__class__`` or ``__dict__``: every attribute is an export first."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        items = object.__getattribute__(self, "__dict__")
        if name in items:
            return items[name]
        return object.__getattribute__(self, name)


# -- linking -----------------------------------------------------------------------------------

def _lookup(imports: Any, imp: ast.Import) -> Any:
    if imports is None:
        raise LinkError(f"{UNKNOWN_IMPORT} {imp.module}.{imp.name}: no imports were given")
    namespace = _field(imports, imp.module)
    if namespace is _MISSING:
        raise LinkError(f"{UNKNOWN_IMPORT} {imp.module}.{imp.name}: no module "
                        f"{imp.module!r} in the imports")
    value = _field(namespace, imp.name)
    if value is _MISSING:
        raise LinkError(f"{UNKNOWN_IMPORT} {imp.module}.{imp.name}")
    return value


_MISSING = object()


def _field(container: Any, name: str) -> Any:
    try:
        return container[name]
    except (KeyError, IndexError):
        return _MISSING
    except TypeError:
        return getattr(container, name, _MISSING)


def _limits_match(actual: Limits, declared: Limits) -> bool:
    if actual.min < declared.min:
        return False
    if declared.max is not None and (actual.max is None or actual.max > declared.max):
        return False
    return True


def _incompatible(imp: ast.Import, detail: str) -> LinkError:
    return LinkError(f"{INCOMPATIBLE} for {imp.module}.{imp.name}: {detail}")


def _link_func(tree: ast.Module, imp: ast.Import, value: Any) -> Any:
    declared: FuncType = tree.types[imp.desc]
    if isinstance(value, Function):
        if value.type != declared:
            raise _incompatible(imp, f"function of type {value.type}, expected {declared}")
        return value._inst
    if callable(value) and not isinstance(value, _API_OBJECTS):
        fn = calls.host_adapter(declared)(value)
        return HostFunc(declared, fn, f"{imp.module}.{imp.name}")
    raise _incompatible(imp, f"{type(value).__name__} given, a function expected")


def _link_table(tree: ast.Module, imp: ast.Import, value: Any) -> Any:
    declared = imp.desc
    if not isinstance(value, Table):
        raise _incompatible(imp, f"{type(value).__name__} given, a Table expected")
    actual = value._inst.type
    if actual.elem != declared.elem or not _limits_match(actual.limits, declared.limits):
        raise _incompatible(imp, f"table {_show_limits(actual.limits)} {actual.elem}, "
                                 f"expected {_show_limits(declared.limits)} {declared.elem}")
    return value._inst


def _link_memory(tree: ast.Module, imp: ast.Import, value: Any) -> Any:
    declared = imp.desc.limits
    if not isinstance(value, Memory):
        raise _incompatible(imp, f"{type(value).__name__} given, a Memory expected")
    actual = value._inst.type.limits
    if actual.shared != declared.shared or not _limits_match(actual, declared):
        raise _incompatible(imp, f"memory {_show_limits(actual)}, expected "
                                 f"{_show_limits(declared)}")
    return value._inst


def _link_global(tree: ast.Module, imp: ast.Import, value: Any) -> Any:
    declared = imp.desc
    if isinstance(value, Global):
        actual = value._inst.type
        if actual != declared:
            raise _incompatible(imp, f"global {_show_global(actual)}, expected "
                                     f"{_show_global(declared)}")
        return value._inst
    if declared.mutable or isinstance(value, _API_OBJECTS) or declared.type == "v128":
        raise _incompatible(imp, f"{type(value).__name__} given, a Global expected")
    try:
        return Global(declared.type, value)._inst
    except (TypeError, ValueError, OverflowError):
        raise _incompatible(imp, f"{type(value).__name__} given for a "
                                 f"{declared.type} global") from None


def _link_tag(tree: ast.Module, imp: ast.Import, value: Any) -> Any:
    declared = tree.types[imp.desc.type_index]
    if not isinstance(value, Tag):
        raise _incompatible(imp, f"{type(value).__name__} given, a Tag expected")
    if value._inst.type != declared:
        raise _incompatible(imp, f"tag {value._inst.type}, expected {declared}")
    return value._inst


def _show_limits(limits: Limits) -> str:
    text = f"{limits.min}" if limits.max is None else f"{limits.min}..{limits.max}"
    return text + (" shared" if limits.shared else "")


def _show_global(t) -> str:
    return f"(mut {t.type})" if t.mutable else t.type


_LINKERS = {"func": _link_func, "table": _link_table, "memory": _link_memory,
            "global": _link_global, "tag": _link_tag}


def resolve_imports(module: Module, imports: Any) -> list:
    """The runtime extern values for the module's imports, in order, type-checked."""
    tree = module.ast
    return [_LINKERS[imp.kind](tree, imp, _lookup(imports, imp)) for imp in tree.imports]


# -- instances ---------------------------------------------------------------------------------

class Instance:
    """An instantiated module (``WebAssembly.Instance``); ``exports`` holds its exports."""

    __slots__ = ("_exports", "_module", "_inst")

    def __init__(self, module: Module, imports: Any = None):
        if not isinstance(module, Module):
            raise TypeError(f"Instance needs a Module, not {type(module).__name__!r}")
        externs = resolve_imports(module, imports)
        try:
            inst = tier_instantiate(module.ast, module.info, externs)
        except WasmThrow as throw:
            if isinstance(throw, WasmException):
                raise
            raise exception_of(throw.exn) from None
        self._module = module
        self._inst = inst
        self._exports = Exports({name: wrap_extern(value)
                                 for name, value in inst.exports.items()})

    @property
    def exports(self) -> Exports:
        return self._exports

    @property
    def module(self) -> Module:
        return self._module

    def __repr__(self) -> str:
        return f"<sharedwasm.Instance exports: {', '.join(self.exports)}>"


@dataclass(frozen=True, slots=True)
class WebAssemblyInstantiatedSource:
    """What ``instantiate`` gives for bytes: the compiled ``module`` and its ``instance``."""

    module: Module
    instance: Instance


async def instantiate(data_or_module: Any, imports: Any = None):
    """``WebAssembly.instantiate``: on a Module, its Instance; on bytes, an object with
    ``.module`` and ``.instance``. Compiling runs off the event loop's thread;
    instantiating (which may run the start function and host code) on it."""
    if isinstance(data_or_module, Module):
        return Instance(data_or_module, imports)
    module = await compile_module(data_or_module)
    return WebAssemblyInstantiatedSource(module, Instance(module, imports))


async def instantiate_streaming(source: Any, imports: Any = None) -> WebAssemblyInstantiatedSource:
    """``WebAssembly.instantiateStreaming``: ``source`` as for ``compile_streaming``."""
    module = await compile_module(await read_source(source))
    return WebAssemblyInstantiatedSource(module, Instance(module, imports))
