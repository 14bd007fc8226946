"""Function instances (spec 4.2.6) and their one calling convention.

Every function value inside the engine is a Python callable with a ``type`` attribute
(``FuncType``), called with internal values positionally. It returns ``None`` for no
result, the value itself for one result, and a tuple for several. Compiled wasm functions
are plain Python functions (fastest to call) with ``type`` set; host functions are
``HostFunc`` objects whose ``fn`` follows the same convention, and generated code calls a
host function's ``fn`` directly.
"""
from __future__ import annotations

from typing import Callable

from ..spec.types import FuncType

__all__ = ["HostFunc", "is_function", "target"]


class HostFunc:
    """A host function: ``fn`` takes and returns internal values (see the module docstring)."""

    __slots__ = ("type", "fn", "name", "__weakref__")

    def __init__(self, type_: FuncType, fn: Callable, name: str | None = None):
        self.type = type_
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "host")

    def __call__(self, *args):
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"<HostFunc {self.name} {self.type}>"


def is_function(value: object) -> bool:
    """Whether ``value`` is a function instance (a funcref that is not null)."""
    return callable(value) and isinstance(getattr(value, "type", None), FuncType)


def target(func) -> Callable:
    """What generated code calls for ``func``: a host function's ``fn``, else ``func`` itself."""
    return func.fn if isinstance(func, HostFunc) else func
