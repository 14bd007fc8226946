"""Lowerings of numeric instructions: one expression template per mnemonic.

Templates use ``{0}``, ``{1}`` for the operands (bottom first). Cheap operations are inline
Python expressions with explicit masks (i32/i64 are unsigned ints); the rest call helpers
of ``runtime.numerics`` bound under the names in ``helpers.NAMESPACE``. ``TRAPPING`` lists
the ones that may trap (their results are "impure": evaluated in wasm order).
"""
from __future__ import annotations

from ...runtime.numerics import f32_from_bits, f64_from_bits
from .codegen import Entry, FunctionCompiler
from .helpers import NAMESPACE

__all__ = ["NUMERIC", "TEMPLATES", "TRAPPING", "float_literal"]

_W = {"i32": (32, "4294967295", "0x80000000"),
      "i64": (64, "18446744073709551615", "0x8000000000000000")}

TEMPLATES: dict[str, str] = {}
TRAPPING: set[str] = set()


def _int_family(t: str) -> None:
    bits, mask, sign = _W[t]
    sh = bits - 1
    TEMPLATES.update({
        f"{t}.eqz": "({0} == 0)",
        f"{t}.eq": "({0} == {1})", f"{t}.ne": "({0} != {1})",
        f"{t}.lt_u": "({0} < {1})", f"{t}.gt_u": "({0} > {1})",
        f"{t}.le_u": "({0} <= {1})", f"{t}.ge_u": "({0} >= {1})",
        f"{t}.lt_s": f"(({{0}} ^ {sign}) < ({{1}} ^ {sign}))",
        f"{t}.gt_s": f"(({{0}} ^ {sign}) > ({{1}} ^ {sign}))",
        f"{t}.le_s": f"(({{0}} ^ {sign}) <= ({{1}} ^ {sign}))",
        f"{t}.ge_s": f"(({{0}} ^ {sign}) >= ({{1}} ^ {sign}))",
        f"{t}.clz": f"clz{bits}({{0}})", f"{t}.ctz": f"ctz{bits}({{0}})",
        f"{t}.popcnt": "({0}).bit_count()",
        f"{t}.add": f"(({{0}} + {{1}}) & {mask})",
        f"{t}.sub": f"(({{0}} - {{1}}) & {mask})",
        f"{t}.mul": f"(({{0}} * {{1}}) & {mask})",
        f"{t}.div_s": f"div_s{bits}({{0}}, {{1}})",
        f"{t}.div_u": "({0} // {1})",
        f"{t}.rem_s": f"rem_s{bits}({{0}}, {{1}})",
        f"{t}.rem_u": "({0} % {1})",
        f"{t}.and": "({0} & {1})", f"{t}.or": "({0} | {1})", f"{t}.xor": "({0} ^ {1})",
        f"{t}.shl": f"(({{0}} << ({{1}} & {sh})) & {mask})",
        f"{t}.shr_u": f"({{0}} >> ({{1}} & {sh}))",
        f"{t}.shr_s": f"(((({{0}} ^ {sign}) - {sign}) >> ({{1}} & {sh})) & {mask})",
        f"{t}.rotl": f"rotl{bits}({{0}}, {{1}})", f"{t}.rotr": f"rotr{bits}({{0}}, {{1}})",
        f"{t}.extend8_s": f"(((({{0}} & 0xFF) ^ 0x80) - 0x80) & {mask})",
        f"{t}.extend16_s": f"(((({{0}} & 0xFFFF) ^ 0x8000) - 0x8000) & {mask})",
    })
    TRAPPING.update({f"{t}.div_s", f"{t}.div_u", f"{t}.rem_s", f"{t}.rem_u"})


def _float_family(t: str) -> None:
    r = "fround" if t == "f32" else ""
    TEMPLATES.update({
        f"{t}.eq": "({0} == {1})", f"{t}.ne": "({0} != {1})", f"{t}.lt": "({0} < {1})",
        f"{t}.gt": "({0} > {1})", f"{t}.le": "({0} <= {1})", f"{t}.ge": "({0} >= {1})",
        f"{t}.abs": "abs({0})", f"{t}.neg": "(-{0})",
        f"{t}.ceil": "fceil({0})", f"{t}.floor": "ffloor({0})", f"{t}.trunc": "ftrunc({0})",
        f"{t}.nearest": "fnearest({0})",
        f"{t}.sqrt": "f32_sqrt({0})" if t == "f32" else "fsqrt({0})",
        f"{t}.add": f"{r}({{0}} + {{1}})", f"{t}.sub": f"{r}({{0}} - {{1}})",
        f"{t}.mul": f"{r}({{0}} * {{1}})",
        f"{t}.div": "f32_div({0}, {1})" if t == "f32" else "fdiv({0}, {1})",
        f"{t}.min": "fmin({0}, {1})", f"{t}.max": "fmax({0}, {1})",
        f"{t}.copysign": "copysign({0}, {1})",
    })


_int_family("i32")
_int_family("i64")
_float_family("f32")
_float_family("f64")
TEMPLATES["i64.extend32_s"] = "(((({0} & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000) & 18446744073709551615)"
TEMPLATES.update({
    "i32.wrap_i64": "({0} & 4294967295)",
    "i64.extend_i32_s": "((({0} ^ 0x80000000) - 0x80000000) & 18446744073709551615)",
    "i64.extend_i32_u": "{0}",
    "f32.demote_f64": "fround({0})",
    "f64.promote_f32": "({0} * 1.0)",
    "f32.convert_i32_s": "convert_i32_s_f32({0})",
    "f32.convert_i32_u": "convert_i32_u_f32({0})",
    "f32.convert_i64_s": "convert_i64_s_f32({0})",
    "f32.convert_i64_u": "convert_i64_u_f32({0})",
    "f64.convert_i32_s": "float(({0} ^ 0x80000000) - 0x80000000)",
    "f64.convert_i32_u": "float({0})",
    "f64.convert_i64_s": "float(({0} ^ 0x8000000000000000) - 0x8000000000000000)",
    "f64.convert_i64_u": "float({0})",
    "i32.reinterpret_f32": "f32_to_bits({0})",
    "i64.reinterpret_f64": "f64_to_bits({0})",
    "f32.reinterpret_i32": "f32_from_bits({0})",
    "f64.reinterpret_i64": "f64_from_bits({0})",
})
for _dst in ("i32", "i64"):
    for _src in ("f32", "f64"):
        for _sx in ("s", "u"):
            TEMPLATES[f"{_dst}.trunc_{_src}_{_sx}"] = f"trunc_{_dst}_{_sx}({{0}})"
            TRAPPING.add(f"{_dst}.trunc_{_src}_{_sx}")
            TEMPLATES[f"{_dst}.trunc_sat_{_src}_{_sx}"] = f"trunc_sat_{_dst}_{_sx}({{0}})"


def float_literal(x: float, fc: FunctionCompiler) -> str:
    """Python source for a float constant; NaNs and infinities become bound constants."""
    if x != x or x in (float("inf"), float("-inf")):
        return fc.mc.constant(x)
    text = repr(x)
    return f"({text})" if text.startswith("-") else text


def _const_i(fc: FunctionCompiler, ins, pos: int) -> None:
    mask = 0xFFFFFFFF if ins[0] == "i32.const" else 0xFFFFFFFFFFFFFFFF
    fc.push_const(str(ins[1][0] & mask))


def _const_f32(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.push_const(float_literal(f32_from_bits(ins[1][0]), fc))


def _const_f64(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.push_const(float_literal(f64_from_bits(ins[1][0]), fc))


#: operators whose result is a Python bool (turned into 0/1 only where it is stored)
BOOLEAN = {n for n in TEMPLATES if n.split(".")[1] in (
    "eqz", "eq", "ne", "lt", "gt", "le", "ge", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u",
    "ge_s", "ge_u")}
#: operators whose result is a bool exactly when all operands are
_BOOL_PRESERVING = {n for n in TEMPLATES if n.split(".")[1] in ("and", "or", "xor")} | {
    "i64.extend_i32_u"}


def _literal_int(e) -> bool:
    return not e.deps and not e.impure and e.expr.isdigit()


def _fold(fc: FunctionCompiler, template: str, args: list) -> bool:
    """Evaluate an integer operation on literals now; False when it cannot be folded."""
    try:
        value = eval(template.format(*[a.expr for a in args]), dict(NAMESPACE))
    except Exception:
        return False
    if isinstance(value, float):
        fc.push_const(float_literal(value, fc))
    else:
        fc.push_const(str(int(value)))
    return True


def _lowering(name: str, template: str, arity: int):
    trapping = name in TRAPPING
    boolean = name in BOOLEAN
    preserving = name in _BOOL_PRESERVING
    int_operands = name.split(".")[1].split("_")[-1] not in ("f32", "f64") and \
        not name.startswith(("f32.", "f64."))

    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        args = fc.pop_n(arity)
        if int_operands and all(_literal_int(a) for a in args) and _fold(fc, template, args):
            return
        fc.push_op(template, args, trapping,
                   boolean or (preserving and all(a.boolean for a in args)))
    return lower


NUMERIC = {"i32.const": _const_i, "i64.const": _const_i, "f32.const": _const_f32,
           "f64.const": _const_f64}
for _name, _template in TEMPLATES.items():
    _arity = 2 if "{1}" in _template else 1
    NUMERIC[_name] = _lowering(_name, _template, _arity)


# --- integer ring operations with proven ranges ------------------------------------------
#
# An i32/i64 value is exact (in [0, 2^N)) in ``Entry.expr``. Sums, differences, products,
# bitwise operations and left shifts are also right modulo 2^N on unreduced operands, so a
# chain of them carries ``Entry.raw`` and masks once, where an exact value is needed; and a
# result whose operands' bounds keep it below 2^N needs no mask at all.

def _bound(e, mask: int) -> int:
    if e.boolean:
        return 1
    if e.bound is not None:
        return e.bound
    if _literal_int(e):
        return int(e.expr)
    return mask


def _congruent(e) -> str:
    return e.raw if e.raw is not None else e.expr


def _ring(name: str, bits: int):
    mask = (1 << bits) - 1
    mod = 1 << bits
    op = name.split(".")[1]
    fallback = NUMERIC[name]

    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        a, b = fc.stack[-2], fc.stack[-1]
        if _literal_int(a) and _literal_int(b):
            fallback(fc, ins, pos)
            return
        del fc.stack[-2:]
        deps = a.deps | b.deps if a.deps and b.deps else a.deps or b.deps
        impure = a.impure or b.impure
        depth = max(a.depth, b.depth) + 1
        ba, bb = _bound(a, mask), _bound(b, mask)
        ea, eb = a.val, b.val
        exact = a.raw is None and b.raw is None
        expr = raw = scaled = None
        bound = None
        fix = 0
        if op == "add":
            if ba + bb <= mask:
                expr, bound = f"({ea} + {eb})", ba + bb
            elif _literal_int(b) and a.expr.isidentifier():
                c = int(b.expr)
                raw, fix = f"({ea} + {c})", 1
                expr = f"({ea} + {c} if {ea} < {mod - c} else {ea} - {mod - c})"
            else:
                raw, fix = f"({_congruent(a)} + {_congruent(b)})", 1 if exact else 0
        elif op == "sub":
            if _literal_int(b) and a.expr.isidentifier():
                c = int(b.expr)
                raw, fix = f"({ea} - {c})", 2
                expr = f"({ea} - {c} if {ea} >= {c} else {ea} + {mod - c})"
            else:
                raw, fix = f"({_congruent(a)} - {_congruent(b)})", 2 if exact else 0
        elif op == "mul":
            if ba * bb <= mask:
                expr, bound = f"({ea} * {eb})", ba * bb
            else:
                raw = f"({_congruent(a)} * {_congruent(b)})"
        elif op == "and":
            if a.raw is None or b.raw is None:
                expr = f"({_congruent(a)} & {_congruent(b)})"
                bound = min(x for x, e in ((ba, a), (bb, b)) if e.raw is None)
            else:
                raw = f"({a.raw} & {b.raw})"
        elif op in ("or", "xor"):
            sym = "|" if op == "or" else "^"
            if exact:
                expr = f"({ea} {sym} {eb})"
                bound = (1 << max(ba, bb).bit_length()) - 1
            else:
                raw = f"({_congruent(a)} {sym} {_congruent(b)})"
        else:   # shl by a literal
            k = int(b.expr) & (bits - 1)
            if bits == 32 and a.raw is None:
                scaled = (ea, k, ba)
            if (ba << k) <= mask:
                expr, bound = f"({ea} << {k})", ba << k
            else:
                raw = f"({_congruent(a)} << {k})"
        if expr is None:
            expr = f"({raw} & {mask})"
        boolean = op in ("and", "or", "xor") and a.boolean and b.boolean
        if boolean:
            expr = f"({a.expr} {'&' if op == 'and' else '|' if op == 'or' else '^'} {b.expr})"
            raw, bound, fix = None, 1, 0
        fc.push_entry(Entry(expr, deps, impure, depth, boolean, bound, raw, fix,
                            mod if raw is not None else 0, scaled))
    return lower


def _shift(name: str, bits: int):
    """Shifts by a literal count: the count is reduced now; ``shr`` of a value known to be
    below the sign bit needs no sign handling."""
    mask = (1 << bits) - 1
    op = name.split(".")[1]
    general = NUMERIC[name]
    ring = _ring(name, bits) if op == "shl" else None

    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        a, b = fc.stack[-2], fc.stack[-1]
        if not _literal_int(b) or _literal_int(a):
            general(fc, ins, pos)
            return
        if ring is not None:
            ring(fc, ins, pos)
            return
        k = int(b.expr) & (bits - 1)
        ba = _bound(a, mask)
        if op == "shr_s" and ba > mask >> 1:
            del fc.stack[-1]
            fc.stack.append(Entry(str(k)))
            general(fc, ins, pos)
            return
        del fc.stack[-2:]
        expr = f"({a.val} >> {k})" if k else a.val
        fc.push_entry(Entry(expr, a.deps, a.impure, a.depth + 1, False, ba >> k))
    return lower


for _t, _bits in (("i32", 32), ("i64", 64)):
    for _op in ("add", "sub", "mul", "and", "or", "xor"):
        NUMERIC[f"{_t}.{_op}"] = _ring(f"{_t}.{_op}", _bits)
    for _op in ("shl", "shr_u", "shr_s"):
        NUMERIC[f"{_t}.{_op}"] = _shift(f"{_t}.{_op}", _bits)
