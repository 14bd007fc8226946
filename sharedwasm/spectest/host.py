"""The ``spectest`` host module that the spec scripts import from.

Built from public API objects only, as any embedder would: typed print functions (silent),
globals of value 666 / 666.6, a funcref table of 10..20 elements and a memory of 1..2 pages
(plus a shared one of 1..2 pages for the threads scripts, made on first use since it costs
a named segment). A fresh one per script, so writes by one script never leak into another.
"""
from __future__ import annotations

from typing import Any

from ..api import objects as _api

#: print function name -> its parameter types
PRINTS = {
    "print": (),
    "print_i32": ("i32",),
    "print_i64": ("i64",),
    "print_f32": ("f32",),
    "print_f64": ("f64",),
    "print_i32_f32": ("i32", "f32"),
    "print_f64_f64": ("f64", "f64"),
}


def _silent(*args: Any) -> None:
    return None


class SpectestFields(dict):
    """The fields of one ``spectest`` module; ``shared_memory`` appears when first looked up."""

    def __missing__(self, name: str) -> Any:
        if name != "shared_memory":
            raise KeyError(name)
        memory = self[name] = _api.Memory(1, 2, shared=True)
        return memory


def spectest_module() -> SpectestFields:
    """Field name -> API object of a new ``spectest`` module."""
    fields = SpectestFields({
        name: _api.Function({"parameters": params, "results": ()}, _silent)
        for name, params in PRINTS.items()
    })
    fields["global_i32"] = _api.Global("i32", 666)
    fields["global_i64"] = _api.Global("i64", 666)
    fields["global_f32"] = _api.Global("f32", 666.6)
    fields["global_f64"] = _api.Global("f64", 666.6)
    fields["table"] = _api.Table("funcref", 10, 20)
    fields["memory"] = _api.Memory(1, 2)
    return fields
