"""Lowerings of SIMD (0xFD) instructions: one per mnemonic, on v128 ints in [0, 2^128).

Bit moves that fit an expression are inline (constants, bitwise ops, splats of integers,
lane extraction and replacement, f32/f64 ``abs``/``neg`` on the sign bits); lane-wise
arithmetic calls the functions of ``runtime.simd.OPERATIONS``, bound in the namespace as
``sv_<shape>_<op>``; loads and stores call ``runtime.simd``'s memory helpers, which
raise the out-of-bounds trap themselves. Loads are impure (they read memory).
"""
from __future__ import annotations

from ...runtime import simd
from ...spec.opcodes import OPS
from .codegen import FunctionCompiler
from .helpers import NAMESPACE

__all__ = ["SIMD"]

_M128 = str(simd.M128)
_WIDTH = {"i8x16": 8, "i16x8": 16, "i32x4": 32, "i64x2": 64, "f32x4": 32, "f64x2": 64}


def _helper(name: str) -> str:
    return "sv_" + name.replace(".", "_")


NAMESPACE.update({_helper(n): fn for n, fn in simd.OPERATIONS.items()})
NAMESPACE.update({
    "sv_load": simd.v128_load, "sv_store": simd.v128_store,
    "sv_load_extend": simd.load_extend, "sv_load_splat": simd.load_splat,
    "sv_load_zero": simd.load_zero, "sv_load_lane": simd.load_lane,
    "sv_store_lane": simd.store_lane, "sv_splat": simd.splat, "sv_shuffle": simd.shuffle,
    "sv_swizzle": simd.swizzle,
})

#: inline templates of pure operations on ``{0}``, ``{1}``, ``{2}``
TEMPLATES: dict[str, str] = {
    "v128.not": f"({{0}} ^ {_M128})",
    "v128.and": "({0} & {1})", "v128.or": "({0} | {1})", "v128.xor": "({0} ^ {1})",
    "v128.andnot": f"({{0}} & ({{1}} ^ {_M128}))",
    "v128.bitselect": f"(({{0}} & {{2}}) | ({{1}} & ({{2}} ^ {_M128})))",
    "i8x16.swizzle": "sv_swizzle({0}, {1})",
    "i8x16.splat": "sv_splat({0}, 8)", "i16x8.splat": "sv_splat({0}, 16)",
    "i32x4.splat": "sv_splat({0}, 32)", "i64x2.splat": "sv_splat({0}, 64)",
    "f32x4.splat": "sv_splat(f32_to_bits({0}), 32)",
    "f64x2.splat": "sv_splat(f64_to_bits({0}), 64)",
}
for _shape, _w in (("f32x4", 32), ("f64x2", 64)):
    _signs = sum(1 << (i * _w + _w - 1) for i in range(128 // _w))
    TEMPLATES[f"{_shape}.abs"] = f"({{0}} & {simd.M128 ^ _signs})"
    TEMPLATES[f"{_shape}.neg"] = f"({{0}} ^ {_signs})"
for _n in simd.OPERATIONS:
    if _n in OPS and _n not in TEMPLATES:
        TEMPLATES[_n] = _helper(_n) + "(" + ", ".join(
            f"{{{i}}}" for i in range(len(OPS[_n].params))) + ")"


def _template(template: str, n: int):
    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        fc.push_op(template, fc.pop_n(n))
    return lower


def _const(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.push_const(str(int.from_bytes(bytes(ins[1][0]), "little")))


def _any_true(fc: FunctionCompiler, ins, pos: int) -> None:
    fc.push_op("({0} != 0)", fc.pop_n(1), boolean=True)


def _shuffle(fc: FunctionCompiler, ins, pos: int) -> None:
    lanes = tuple(ins[1][0])
    fc.push_op(f"sv_shuffle({{0}}, {{1}}, {lanes!r})", fc.pop_n(2))


def _extract(name: str):
    shape, op = name.split(".")
    w = _WIDTH[shape]
    m = (1 << w) - 1

    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        sh = ins[1][0] * w
        bits = f"(({{0}} >> {sh}) & {m})" if sh else f"({{0}} & {m})"
        if op == "extract_lane_s":
            sign = 1 << (w - 1)
            expr = f"((({bits} ^ {sign}) - {sign}) & 4294967295)"
        elif shape == "f32x4":
            expr = f"f32_from_bits({bits})"
        elif shape == "f64x2":
            expr = f"f64_from_bits({bits})"
        else:
            expr = bits
        fc.push_op(expr, fc.pop_n(1))
    return lower


def _replace(name: str):
    shape = name.split(".")[0]
    w = _WIDTH[shape]
    m = (1 << w) - 1

    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        sh = ins[1][0] * w
        keep = simd.M128 ^ (m << sh)
        if shape == "f32x4":
            x = "f32_to_bits({1})"
        elif shape == "f64x2":
            x = "f64_to_bits({1})"
        else:
            x = f"({{1}} & {m})"
        fc.push_op(f"(({{0}} & {keep}) | ({x} << {sh}))", fc.pop_n(2))
    return lower


def _ea(a, offset: int) -> str:
    return f"{a.expr} + {offset}" if offset else a.expr


#: load mnemonic -> call template after ``(mem, ea`` (``{v}``, ``{lane}``: lane loads)
_LOADS = {
    "v128.load": "sv_load(mem, {ea})",
    "v128.load8x8_s": "sv_load_extend(mem, {ea}, 8, True)",
    "v128.load8x8_u": "sv_load_extend(mem, {ea}, 8, False)",
    "v128.load16x4_s": "sv_load_extend(mem, {ea}, 16, True)",
    "v128.load16x4_u": "sv_load_extend(mem, {ea}, 16, False)",
    "v128.load32x2_s": "sv_load_extend(mem, {ea}, 32, True)",
    "v128.load32x2_u": "sv_load_extend(mem, {ea}, 32, False)",
    "v128.load8_splat": "sv_load_splat(mem, {ea}, 8)",
    "v128.load16_splat": "sv_load_splat(mem, {ea}, 16)",
    "v128.load32_splat": "sv_load_splat(mem, {ea}, 32)",
    "v128.load64_splat": "sv_load_splat(mem, {ea}, 64)",
    "v128.load32_zero": "sv_load_zero(mem, {ea}, 32)",
    "v128.load64_zero": "sv_load_zero(mem, {ea}, 64)",
}


def _load(template: str):
    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        a = fc.pop()
        expr = template.format(ea=_ea(a, ins[1][0].offset))
        fc.push_op(expr.replace("{", "{{").replace("}", "}}"), [a], True)
    return lower


def _load_lane(w: int):
    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        memarg, lane = ins[1][0], ins[1][1]
        a, v = fc.pop_n(2)
        expr = f"sv_load_lane(mem, {_ea(a, memarg.offset)}, {w}, {v.expr}, {lane})"
        fc.push_op(expr.replace("{", "{{").replace("}", "}}"), [a, v], True)
    return lower


def _store_statement(fc: FunctionCompiler, call: str) -> None:
    if fc.stack[-1].impure and fc.stack[-2].impure:
        fc.materialize(len(fc.stack) - 2)
    a, v = fc.pop_n(2)
    fc.flush_impure()
    fc.emit(call.format(a=a, v=v))


def _store(fc: FunctionCompiler, ins, pos: int) -> None:
    off = ins[1][0].offset
    _store_statement(fc, "sv_store(mem, {a.expr}" + (f" + {off}" if off else "") + ", {v.val})")


def _store_lane(w: int):
    def lower(fc: FunctionCompiler, ins, pos: int) -> None:
        memarg, lane = ins[1][0], ins[1][1]
        off = f" + {memarg.offset}" if memarg.offset else ""
        _store_statement(fc, "sv_store_lane(mem, {a.expr}" + off + f", {w}, {{v.val}}, {lane})")
    return lower


SIMD: dict = {name: _template(t, len(OPS[name].params)) for name, t in TEMPLATES.items()
              if name in OPS}
SIMD.update({name: _load(t) for name, t in _LOADS.items()})
SIMD.update({
    "v128.const": _const, "v128.any_true": _any_true, "i8x16.shuffle": _shuffle,
    "v128.store": _store,
})
for _w in (8, 16, 32, 64):
    SIMD[f"v128.load{_w}_lane"] = _load_lane(_w)
    SIMD[f"v128.store{_w}_lane"] = _store_lane(_w)
for _name in OPS:
    if ".extract_lane" in _name:
        SIMD[_name] = _extract(_name)
    elif ".replace_lane" in _name:
        SIMD[_name] = _replace(_name)
