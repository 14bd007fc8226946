"""LLVM types of wasm values and the calling conventions of native code.

Internal convention (wasm -> wasm, also through tables and imports):
``RET f(ptr ctx, ptr vm, params...)``, ``vm`` the calling thread's VM state, with RET void,
the one result, or a literal struct of the results with floats as their bit patterns
(``pack_results`` / ``result_of``): x86-64 returns a third float result in an x87
register, and loading one there quiets a signalling NaN. A reference value (funcref,
externref, exnref) is an i64 handle naming a Python object (0: null;
``objects.ref_handle``): native code only stores, compares and passes references; calls go
through table records, never through a funcref value.

Entry convention (called from Python by ``ctypes``): ``e(ptr ctx, ptr vm, params...
[, ptr out])``, f32 travelling as its i32 bit pattern (``ctypes`` would convert a float
through a C cast that quiets signalling NaNs), references as handles, and several results
written to ``out`` as 8-byte slots.
"""
from __future__ import annotations

import ctypes

from llvmlite import ir

from ...spec.types import FuncType

__all__ = ["I1", "I8", "I16", "I32", "I64", "F32", "F64", "PTR", "VOID", "LLTYPE", "REFTYPES",
           "func_type", "ret_type", "pack_results", "result_of", "zero", "field", "CTYPE",
           "to_slot", "from_slot"]

I1, I8, I16, I32, I64 = (ir.IntType(n) for n in (1, 8, 16, 32, 64))
F32, F64 = ir.FloatType(), ir.DoubleType()
PTR = I8.as_pointer()       # typed pointers: every address is an i8* until cast
VOID = ir.VoidType()
REFTYPES = frozenset({"funcref", "externref", "exnref"})
LLTYPE = {"i32": I32, "i64": I64, "f32": F32, "f64": F64, **{t: I64 for t in REFTYPES}}

#: ctypes of entry parameters and single results (f32 as bits, references as handles)
CTYPE = {"i32": ctypes.c_uint32, "i64": ctypes.c_uint64, "f32": ctypes.c_uint32,
         "f64": ctypes.c_double, **{t: ctypes.c_uint64 for t in REFTYPES}}


_BITS = {"f32": I32, "f64": I64}


def ret_type(results: tuple[str, ...]) -> ir.Type:
    if not results:
        return VOID
    if len(results) == 1:
        return LLTYPE[results[0]]
    return ir.LiteralStructType([_BITS.get(t, LLTYPE[t]) for t in results])


def pack_results(b: ir.IRBuilder, values: list, results: tuple[str, ...]) -> ir.Value:
    """The ``ret_type`` struct of several result values."""
    agg = zero(ret_type(results))
    for i, (v, t) in enumerate(zip(values, results)):
        agg = b.insert_value(agg, b.bitcast(v, _BITS[t]) if t in _BITS else v, i)
    return agg


def result_of(b: ir.IRBuilder, agg: ir.Value, i: int, t: str) -> ir.Value:
    """Result ``i`` (of type ``t``) of a ``ret_type`` struct."""
    v = b.extract_value(agg, i)
    return b.bitcast(v, LLTYPE[t]) if t in _BITS else v


def func_type(ft: FuncType) -> ir.FunctionType:
    """The internal convention's LLVM type for ``ft``."""
    return ir.FunctionType(ret_type(ft.results), [PTR, PTR] + [LLTYPE[t] for t in ft.params])


def zero(t: ir.Type) -> ir.Constant:
    return ir.Constant(t, None)


def field(b: ir.IRBuilder, base: ir.Value, offset, ty: ir.Type) -> ir.Value:
    """A ``ty*`` at byte ``offset`` (an int or an i64 value) from the i8* ``base``."""
    if isinstance(offset, int):
        if offset == 0:
            return b.bitcast(base, ty.as_pointer())
        offset = I64(offset)
    return b.bitcast(b.gep(base, [offset]), ty.as_pointer())


def to_slot(b: ir.IRBuilder, v: ir.Value, t: str) -> ir.Value:
    """A wasm value as the i64 of an 8-byte slot."""
    if t == "i32":
        return b.zext(v, I64)
    if t == "f32":
        return b.zext(b.bitcast(v, I32), I64)
    if t == "f64":
        return b.bitcast(v, I64)
    return v


def from_slot(b: ir.IRBuilder, u: ir.Value, t: str) -> ir.Value:
    if t == "i32":
        return b.trunc(u, I32)
    if t == "f32":
        return b.bitcast(b.trunc(u, I32), F32)
    if t == "f64":
        return b.bitcast(u, F64)
    return u
