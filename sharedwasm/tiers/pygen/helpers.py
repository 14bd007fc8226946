"""The global namespace generated code runs in: runtime helpers under short names.

Everything a lowering template names (``fround``, ``ld_I``, ``table_get``, ...) is bound
here once; generated functions read them as globals of their module namespace.
"""
from __future__ import annotations

import math
import struct

from ...errors import CompileError
from ...runtime import atomics, memory, numerics, table
from ...runtime.exceptions import ExceptionInst, WasmThrow
from ...runtime.traps import (INDIRECT_MISMATCH, INT_DIV_ZERO, NULL_EXN, OOB_MEMORY,
                              UNDEFINED_ELEMENT, UNINITIALIZED_ELEMENT, Trap)

__all__ = ["NAMESPACE", "PY_ERRORS", "trap_of", "call_target", "throw_ref", "TailCall"]

#: Python exceptions that generated code lets C-level operations raise for traps
PY_ERRORS = (struct.error, IndexError, ZeroDivisionError)


def trap_of(err: BaseException) -> Trap:
    """The trap for a Python error raised directly by an inline memory access or division."""
    if isinstance(err, ZeroDivisionError):
        return Trap(INT_DIV_ZERO)
    return Trap(OOB_MEMORY)


def call_target(elements: list, i: int, ftype):
    """call_indirect's lookup: the function at ``i`` if it has type ``ftype``, else trap."""
    if i >= len(elements):
        raise Trap(UNDEFINED_ELEMENT)
    f = elements[i]
    if f is None:
        raise Trap(f"{UNINITIALIZED_ELEMENT} {i:d}")    # i may be a bool (a comparison)
    t = f.type
    if t is not ftype and t != ftype:
        raise Trap(INDIRECT_MISMATCH)
    return f


class TailCall:
    """A tail call still to be made: what a function with ``return_call`` returns instead
    of calling, so the call happens in its trampoline, outside the caller's frame (and
    outside its handlers), and tail recursion runs in constant stack."""

    __slots__ = ("fn", "args")

    def __init__(self, fn, args: tuple):
        self.fn = fn
        self.args = args


def throw_ref(exn) -> BaseException:
    if exn is None:
        return Trap(NULL_EXN)
    return WasmThrow(exn)


def _structs() -> dict:
    out = {}
    for code in "bBhHiIqQd":
        s = struct.Struct("<" + code)
        out[f"ld_{code}"] = s.unpack_from
        out[f"st_{code}"] = s.pack_into
    return out


NAMESPACE: dict = {
    "__builtins__": __builtins__,
    "Trap": Trap, "CompileError": CompileError, "WasmThrow": WasmThrow, "ExceptionInst": ExceptionInst,
    "PY_ERRORS": PY_ERRORS, "trap_of": trap_of, "call_target": call_target,
    "throw_ref": throw_ref, "TailCall": TailCall, "copysign": math.copysign,
    **_structs(),
}
for _mod, _names in (
    (numerics, ["fround", "f32_load", "f32_store", "f32_from_bits", "f32_to_bits",
                "f64_from_bits", "f64_to_bits", "clz32", "clz64", "ctz32", "ctz64",
                "rotl32", "rotr32", "rotl64", "rotr64", "div_s32", "div_s64", "rem_s32",
                "rem_s64", "fdiv", "f32_div", "fsqrt", "f32_sqrt", "fmin", "fmax", "fceil",
                "ffloor", "ftrunc", "fnearest", "trunc_i32_s", "trunc_i32_u", "trunc_i64_s",
                "trunc_i64_u", "trunc_sat_i32_s", "trunc_sat_i32_u", "trunc_sat_i64_s",
                "trunc_sat_i64_u", "convert_i32_s_f32", "convert_i32_u_f32",
                "convert_i64_s_f32", "convert_i64_u_f32"]),
    (memory, ["memory_fill", "memory_copy", "memory_init"]),
    (table, ["table_get", "table_set", "table_fill", "table_copy", "table_init"]),
    (atomics, ["atomic_load", "atomic_store", "atomic_rmw", "atomic_cmpxchg",
               "atomic_notify", "atomic_wait"]),
):
    for _n in _names:
        NAMESPACE[_n] = getattr(_mod, _n)
