"""Lowerings of numeric instructions (keyed by mnemonic): constants, integer and float
arithmetic with wasm's exact semantics, comparisons and conversions.

Float details: ``nearest`` is ``llvm.roundeven``, ``min``/``max`` are ``llvm.minimum`` /
``llvm.maximum`` (NaN-propagating, -0 < +0), ``abs``/``neg``/``copysign`` are bit
operations (NaN payloads survive); constants are built from their bit patterns. Trapping
truncations test NaN ("invalid conversion to integer") and the exact range ("integer
overflow") before ``fptosi``/``fptoui``; saturating ones are ``llvm.fpto[su]i.sat``.
"""
from __future__ import annotations

from typing import Callable

from llvmlite import ir

from . import vm
from .codegen import FunctionLowerer
from .irtypes import F32, F64, I1, I8, I16, I32, I64, LLTYPE

__all__ = ["NUMERIC"]

L = FunctionLowerer
NUMERIC: dict[str, Callable] = {}
_BITS = {"i32": 32, "i64": 64}
_SUFFIX = {"i32": "i32", "i64": "i64", "f32": "f32", "f64": "f64"}


def _const(t: str):
    ty = LLTYPE[t]
    if t in _BITS:
        mask = (1 << _BITS[t]) - 1
        return lambda fc, args: fc.push(ir.Constant(ty, args[0] & mask))
    ity = I32 if t == "f32" else I64

    def rule(fc: L, args: tuple) -> None:
        c = ir.Constant(ity, args[0]).bitcast(ty)
        c.bits = args[0]            # what ``_arith`` tells foldable constants by
        fc.push(c)
    return rule


def _unary(fn):
    def rule(fc: L, args: tuple) -> None:
        fc.push(fn(fc, fc.pop()))
    return rule


def _binary(fn):
    def rule(fc: L, args: tuple) -> None:
        y = fc.pop()
        x = fc.pop()
        fc.push(fn(fc, x, y))
    return rule


def _intrinsic(name: str, t: str, nargs: int, extra: tuple = ()):
    ty = LLTYPE[t]

    def emit(fc: L, *vals):
        fn = fc.mc.intrinsic(f"{name}.{_SUFFIX[t]}", ty, [ty] * nargs + [v.type for v in extra])
        return fc.b.call(fn, list(vals) + list(extra))
    return emit


def _quieted(emit, t: str):
    """``emit`` whose NaN results become the canonical NaN (``llvm.minimum`` passes a
    signalling NaN operand through; wasm wants an arithmetic NaN)."""
    nan = (I32 if t == "f32" else I64)(0x7FC0_0000 if t == "f32" else 0x7FF8 << 48)

    def quiet(fc: L, *vals):
        r = emit(fc, *vals)
        b = fc.b
        return b.select(b.fcmp_unordered("uno", r, r), b.bitcast(nan, LLTYPE[t]), r)
    return quiet


def _canonical(fc: L, v, t: str):
    return fc.b.call(fc.mc.intrinsic(f"llvm.canonicalize.{t}", LLTYPE[t], [LLTYPE[t]]), [v])


#: per operation, the magnitudes of a (left, right) constant operand that let LLVM fold it
#: into no arithmetic (``x + -0``, ``x - 0``, ``-0 - x``, ``x * 1``, ``x * -1``, ``x / 1``,
#: ``x / -1``)
_FOLDING = {"fadd": ("zero", "zero"), "fsub": ("zero", "zero"), "fmul": ("one", "one"),
            "fdiv": ("", "one")}
_ONE_BITS = {"f32": 0x3F80_0000, "f64": 0x3FF0 << 48}


def _may_fold(v, kind: str, t: str) -> bool:
    """``v`` is a constant LLVM could fold this operation away with: a NaN, a magnitude
    ``kind`` names, or a constant of unknown bits."""
    if not isinstance(v, ir.Constant):
        return False
    bits = getattr(v, "bits", None)
    if bits is None:
        return True
    width = _BITS["i32" if t == "f32" else "i64"]
    magnitude = bits & ((1 << (width - 1)) - 1)
    exponent = (0xFF << 23) if t == "f32" else (0x7FF << 52)
    if magnitude > exponent:                   # a NaN
        return True
    return (kind == "zero" and magnitude == 0) or (kind == "one" and magnitude == _ONE_BITS[t])


def _arith(method: str, t: str):
    """A float operation; with some constant operands LLVM folds it away (``x - 0``,
    ``x * 1``, ``x / -1``, see ``_FOLDING``) and a signalling NaN ``x`` would then leave
    unquieted, so then the result is canonicalized (the quiet bit set, as wasm requires of
    arithmetic). Other constants keep the plain instruction: a canonicalization costs a
    multiplication on the critical path."""
    left, right = _FOLDING[method]

    def emit(fc: L, x, y):
        r = getattr(fc.b, method)(x, y)
        both = isinstance(x, ir.Constant) and isinstance(y, ir.Constant)
        if both or _may_fold(x, left, t) or _may_fold(y, right, t):
            r = _canonical(fc, r, t)
        return r
    return emit


def _demote(fc: L, x):
    r = fc.b.fptrunc(x, F32)
    if getattr(x, "opname", "") == "fpext":       # demote(promote x) folds to x
        r = _canonical(fc, r, "f32")
    return r


def _bool(fc: L, v) -> ir.Value:
    return fc.b.zext(v, I32)


for _t in ("i32", "i64", "f32", "f64"):
    NUMERIC[f"{_t}.const"] = _const(_t)

# -- integers -------------------------------------------------------------------------------------
_ICMP = {"eq": ("==", True), "ne": ("!=", True), "lt_s": ("<", True), "lt_u": ("<", False),
         "gt_s": (">", True), "gt_u": (">", False), "le_s": ("<=", True),
         "le_u": ("<=", False), "ge_s": (">=", True), "ge_u": (">=", False)}


def _icmp(op: str, signed: bool):
    def emit(fc: L, x, y):
        b = fc.b
        c = b.icmp_signed(op, x, y) if signed else b.icmp_unsigned(op, x, y)
        return _bool(fc, c)
    return emit


def _div(t: str, signed: bool, rem: bool):
    bits = _BITS[t]
    ty = LLTYPE[t]

    def emit(fc: L, x, y):
        b = fc.b
        fc.trap_if(b.icmp_unsigned("==", y, ty(0)), vm.TRAP_CODES["integer divide by zero"])
        if not signed:
            return b.urem(x, y) if rem else b.udiv(x, y)
        minus1 = b.icmp_unsigned("==", y, ty((1 << bits) - 1))
        if rem:
            return b.srem(x, b.select(minus1, ty(1), y))
        smin = b.icmp_unsigned("==", x, ty(1 << (bits - 1)))
        fc.trap_if(b.and_(minus1, smin), vm.TRAP_CODES["integer overflow"])
        return b.sdiv(x, y)
    return emit


def _shift(t: str, kind: str):
    ty = LLTYPE[t]
    mask = _BITS[t] - 1

    def emit(fc: L, x, y):
        b = fc.b
        k = b.and_(y, ty(mask))
        return {"shl": b.shl, "shr_s": b.ashr, "shr_u": b.lshr}[kind](x, k)
    return emit


def _rotate(t: str, name: str):
    def emit(fc: L, x, y):
        ty = LLTYPE[t]
        fn = fc.mc.intrinsic(f"{name}.{t}", ty, [ty, ty, ty])
        return fc.b.call(fn, [x, x, y])
    return emit


def _count(t: str, name: str):
    ty = LLTYPE[t]

    def emit(fc: L, x):
        if name == "llvm.ctpop":
            return fc.b.call(fc.mc.intrinsic(f"{name}.{t}", ty, [ty]), [x])
        fn = fc.mc.intrinsic(f"{name}.{t}", ty, [ty, I1])
        return fc.b.call(fn, [x, I1(0)])
    return emit


def _extend(t: str, narrow: ir.IntType):
    ty = LLTYPE[t]
    return lambda fc, x: fc.b.sext(fc.b.trunc(x, narrow), ty)


for _t in ("i32", "i64"):
    _ty = LLTYPE[_t]
    NUMERIC[f"{_t}.eqz"] = _unary(lambda fc, x, _ty=_ty: _bool(fc, fc.b.icmp_unsigned("==", x, _ty(0))))
    for _n, (_op, _s) in _ICMP.items():
        NUMERIC[f"{_t}.{_n}"] = _binary(_icmp(_op, _s))
    NUMERIC[f"{_t}.clz"] = _unary(_count(_t, "llvm.ctlz"))
    NUMERIC[f"{_t}.ctz"] = _unary(_count(_t, "llvm.cttz"))
    NUMERIC[f"{_t}.popcnt"] = _unary(_count(_t, "llvm.ctpop"))
    for _n, _m in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("and", "and_"),
                   ("or", "or_"), ("xor", "xor")):
        NUMERIC[f"{_t}.{_n}"] = _binary(lambda fc, x, y, _m=_m: getattr(fc.b, _m)(x, y))
    NUMERIC[f"{_t}.div_s"] = _binary(_div(_t, True, False))
    NUMERIC[f"{_t}.div_u"] = _binary(_div(_t, False, False))
    NUMERIC[f"{_t}.rem_s"] = _binary(_div(_t, True, True))
    NUMERIC[f"{_t}.rem_u"] = _binary(_div(_t, False, True))
    for _n in ("shl", "shr_s", "shr_u"):
        NUMERIC[f"{_t}.{_n}"] = _binary(_shift(_t, _n))
    NUMERIC[f"{_t}.rotl"] = _binary(_rotate(_t, "llvm.fshl"))
    NUMERIC[f"{_t}.rotr"] = _binary(_rotate(_t, "llvm.fshr"))
NUMERIC["i32.extend8_s"] = _unary(_extend("i32", I8))
NUMERIC["i32.extend16_s"] = _unary(_extend("i32", I16))
NUMERIC["i64.extend8_s"] = _unary(_extend("i64", I8))
NUMERIC["i64.extend16_s"] = _unary(_extend("i64", I16))
NUMERIC["i64.extend32_s"] = _unary(_extend("i64", I32))

# -- floats ---------------------------------------------------------------------------------------
_FCMP = {"eq": "==", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}

for _t in ("f32", "f64"):
    for _n, _op in _FCMP.items():
        NUMERIC[f"{_t}.{_n}"] = _binary(
            lambda fc, x, y, _op=_op: _bool(fc, fc.b.fcmp_ordered(_op, x, y)))
    NUMERIC[f"{_t}.ne"] = _binary(lambda fc, x, y: _bool(fc, fc.b.fcmp_unordered("!=", x, y)))
    for _n, _m in (("add", "fadd"), ("sub", "fsub"), ("mul", "fmul"), ("div", "fdiv")):
        NUMERIC[f"{_t}.{_n}"] = _binary(_arith(_m, _t))
    NUMERIC[f"{_t}.neg"] = _unary(lambda fc, x: fc.b.fneg(x))
    for _n, _i in (("abs", "llvm.fabs"), ("ceil", "llvm.ceil"), ("floor", "llvm.floor"),
                   ("trunc", "llvm.trunc"), ("nearest", "llvm.roundeven"),
                   ("sqrt", "llvm.sqrt")):
        NUMERIC[f"{_t}.{_n}"] = _unary(_intrinsic(_i, _t, 1))
    NUMERIC[f"{_t}.copysign"] = _binary(_intrinsic("llvm.copysign", _t, 2))
    for _n, _i in (("min", "llvm.minimum"), ("max", "llvm.maximum")):
        NUMERIC[f"{_t}.{_n}"] = _binary(_quieted(_intrinsic(_i, _t, 2), _t))

# -- conversions ----------------------------------------------------------------------------------


def _trunc(dst: str, src: str, signed: bool):
    """A trapping truncation: NaN, then the exact open range of representable results."""
    bits = _BITS[dst]
    fty = LLTYPE[src]
    if signed:
        hi = float(1 << (bits - 1))
        lo = -float(1 << (bits - 1)) - 1.0
        lo_exact = src == "f64" and bits == 32
    else:
        hi, lo, lo_exact = float(1 << bits), -1.0, True

    def emit(fc: L, x):
        b = fc.b
        fc.trap_if(b.fcmp_unordered("uno", x, x), vm.TRAP_CODES["invalid conversion to integer"])
        if lo_exact:
            above = b.fcmp_ordered(">", x, ir.Constant(fty, lo))
        else:
            above = b.fcmp_ordered(">=", x, ir.Constant(fty, lo + 1.0))
        inside = b.and_(above, b.fcmp_ordered("<", x, ir.Constant(fty, hi)))
        fc.trap_if(b.not_(inside), vm.TRAP_CODES["integer overflow"])
        return (b.fptosi if signed else b.fptoui)(x, LLTYPE[dst])
    return emit


def _trunc_sat(dst: str, src: str, signed: bool):
    name = f"llvm.fpto{'s' if signed else 'u'}i.sat.{dst}.{src}"

    def emit(fc: L, x):
        return fc.b.call(fc.mc.intrinsic(name, LLTYPE[dst], [LLTYPE[src]]), [x])
    return emit


for _d in ("i32", "i64"):
    for _s in ("f32", "f64"):
        NUMERIC[f"{_d}.trunc_{_s}_s"] = _unary(_trunc(_d, _s, True))
        NUMERIC[f"{_d}.trunc_{_s}_u"] = _unary(_trunc(_d, _s, False))
        NUMERIC[f"{_d}.trunc_sat_{_s}_s"] = _unary(_trunc_sat(_d, _s, True))
        NUMERIC[f"{_d}.trunc_sat_{_s}_u"] = _unary(_trunc_sat(_d, _s, False))
for _d in ("f32", "f64"):
    for _s in ("i32", "i64"):
        NUMERIC[f"{_d}.convert_{_s}_s"] = _unary(lambda fc, x, _d=_d: fc.b.sitofp(x, LLTYPE[_d]))
        NUMERIC[f"{_d}.convert_{_s}_u"] = _unary(lambda fc, x, _d=_d: fc.b.uitofp(x, LLTYPE[_d]))
NUMERIC["i32.wrap_i64"] = _unary(lambda fc, x: fc.b.trunc(x, I32))
NUMERIC["i64.extend_i32_s"] = _unary(lambda fc, x: fc.b.sext(x, I64))
NUMERIC["i64.extend_i32_u"] = _unary(lambda fc, x: fc.b.zext(x, I64))
NUMERIC["f32.demote_f64"] = _unary(_demote)
NUMERIC["f64.promote_f32"] = _unary(lambda fc, x: fc.b.fpext(x, F64))
NUMERIC["i32.reinterpret_f32"] = _unary(lambda fc, x: fc.b.bitcast(x, I32))
NUMERIC["i64.reinterpret_f64"] = _unary(lambda fc, x: fc.b.bitcast(x, I64))
NUMERIC["f32.reinterpret_i32"] = _unary(lambda fc, x: fc.b.bitcast(x, F32))
NUMERIC["f64.reinterpret_i64"] = _unary(lambda fc, x: fc.b.bitcast(x, F64))
