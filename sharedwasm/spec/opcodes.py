"""The instruction table: one row per instruction, the only place its static facts live.

Every other layer (decoder, encoder, validator, text parser, printer, execution tiers) joins
on the spec mnemonic. Semantics never go here: only encoding, immediates, plain type
signatures, natural alignment and the proposal an instruction belongs to.

Immediate kinds (each is one element of ``Instr.args``, in binary order):

``blocktype``  None (empty), a value type string, or a type index (int)
``labelidx`` ``funcidx`` ``typeidx`` ``tableidx`` ``localidx`` ``globalidx``
``dataidx`` ``elemidx`` ``tagidx``  an unsigned index (int)
``labelvec``   a tuple of label indices (the ``br_table`` targets before the default)
``memidx``     a memory index; a reserved zero byte in the binary format
``memarg``     a ``MemArg(align, offset)``; align is the log2 exponent
``i32`` ``i64``  a signed integer as written in the binary format
``f32`` ``f64``  the raw IEEE bit pattern as an unsigned int (keeps NaN payloads)
``v128``       16 raw bytes (``bytes``)
``lane``       a lane index (int)
``shuffle``    16 lane indices (tuple of ints)
``valtypes``   a tuple of value types (typed ``select``)
``heaptype``   ``"func"``, ``"extern"`` or ``"exn"`` (``ref.null``)
``catches``    a tuple of ``Catch`` clauses (``try_table``)
``zero``       a reserved zero byte with no meaning (``atomic.fence``)
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OpInfo", "OPS", "BY_CODE", "PREFIXES", "FEATURES", "op"]

PREFIX_MISC = 0xFC
PREFIX_SIMD = 0xFD
PREFIX_THREADS = 0xFE
PREFIXES = (PREFIX_MISC, PREFIX_SIMD, PREFIX_THREADS)

FEATURES = ("mvp", "sign-ext", "sat-trunc", "reference-types", "bulk-memory", "simd",
            "threads", "exceptions", "multi-value", "tail-call")


@dataclass(frozen=True, slots=True)
class OpInfo:
    """Static facts about one instruction.

    ``params``/``results`` are None when the typing rule is not a plain signature
    (control, variables, references, parametric and table/memory-index-dependent ones);
    the validator then has a rule of its own keyed by ``name``.
    """

    name: str
    prefix: int | None
    code: int
    imms: tuple[str, ...]
    params: tuple[str, ...] | None
    results: tuple[str, ...] | None
    align: int | None = None          # natural alignment (log2) of a memory access
    feature: str = "mvp"

    @property
    def is_memory_access(self) -> bool:
        return self.align is not None

    @property
    def is_atomic(self) -> bool:
        return self.prefix == PREFIX_THREADS


OPS: dict[str, OpInfo] = {}
BY_CODE: dict[tuple[int | None, int], OpInfo] = {}


def _sig(text: str | None) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    if text is None:
        return None, None
    left, right = text.split("->")
    return tuple(left.split()), tuple(right.split())


def _add(name: str, prefix: int | None, code: int, imms: str = "", sig: str | None = None,
         align: int | None = None, feature: str = "mvp") -> None:
    params, results = _sig(sig)
    info = OpInfo(name, prefix, code, tuple(imms.split()), params, results, align, feature)
    assert name not in OPS and (prefix, code) not in BY_CODE, name
    OPS[name] = info
    BY_CODE[(prefix, code)] = info


def op(name: str) -> OpInfo:
    return OPS[name]


# --- control (signatures depend on block types and labels) --------------------------------
for _name, _code, _imms, _feat in [
    ("unreachable", 0x00, "", "mvp"), ("nop", 0x01, "", "mvp"),
    ("block", 0x02, "blocktype", "mvp"), ("loop", 0x03, "blocktype", "mvp"),
    ("if", 0x04, "blocktype", "mvp"), ("else", 0x05, "", "mvp"),
    ("throw", 0x08, "tagidx", "exceptions"), ("throw_ref", 0x0A, "", "exceptions"),
    ("end", 0x0B, "", "mvp"), ("br", 0x0C, "labelidx", "mvp"), ("br_if", 0x0D, "labelidx", "mvp"),
    ("br_table", 0x0E, "labelvec labelidx", "mvp"), ("return", 0x0F, "", "mvp"),
    ("call", 0x10, "funcidx", "mvp"), ("call_indirect", 0x11, "typeidx tableidx", "mvp"),
    ("return_call", 0x12, "funcidx", "tail-call"),
    ("return_call_indirect", 0x13, "typeidx tableidx", "tail-call"),
    ("try_table", 0x1F, "blocktype catches", "exceptions"),
    ("drop", 0x1A, "", "mvp"), ("select", 0x1B, "", "mvp"),
    ("select_t", 0x1C, "valtypes", "reference-types"),
    ("local.get", 0x20, "localidx", "mvp"), ("local.set", 0x21, "localidx", "mvp"),
    ("local.tee", 0x22, "localidx", "mvp"), ("global.get", 0x23, "globalidx", "mvp"),
    ("global.set", 0x24, "globalidx", "mvp"),
    ("table.get", 0x25, "tableidx", "reference-types"),
    ("table.set", 0x26, "tableidx", "reference-types"),
    ("memory.size", 0x3F, "memidx", "mvp"), ("memory.grow", 0x40, "memidx", "mvp"),
    ("ref.null", 0xD0, "heaptype", "reference-types"),
    ("ref.is_null", 0xD1, "", "reference-types"),
    ("ref.func", 0xD2, "funcidx", "reference-types"),
]:
    _add(_name, None, _code, _imms, None, feature=_feat)

# --- memory -------------------------------------------------------------------------------
for _name, _code, _align, _sigtext in [
    ("i32.load", 0x28, 2, "i32 -> i32"), ("i64.load", 0x29, 3, "i32 -> i64"),
    ("f32.load", 0x2A, 2, "i32 -> f32"), ("f64.load", 0x2B, 3, "i32 -> f64"),
    ("i32.load8_s", 0x2C, 0, "i32 -> i32"), ("i32.load8_u", 0x2D, 0, "i32 -> i32"),
    ("i32.load16_s", 0x2E, 1, "i32 -> i32"), ("i32.load16_u", 0x2F, 1, "i32 -> i32"),
    ("i64.load8_s", 0x30, 0, "i32 -> i64"), ("i64.load8_u", 0x31, 0, "i32 -> i64"),
    ("i64.load16_s", 0x32, 1, "i32 -> i64"), ("i64.load16_u", 0x33, 1, "i32 -> i64"),
    ("i64.load32_s", 0x34, 2, "i32 -> i64"), ("i64.load32_u", 0x35, 2, "i32 -> i64"),
    ("i32.store", 0x36, 2, "i32 i32 ->"), ("i64.store", 0x37, 3, "i32 i64 ->"),
    ("f32.store", 0x38, 2, "i32 f32 ->"), ("f64.store", 0x39, 3, "i32 f64 ->"),
    ("i32.store8", 0x3A, 0, "i32 i32 ->"), ("i32.store16", 0x3B, 1, "i32 i32 ->"),
    ("i64.store8", 0x3C, 0, "i32 i64 ->"), ("i64.store16", 0x3D, 1, "i32 i64 ->"),
    ("i64.store32", 0x3E, 2, "i32 i64 ->"),
]:
    _add(_name, None, _code, "memarg", _sigtext, _align)

# --- constants ----------------------------------------------------------------------------
for _t, _code in (("i32", 0x41), ("i64", 0x42), ("f32", 0x43), ("f64", 0x44)):
    _add(f"{_t}.const", None, _code, _t, f"-> {_t}")

# --- numeric ------------------------------------------------------------------------------
_ITEST = ["eqz"]
_IREL = ["eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"]
_FREL = ["eq", "ne", "lt", "gt", "le", "ge"]
_IUN = ["clz", "ctz", "popcnt"]
_IBIN = ["add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor",
         "shl", "shr_s", "shr_u", "rotl", "rotr"]
_FUN = ["abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt"]
_FBIN = ["add", "sub", "mul", "div", "min", "max", "copysign"]


def _run(code: int, t: str, names: list[str], sig: str, prefix: int | None = None,
         feature: str = "mvp") -> int:
    for n in names:
        _add(f"{t}.{n}", prefix, code, "", sig.replace("T", t), feature=feature)
        code += 1
    return code


_run(0x45, "i32", _ITEST, "T -> i32")
_run(0x46, "i32", _IREL, "T T -> i32")
_run(0x50, "i64", _ITEST, "T -> i32")
_run(0x51, "i64", _IREL, "T T -> i32")
_run(0x5B, "f32", _FREL, "T T -> i32")
_run(0x61, "f64", _FREL, "T T -> i32")
_run(0x67, "i32", _IUN, "T -> T")
_run(0x6A, "i32", _IBIN, "T T -> T")
_run(0x79, "i64", _IUN, "T -> T")
_run(0x7C, "i64", _IBIN, "T T -> T")
_run(0x8B, "f32", _FUN, "T -> T")
_run(0x92, "f32", _FBIN, "T T -> T")
_run(0x99, "f64", _FUN, "T -> T")
_run(0xA0, "f64", _FBIN, "T T -> T")

for _i, _name in enumerate([
    "i32.wrap_i64", "i32.trunc_f32_s", "i32.trunc_f32_u", "i32.trunc_f64_s", "i32.trunc_f64_u",
    "i64.extend_i32_s", "i64.extend_i32_u", "i64.trunc_f32_s", "i64.trunc_f32_u",
    "i64.trunc_f64_s", "i64.trunc_f64_u", "f32.convert_i32_s", "f32.convert_i32_u",
    "f32.convert_i64_s", "f32.convert_i64_u", "f32.demote_f64", "f64.convert_i32_s",
    "f64.convert_i32_u", "f64.convert_i64_s", "f64.convert_i64_u", "f64.promote_f32",
    "i32.reinterpret_f32", "i64.reinterpret_f64", "f32.reinterpret_i32", "f64.reinterpret_i64",
]):
    _dst, _rest = _name.split(".")
    _src = _rest.split("_")[1]
    _add(_name, None, 0xA7 + _i, "", f"{_src} -> {_dst}")

for _i, (_name, _t) in enumerate([("i32.extend8_s", "i32"), ("i32.extend16_s", "i32"),
                                  ("i64.extend8_s", "i64"), ("i64.extend16_s", "i64"),
                                  ("i64.extend32_s", "i64")]):
    _add(_name, None, 0xC0 + _i, "", f"{_t} -> {_t}", feature="sign-ext")

for _i, _name in enumerate(["i32.trunc_sat_f32_s", "i32.trunc_sat_f32_u", "i32.trunc_sat_f64_s",
                            "i32.trunc_sat_f64_u", "i64.trunc_sat_f32_s", "i64.trunc_sat_f32_u",
                            "i64.trunc_sat_f64_s", "i64.trunc_sat_f64_u"]):
    _dst, _rest = _name.split(".")
    _add(_name, PREFIX_MISC, _i, "", f"{_rest.split('_')[2]} -> {_dst}", feature="sat-trunc")

# --- bulk memory and tables ---------------------------------------------------------------
for _name, _code, _imms, _sigtext, _feat in [
    ("memory.init", 8, "dataidx memidx", "i32 i32 i32 ->", "bulk-memory"),
    ("data.drop", 9, "dataidx", "->", "bulk-memory"),
    ("memory.copy", 10, "memidx memidx", "i32 i32 i32 ->", "bulk-memory"),
    ("memory.fill", 11, "memidx", "i32 i32 i32 ->", "bulk-memory"),
    ("table.init", 12, "elemidx tableidx", "i32 i32 i32 ->", "bulk-memory"),
    ("elem.drop", 13, "elemidx", "->", "bulk-memory"),
    ("table.copy", 14, "tableidx tableidx", "i32 i32 i32 ->", "bulk-memory"),
    ("table.grow", 15, "tableidx", None, "reference-types"),
    ("table.size", 16, "tableidx", "-> i32", "reference-types"),
    ("table.fill", 17, "tableidx", None, "reference-types"),
]:
    _add(_name, PREFIX_MISC, _code, _imms, _sigtext, feature=_feat)

# --- SIMD ---------------------------------------------------------------------------------
_S = PREFIX_SIMD


def _simd(code: int, name: str, imms: str, sig: str, align: int | None = None) -> None:
    _add(name, _S, code, imms, sig, align, feature="simd")


for _code, _name, _align in [
    (0, "v128.load", 4), (1, "v128.load8x8_s", 3), (2, "v128.load8x8_u", 3),
    (3, "v128.load16x4_s", 3), (4, "v128.load16x4_u", 3), (5, "v128.load32x2_s", 3),
    (6, "v128.load32x2_u", 3), (7, "v128.load8_splat", 0), (8, "v128.load16_splat", 1),
    (9, "v128.load32_splat", 2), (10, "v128.load64_splat", 3),
    (92, "v128.load32_zero", 2), (93, "v128.load64_zero", 3),
]:
    _simd(_code, _name, "memarg", "i32 -> v128", _align)
_simd(11, "v128.store", "memarg", "i32 v128 ->", 4)
_simd(12, "v128.const", "v128", "-> v128")
_simd(13, "i8x16.shuffle", "shuffle", "v128 v128 -> v128")
_simd(14, "i8x16.swizzle", "", "v128 v128 -> v128")
for _i, (_shape, _t) in enumerate([("i8x16", "i32"), ("i16x8", "i32"), ("i32x4", "i32"),
                                   ("i64x2", "i64"), ("f32x4", "f32"), ("f64x2", "f64")]):
    _simd(15 + _i, f"{_shape}.splat", "", f"{_t} -> v128")
for _code, _name, _t in [
    (21, "i8x16.extract_lane_s", "i32"), (22, "i8x16.extract_lane_u", "i32"),
    (24, "i16x8.extract_lane_s", "i32"), (25, "i16x8.extract_lane_u", "i32"),
    (27, "i32x4.extract_lane", "i32"), (29, "i64x2.extract_lane", "i64"),
    (31, "f32x4.extract_lane", "f32"), (33, "f64x2.extract_lane", "f64"),
]:
    _simd(_code, _name, "lane", f"v128 -> {_t}")
for _code, _name, _t in [
    (23, "i8x16.replace_lane", "i32"), (26, "i16x8.replace_lane", "i32"),
    (28, "i32x4.replace_lane", "i32"), (30, "i64x2.replace_lane", "i64"),
    (32, "f32x4.replace_lane", "f32"), (34, "f64x2.replace_lane", "f64"),
]:
    _simd(_code, _name, "lane", f"v128 {_t} -> v128")
for _base, _shape in ((35, "i8x16"), (45, "i16x8"), (55, "i32x4")):
    for _i, _n in enumerate(_IREL):
        _simd(_base + _i, f"{_shape}.{_n}", "", "v128 v128 -> v128")
for _base, _shape in ((65, "f32x4"), (71, "f64x2")):
    for _i, _n in enumerate(_FREL):
        _simd(_base + _i, f"{_shape}.{_n}", "", "v128 v128 -> v128")
_simd(77, "v128.not", "", "v128 -> v128")
for _code, _n in ((78, "and"), (79, "andnot"), (80, "or"), (81, "xor")):
    _simd(_code, f"v128.{_n}", "", "v128 v128 -> v128")
_simd(82, "v128.bitselect", "", "v128 v128 v128 -> v128")
_simd(83, "v128.any_true", "", "v128 -> i32")
for _i, _w in enumerate((8, 16, 32, 64)):
    _simd(84 + _i, f"v128.load{_w}_lane", "memarg lane", "i32 v128 -> v128", _i)
    _simd(88 + _i, f"v128.store{_w}_lane", "memarg lane", "i32 v128 ->", _i)

_UN, _BIN, _SHIFT, _TEST = "v128 -> v128", "v128 v128 -> v128", "v128 i32 -> v128", "v128 -> i32"
for _code, _name, _sigtext in [
    (94, "f32x4.demote_f64x2_zero", _UN), (95, "f64x2.promote_low_f32x4", _UN),
    (96, "i8x16.abs", _UN), (97, "i8x16.neg", _UN), (98, "i8x16.popcnt", _UN),
    (99, "i8x16.all_true", _TEST), (100, "i8x16.bitmask", _TEST),
    (101, "i8x16.narrow_i16x8_s", _BIN), (102, "i8x16.narrow_i16x8_u", _BIN),
    (103, "f32x4.ceil", _UN), (104, "f32x4.floor", _UN), (105, "f32x4.trunc", _UN),
    (106, "f32x4.nearest", _UN),
    (107, "i8x16.shl", _SHIFT), (108, "i8x16.shr_s", _SHIFT), (109, "i8x16.shr_u", _SHIFT),
    (110, "i8x16.add", _BIN), (111, "i8x16.add_sat_s", _BIN), (112, "i8x16.add_sat_u", _BIN),
    (113, "i8x16.sub", _BIN), (114, "i8x16.sub_sat_s", _BIN), (115, "i8x16.sub_sat_u", _BIN),
    (116, "f64x2.ceil", _UN), (117, "f64x2.floor", _UN),
    (118, "i8x16.min_s", _BIN), (119, "i8x16.min_u", _BIN), (120, "i8x16.max_s", _BIN),
    (121, "i8x16.max_u", _BIN), (122, "f64x2.trunc", _UN), (123, "i8x16.avgr_u", _BIN),
    (124, "i16x8.extadd_pairwise_i8x16_s", _UN), (125, "i16x8.extadd_pairwise_i8x16_u", _UN),
    (126, "i32x4.extadd_pairwise_i16x8_s", _UN), (127, "i32x4.extadd_pairwise_i16x8_u", _UN),
    (128, "i16x8.abs", _UN), (129, "i16x8.neg", _UN), (130, "i16x8.q15mulr_sat_s", _BIN),
    (131, "i16x8.all_true", _TEST), (132, "i16x8.bitmask", _TEST),
    (133, "i16x8.narrow_i32x4_s", _BIN), (134, "i16x8.narrow_i32x4_u", _BIN),
    (135, "i16x8.extend_low_i8x16_s", _UN), (136, "i16x8.extend_high_i8x16_s", _UN),
    (137, "i16x8.extend_low_i8x16_u", _UN), (138, "i16x8.extend_high_i8x16_u", _UN),
    (139, "i16x8.shl", _SHIFT), (140, "i16x8.shr_s", _SHIFT), (141, "i16x8.shr_u", _SHIFT),
    (142, "i16x8.add", _BIN), (143, "i16x8.add_sat_s", _BIN), (144, "i16x8.add_sat_u", _BIN),
    (145, "i16x8.sub", _BIN), (146, "i16x8.sub_sat_s", _BIN), (147, "i16x8.sub_sat_u", _BIN),
    (148, "f64x2.nearest", _UN), (149, "i16x8.mul", _BIN),
    (150, "i16x8.min_s", _BIN), (151, "i16x8.min_u", _BIN), (152, "i16x8.max_s", _BIN),
    (153, "i16x8.max_u", _BIN), (155, "i16x8.avgr_u", _BIN),
    (156, "i16x8.extmul_low_i8x16_s", _BIN), (157, "i16x8.extmul_high_i8x16_s", _BIN),
    (158, "i16x8.extmul_low_i8x16_u", _BIN), (159, "i16x8.extmul_high_i8x16_u", _BIN),
    (160, "i32x4.abs", _UN), (161, "i32x4.neg", _UN),
    (163, "i32x4.all_true", _TEST), (164, "i32x4.bitmask", _TEST),
    (167, "i32x4.extend_low_i16x8_s", _UN), (168, "i32x4.extend_high_i16x8_s", _UN),
    (169, "i32x4.extend_low_i16x8_u", _UN), (170, "i32x4.extend_high_i16x8_u", _UN),
    (171, "i32x4.shl", _SHIFT), (172, "i32x4.shr_s", _SHIFT), (173, "i32x4.shr_u", _SHIFT),
    (174, "i32x4.add", _BIN), (177, "i32x4.sub", _BIN), (181, "i32x4.mul", _BIN),
    (182, "i32x4.min_s", _BIN), (183, "i32x4.min_u", _BIN), (184, "i32x4.max_s", _BIN),
    (185, "i32x4.max_u", _BIN), (186, "i32x4.dot_i16x8_s", _BIN),
    (188, "i32x4.extmul_low_i16x8_s", _BIN), (189, "i32x4.extmul_high_i16x8_s", _BIN),
    (190, "i32x4.extmul_low_i16x8_u", _BIN), (191, "i32x4.extmul_high_i16x8_u", _BIN),
    (192, "i64x2.abs", _UN), (193, "i64x2.neg", _UN),
    (195, "i64x2.all_true", _TEST), (196, "i64x2.bitmask", _TEST),
    (199, "i64x2.extend_low_i32x4_s", _UN), (200, "i64x2.extend_high_i32x4_s", _UN),
    (201, "i64x2.extend_low_i32x4_u", _UN), (202, "i64x2.extend_high_i32x4_u", _UN),
    (203, "i64x2.shl", _SHIFT), (204, "i64x2.shr_s", _SHIFT), (205, "i64x2.shr_u", _SHIFT),
    (206, "i64x2.add", _BIN), (209, "i64x2.sub", _BIN), (213, "i64x2.mul", _BIN),
    (214, "i64x2.eq", _BIN), (215, "i64x2.ne", _BIN), (216, "i64x2.lt_s", _BIN),
    (217, "i64x2.gt_s", _BIN), (218, "i64x2.le_s", _BIN), (219, "i64x2.ge_s", _BIN),
    (220, "i64x2.extmul_low_i32x4_s", _BIN), (221, "i64x2.extmul_high_i32x4_s", _BIN),
    (222, "i64x2.extmul_low_i32x4_u", _BIN), (223, "i64x2.extmul_high_i32x4_u", _BIN),
    (224, "f32x4.abs", _UN), (225, "f32x4.neg", _UN), (227, "f32x4.sqrt", _UN),
    (228, "f32x4.add", _BIN), (229, "f32x4.sub", _BIN), (230, "f32x4.mul", _BIN),
    (231, "f32x4.div", _BIN), (232, "f32x4.min", _BIN), (233, "f32x4.max", _BIN),
    (234, "f32x4.pmin", _BIN), (235, "f32x4.pmax", _BIN),
    (236, "f64x2.abs", _UN), (237, "f64x2.neg", _UN), (239, "f64x2.sqrt", _UN),
    (240, "f64x2.add", _BIN), (241, "f64x2.sub", _BIN), (242, "f64x2.mul", _BIN),
    (243, "f64x2.div", _BIN), (244, "f64x2.min", _BIN), (245, "f64x2.max", _BIN),
    (246, "f64x2.pmin", _BIN), (247, "f64x2.pmax", _BIN),
    (248, "i32x4.trunc_sat_f32x4_s", _UN), (249, "i32x4.trunc_sat_f32x4_u", _UN),
    (250, "f32x4.convert_i32x4_s", _UN), (251, "f32x4.convert_i32x4_u", _UN),
    (252, "i32x4.trunc_sat_f64x2_s_zero", _UN), (253, "i32x4.trunc_sat_f64x2_u_zero", _UN),
    (254, "f64x2.convert_low_i32x4_s", _UN), (255, "f64x2.convert_low_i32x4_u", _UN),
]:
    _simd(_code, _name, "", _sigtext)

# --- threads ------------------------------------------------------------------------------
_T = PREFIX_THREADS
_add("memory.atomic.notify", _T, 0x00, "memarg", "i32 i32 -> i32", 2, "threads")
_add("memory.atomic.wait32", _T, 0x01, "memarg", "i32 i32 i64 -> i32", 2, "threads")
_add("memory.atomic.wait64", _T, 0x02, "memarg", "i32 i64 i64 -> i32", 3, "threads")
_add("atomic.fence", _T, 0x03, "zero", "->", None, "threads")
# (name suffix, value type, natural alignment) in the order every atomic family uses
_ATOMIC_WIDTHS = [("i32.atomic.{}", "i32", 2), ("i64.atomic.{}", "i64", 3),
                  ("i32.atomic.{}8_u", "i32", 0), ("i32.atomic.{}16_u", "i32", 1),
                  ("i64.atomic.{}8_u", "i64", 0), ("i64.atomic.{}16_u", "i64", 1),
                  ("i64.atomic.{}32_u", "i64", 2)]
for _i, (_fmt, _t, _align) in enumerate(_ATOMIC_WIDTHS):
    _add(_fmt.format("load"), _T, 0x10 + _i, "memarg", f"i32 -> {_t}", _align, "threads")
for _i, (_fmt, _t, _align) in enumerate(_ATOMIC_WIDTHS):
    _add(_fmt.format("store").replace("_u", ""), _T, 0x17 + _i, "memarg", f"i32 {_t} ->",
         _align, "threads")
for _g, _rmw in enumerate(("add", "sub", "and", "or", "xor", "xchg", "cmpxchg")):
    for _i, (_fmt, _t, _align) in enumerate(_ATOMIC_WIDTHS):
        _name = _fmt.format("rmw").replace("rmw8_u", "rmw8").replace("rmw16_u", "rmw16") \
            .replace("rmw32_u", "rmw32")
        _name += f".{_rmw}" + ("_u" if _fmt.endswith("_u") else "")
        _sigtext = f"i32 {_t} {_t} -> {_t}" if _rmw == "cmpxchg" else f"i32 {_t} -> {_t}"
        _add(_name, _T, 0x1E + 7 * _g + _i, "memarg", _sigtext, _align, "threads")
