"""Lowerings of the reference instructions (keyed by mnemonic): ``ref.null``,
``ref.is_null`` and ``ref.func``.

A reference is an i64 handle, 0 for null (``objects.ref_handle``), so the first two are a
constant and a compare; ``ref.func`` asks the runtime callback for the handle of the
instance's function object (the one tables and the API hold).
"""
from __future__ import annotations

from typing import Callable

from .codegen import FunctionLowerer
from .irtypes import I32, I64
from .runtime_ops import REF_FUNC

__all__ = ["REFERENCE"]

L = FunctionLowerer


def _ref_null(fc: L, args: tuple) -> None:
    fc.push(I64(0))


def _ref_is_null(fc: L, args: tuple) -> None:
    b = fc.b
    fc.push(b.zext(b.icmp_unsigned("==", fc.pop(), I64(0)), I32))


def _ref_func(fc: L, args: tuple) -> None:
    fc.push(fc.runtime_call(REF_FUNC, I64(args[0])))


REFERENCE: dict[str, Callable] = {
    "ref.null": _ref_null, "ref.is_null": _ref_is_null, "ref.func": _ref_func,
}
