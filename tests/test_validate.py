"""Validation: hand-built modules (heights, messages, locations) and the spec suites'
``assert_invalid`` / valid modules through the binary decoder."""
from __future__ import annotations

import collections

import pytest

import suites
from sharedwasm.errors import ALL_FEATURES, WASM2_FEATURES, CompileError, ValidationError
from sharedwasm.spec.ast import (Catch, Data, Elem, Export, Func, Global, Import, Instr, MemArg,
                                 Module, Names)
from sharedwasm.spec.opcodes import OPS
from sharedwasm.spec.types import FuncType, GlobalType, Limits, MemType, TableType, TagType
from sharedwasm.valid.code import PLAIN, RULES
from sharedwasm.valid.validate import validate_module


def I(name: str, *args, offset: int = -1) -> Instr:  # noqa: E743
    return Instr(name, tuple(args), offset)


def module(body: list[Instr], params=(), results=(), locals_=(), **extra) -> Module:
    """One function ``params -> results`` with ``body``; ``extra`` sets other Module fields."""
    types = [FuncType(tuple(params), tuple(results))] + list(extra.pop("types", []))
    return Module(types=types, funcs=[Func(0, list(locals_), body)], **extra)


def invalid(m: Module, features=ALL_FEATURES) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate_module(m, features)
    return info.value


def test_every_instruction_has_a_rule():
    assert set(OPS) == set(PLAIN) | set(RULES)


# --- heights and max_height ----------------------------------------------------------------

def test_heights_straight_line():
    body = [I("local.get", 0), I("local.get", 1), I("i32.add"), I("i32.const", 3),
            I("i32.mul")]
    info = validate_module(module(body, ["i32", "i32"], ["i32"])).funcs[0]
    assert info.heights == [0, 1, 2, 1, 2]
    assert info.max_height == 2
    assert info.locals == ["i32", "i32"]


def test_heights_blocks_and_branches():
    # (block (result i32) (i32.const 1) (br_if 0 (local.get 0)) (drop) (i32.const 2)) (return)
    body = [I("i32.const", 7), I("block", "i32"), I("i32.const", 1), I("local.get", 0),
            I("br_if", 0), I("drop"), I("i32.const", 2), I("end"), I("i32.add"),
            I("return"), I("nop")]
    info = validate_module(module(body, ["i32"], ["i32"])).funcs[0]
    assert info.heights == [0, 1, 1, 2, 3, 2, 1, 2, 2, 1, 0]
    assert info.max_height == 3


def test_heights_multi_value_block_and_if_else():
    types = [FuncType(("i32", "i64"), ("i64", "i32"))]
    body = [I("i32.const", 1), I("i64.const", 2), I("local.get", 0),
            I("if", 1), I("drop"), I("drop"), I("i64.const", 3), I("i32.const", 4),
            I("else"), I("drop"), I("local.set", 1), I("i64.const", 5), I("local.get", 1),
            I("end"), I("drop"), I("drop")]
    info = validate_module(module(body, ["i32"], [], [(1, "i32")], types=types)).funcs[0]
    assert info.heights == [0, 1, 2, 3, 2, 1, 0, 1, 2, 2, 1, 0, 1, 2, 2, 1]
    assert info.max_height == 3


def test_heights_unreachable_code_and_loop():
    body = [I("loop", None), I("br", 0), I("i32.add"), I("drop"), I("end"), I("unreachable"),
            I("select"), I("drop")]
    info = validate_module(module(body)).funcs[0]
    assert info.heights == [0, 0, 0, 1, 0, 0, 0, 1]
    assert info.max_height == 1


# --- messages and locations ----------------------------------------------------------------

def test_type_mismatch_located():
    body = [I("i64.const", 1, offset=10), I("i32.eqz", offset=12)]
    m = module(body, results=["i32"], names=Names(funcs={1: "f"}),
               imports=[Import("m", "g", "func", 0)])
    err = invalid(m)
    assert err.message == "type mismatch: instruction requires [i32] but stack has [i64]"
    assert (err.offset, err.func_index, err.func_name) == (12, 1, "f")
    assert "byte 0xc" in str(err) and "function 1 (f)" in str(err)


@pytest.mark.parametrize("body,results,message", [
    ([], ["i32"], "type mismatch"),
    ([I("i32.const", 1)], [], "type mismatch"),
    ([I("local.get", 2)], [], "unknown local 2"),
    ([I("br", 1)], [], "unknown label 1"),
    ([I("call", 5)], [], "unknown function 5"),
    ([I("global.get", 0)], [], "unknown global 0"),
    ([I("i32.const", 0), I("i32.load", MemArg(2, 0)), I("drop")], [], "unknown memory 0"),
    ([I("table.size", 0), I("drop")], [], "unknown table 0"),
    ([I("data.drop", 0)], [], "unknown data segment 0"),
    ([I("elem.drop", 4)], [], "unknown elem segment 4"),
    ([I("throw", 0)], [], "unknown tag 0"),
    ([I("block", 9), I("end")], [], "unknown type 9"),
    ([I("ref.func", 0), I("drop")], [], "undeclared function reference"),
    ([I("i32.const", 0), I("i32.const", 0), I("i32.const", 0), I("select_t", ()), I("drop")],
     [], "invalid result arity"),
    ([I("ref.null", "func"), I("ref.null", "func"), I("i32.const", 0), I("select")], [],
     "type mismatch"),
    ([I("i32.const", 1), I("if", "i32"), I("i32.const", 1), I("end"), I("drop")], [],
     "type mismatch"),
    ([I("block", None), I("i32.const", 1), I("end")], [], "type mismatch"),
    ([I("v128.const", bytes(16)), I("i8x16.extract_lane_s", 16), I("drop")], [],
     "invalid lane index"),
    ([I("v128.const", bytes(16)), I("v128.const", bytes(16)),
      I("i8x16.shuffle", tuple(range(15)) + (32,)), I("drop")], [], "invalid lane index"),
])
def test_code_errors(body, results, message):
    err = invalid(module(body, results=results))
    assert err.message.startswith(message)
    assert err.func_index == 0


def test_memory_alignment_rules():
    mem = [MemType(Limits(1, 1, shared=True))]
    ok = module([I("i32.const", 0), I("i32.load", MemArg(1, 0)), I("drop")], mems=mem)
    validate_module(ok)
    bad = module([I("i32.const", 0), I("i32.load", MemArg(3, 0)), I("drop")], mems=mem)
    assert invalid(bad).message == "alignment must not be larger than natural"
    atomic = module([I("i32.const", 0), I("i32.atomic.load", MemArg(1, 0)), I("drop")],
                    mems=mem)
    assert invalid(atomic).message == "atomic alignment must be natural"
    lane = module([I("i32.const", 0), I("v128.const", bytes(16)),
                   I("v128.load16_lane", MemArg(1, 0), 8), I("drop")], mems=mem)
    assert invalid(lane).message == "invalid lane index"


def test_polymorphic_stack():
    # unreachable makes any operand types acceptable, but known ones must still match
    validate_module(module([I("unreachable"), I("i32.add"), I("i32.eqz")], results=["i32"]))
    err = invalid(module([I("unreachable"), I("i64.const", 0), I("i32.add")], results=["i32"]))
    assert err.message.startswith("type mismatch")
    validate_module(module([I("block", "i32"), I("unreachable"), I("br_table", (0, 0), 0),
                            I("end")], results=["i32"]))
    validate_module(module([I("block", "i32"), I("i32.const", 5), I("i32.const", 0),
                            I("br_table", (0, 0), 0), I("end")], results=["i32"]))
    err = invalid(module([I("block", "i32"), I("i32.const", 0), I("br_table", (0,), 0),
                          I("end")], results=["i32"]))
    assert err.message == "type mismatch: instruction requires [i32] but stack has []"


def test_br_table_arity():
    body = [I("block", "i32"), I("block", None), I("i32.const", 0), I("i32.const", 0),
            I("br_table", (0,), 1), I("end"), I("i32.const", 1), I("end")]
    assert invalid(module(body, results=["i32"])).message.startswith("type mismatch")


def test_exceptions_rules():
    tag_i32 = FuncType(("i32",), ())
    types = [tag_i32, FuncType((), ("i32", "exnref"))]
    tags = [TagType(1)]
    # catch_ref of an (i32) tag carries [i32 exnref] to a label of that type
    body = [I("block", 2), I("try_table", None, (Catch("catch_ref", 0, 0),)), I("end"),
            I("unreachable"), I("end"), I("drop"), I("drop")]
    validate_module(module(body, types=types, tags=tags))
    wrong = [I("block", 2), I("try_table", None, (Catch("catch", 0, 0),)), I("end"),
             I("unreachable"), I("end"), I("drop"), I("drop")]
    assert invalid(module(wrong, types=types, tags=tags)).message.startswith("type mismatch")
    err = invalid(module([I("i64.const", 5), I("throw", 0)], types=types, tags=tags))
    assert err.message == "type mismatch: instruction requires [i32] but stack has [i64]"
    assert invalid(module([I("throw_ref")])).message.startswith("type mismatch")
    bad_tag = Module(types=[FuncType((), ("i32",))], tags=[TagType(0)])
    assert invalid(bad_tag).message == "non-empty tag result type"


def test_features_gate_instructions():
    body = [I("i32.const", 0), I("i32.extend8_s"), I("drop")]
    validate_module(module(body), WASM2_FEATURES)
    with pytest.raises(CompileError):
        validate_module(module(body), frozenset({"mvp"}))


# --- module-level rules --------------------------------------------------------------------

def _const(t: str, v: int = 0) -> list[Instr]:
    return [I(f"{t}.const", v)]


@pytest.mark.parametrize("m,message", [
    (Module(mems=[MemType(Limits(0)), MemType(Limits(0))]), "multiple memories"),
    (Module(mems=[MemType(Limits(65537))]), "memory size must be at most 65536 pages (4GiB)"),
    (Module(mems=[MemType(Limits(0, 65537))]), "memory size must be at most 65536 pages"),
    (Module(mems=[MemType(Limits(2, 1))]), "size minimum must not be greater than maximum"),
    (Module(tables=[TableType("funcref", Limits(2, 1))]),
     "size minimum must not be greater than maximum"),
    (Module(mems=[MemType(Limits(1, None, shared=True))]), "shared memory must have maximum"),
    (Module(globals=[Global(GlobalType("i32"), [I("i32.const", 0), I("i32.ctz")])]),
     "constant expression required"),
    (Module(globals=[Global(GlobalType("i32"), _const("i64"))]), "type mismatch"),
    (Module(globals=[Global(GlobalType("i32"), _const("i32")),
                     Global(GlobalType("i32"), [I("global.get", 0)])]), "unknown global 0"),
    (Module(imports=[Import("a", "b", "global", GlobalType("i32", True))],
            globals=[Global(GlobalType("i32"), [I("global.get", 0)])]),
     "constant expression required"),
    (Module(exports=[Export("a", "memory", 0)]), "unknown memory 0"),
    (Module(types=[FuncType()], funcs=[Func(0)],
            exports=[Export("a", "func", 0), Export("a", "func", 0)]), "duplicate export name"),
    (Module(types=[FuncType(("i32",))], funcs=[Func(0, [], [])], start=0), "start function"),
    (Module(start=0), "unknown function 0"),
    (Module(funcs=[Func(0)]), "unknown type 0"),
    (Module(elems=[Elem("funcref", [], "active", 0, _const("i32"))]), "unknown table 0"),
    (Module(tables=[TableType("externref", Limits(0))],
            elems=[Elem("funcref", [], "active", 0, _const("i32"))]), "type mismatch"),
    (Module(mems=[MemType(Limits(1))], datas=[Data(b"", "active", 0, _const("i64"))]),
     "type mismatch"),
    (Module(datas=[Data(b"", "active", 0, _const("i32"))]), "unknown memory 0"),
])
def test_module_errors(m, message):
    assert invalid(m).message.startswith(message)


def test_ref_func_declarations():
    types = [FuncType((), ("funcref",))]
    body = [I("ref.func", 0)]
    declared_by = [
        dict(exports=[Export("f", "func", 0)]),
        dict(elems=[Elem("funcref", [[I("ref.func", 0)]], "declarative")]),
        dict(globals=[Global(GlobalType("funcref"), [I("ref.func", 0)])]),
    ]
    for extra in declared_by:
        info = validate_module(Module(types=types, funcs=[Func(0, [], body)], **extra))
        assert info.declared_refs == {0}
    assert invalid(Module(types=types, funcs=[Func(0, [], body)])).message == \
        "undeclared function reference"


# --- the spec suites and real modules through the binary decoder ---------------------------

def _decoder():
    try:
        from sharedwasm.binary.decode import decode_module
    except ImportError as exc:
        pytest.skip(f"binary decoder not available: {exc}")
    return decode_module


def _suite_commands():
    suites.need_spec()
    for suite, features in suites.SUITES.items():
        for path in suites.wast_files(suite):
            for cmd in suites.reference_commands(path):
                yield suite, features, path, cmd


#: assertions of the threads proposal's copy of imports.wast, written before reference types
#: allowed several tables; the suite runs with 2.0 features, where they are valid
_PRE_REFERENCE_TYPES = {("threads", "multiple tables")}
_VALID_KINDS = {"module", "assert_unlinkable", "assert_uninstantiable", "assert_trap"}


def test_spec_assert_invalid():
    decode = _decoder()
    total = matched = 0
    mismatches = collections.Counter()
    for suite, features, path, cmd in _suite_commands():
        if cmd.type != "assert_invalid":
            continue
        data = cmd.module_bytes()
        if data is None or (suite, cmd.data["text"]) in _PRE_REFERENCE_TYPES:
            continue
        total += 1
        with pytest.raises(ValidationError) as info:
            validate_module(decode(data, features), features)
        if cmd.data["text"] in info.value.message:
            matched += 1
        else:
            mismatches[(suite, cmd.data["text"], info.value.message)] += 1
    print(f"\n{total} assert_invalid modules rejected, {matched} messages match")
    for key, n in mismatches.most_common():
        print(n, key)
    assert total > 1850
    assert matched >= total - 10


def test_spec_valid_modules():
    decode = _decoder()
    count = 0
    undecodable = []    # the decoder's own tests report these
    for suite, features, path, cmd in _suite_commands():
        if cmd.type not in _VALID_KINDS:
            continue
        data = cmd.module_bytes()
        if data is None:
            continue
        try:
            m = decode(data, features)
        except CompileError as err:
            undecodable.append(f"{suite}/{path.name}:{cmd.line}: {err}")
            continue
        try:
            validate_module(m, features)
        except ValidationError as err:
            pytest.fail(f"{suite}/{path.name}:{cmd.line}: {err}")
        count += 1
    print(f"\n{count} valid modules validate; not decoded: {undecodable}")
    assert count > 1000


def test_realworld_modules():
    decode = _decoder()
    out = suites.need_realworld() / "out"
    files = sorted(out.glob("*.wasm"))
    assert files
    for path in files:
        info = validate_module(decode(path.read_bytes(), ALL_FEATURES), ALL_FEATURES)
        assert info.funcs
        for f in info.funcs:
            assert f.max_height >= max(f.heights, default=0)


# --- robustness: random bodies only ever raise ValidationError -----------------------------

def _random_arg(rng, kind: str):
    small = rng.choice([0, 0, 1, 2, 3, 40])
    return {
        "blocktype": rng.choice([None, "i32", "i64", "f64", "v128", "funcref", 0, 1, 2, 9]),
        "labelvec": tuple(rng.choice([0, 1, 2, 5]) for _ in range(rng.randrange(3))),
        "memarg": MemArg(rng.choice([0, 1, 2, 3, 4, 5]), 0),
        "i32": 1, "i64": 1, "f32": 0, "f64": 0, "v128": bytes(16), "zero": 0,
        "lane": rng.choice([0, 1, 3, 7, 15, 16, 40]),
        "shuffle": tuple(rng.choice([0, 5, 31, 32]) for _ in range(16)),
        "valtypes": rng.choice([(), ("i32",), ("funcref",), ("i32", "i64")]),
        "heaptype": rng.choice(["func", "extern", "exn"]),
        "catches": tuple(Catch(rng.choice(["catch", "catch_ref", "catch_all", "catch_all_ref"]),
                               rng.choice([0, 1, 3]), rng.choice([0, 1, 4]))
                         for _ in range(rng.randrange(3))),
    }.get(kind, small)


def test_random_bodies_raise_only_validation_errors():
    import random
    rng = random.Random(1234)
    names = sorted(OPS)
    extra = dict(
        types=[FuncType(("i32",), ("i32",)), FuncType((), ("i32", "i64")), FuncType(("f32",))],
        tags=[TagType(3)], mems=[MemType(Limits(1, 2, shared=True))],
        tables=[TableType("funcref", Limits(1)), TableType("externref", Limits(1))],
        globals=[Global(GlobalType("i32", True), [I("i32.const", 0)])],
        elems=[Elem("funcref", [[I("ref.func", 0)]], "declarative")], datas=[Data(b"x", "passive")])
    ok = 0
    for _ in range(3000):
        body = []
        for _ in range(rng.randrange(1, 10)):
            info = OPS[rng.choice(names)] if rng.random() < 0.7 else OPS[rng.choice(
                ["i32.const", "local.get", "block", "end", "br_if", "drop", "i32.add"])]
            body.append(Instr(info.name, tuple(_random_arg(rng, k) for k in info.imms)))
        m = module(body, ["i32", "v128"], rng.choice([(), ("i32",)]), [(1, "exnref")], **extra)
        try:
            info = validate_module(m)
        except ValidationError:
            continue
        ok += 1
        assert len(info.funcs[0].heights) == len(body)
    assert ok > 5
