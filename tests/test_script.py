"""The .wast script parser against an outside tool's reading of every suite script.

For each script of core/threads/exceptions, the commands (threads flattened in order) must
line up with ``wasm-tools json-from-wast``: same kinds, lines, names, messages, argument and
expected values (exact bits), binary module bytes and quoted module text.
"""
from __future__ import annotations

import pytest

from sharedwasm.errors import ParseError
from sharedwasm.text.script import (
    ActionCommand, AssertException, AssertExhaustion, AssertInvalid, AssertMalformed,
    AssertReturn, AssertTrap, AssertUninstantiable, AssertUnlinkable, Const, Either, Get,
    Invoke, ModuleCommand, ModuleInstance, NanPattern, RefExtern, RefFunc, RefNull, Register,
    Thread, V128Pattern, Wait, parse_script)
from suites import all_wast_params, need_spec, reference_commands

KIND = {
    ModuleCommand: "module", Register: "register", ActionCommand: "action",
    AssertReturn: "assert_return", AssertTrap: "assert_trap",
    AssertExhaustion: "assert_exhaustion", AssertException: "assert_exception",
    AssertMalformed: "assert_malformed", AssertInvalid: "assert_invalid",
    AssertUnlinkable: "assert_unlinkable", AssertUninstantiable: "assert_uninstantiable",
    Thread: "thread", Wait: "wait",
}
MODULE_ASSERTIONS = (AssertMalformed, AssertInvalid, AssertUnlinkable, AssertUninstantiable)
_SHAPE = {"i8": "i8x16", "i16": "i16x8", "i32": "i32x4", "i64": "i64x2", "f32": "f32x4",
          "f64": "f64x2"}
_REF_HEAP = {"funcref": "func", "externref": "extern", "exnref": "exn"}


def _flatten(commands):
    for c in commands:
        yield c
        if isinstance(c, Thread):
            yield from _flatten(c.commands)


_BITS = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}


def _lane(text: str, lane_type: str):
    """JSON writes integers signed or unsigned; the parser keeps unsigned bits."""
    if text.startswith("nan:"):
        return NanPattern(lane_type, text[4:])
    return int(text) & ((1 << _BITS[lane_type]) - 1)


def expected_value(v: dict):
    """The script value an outside tool's JSON value stands for."""
    t = v["type"]
    if t == "either":
        return Either(tuple(expected_value(x) for x in v["values"]))
    if t in _REF_HEAP:
        if v["value"] == "null":
            return RefNull(_REF_HEAP[t])
        return RefExtern(int(v["value"])) if t == "externref" else RefFunc(int(v["value"]))
    if t == "v128":
        lt = v["lane_type"]
        lanes = [_lane(x, lt) for x in v["value"]]
        if any(isinstance(x, NanPattern) for x in lanes):
            return V128Pattern(_SHAPE[lt], tuple(lanes))
        width = 16 // len(lanes)
        return Const("v128", b"".join(x.to_bytes(width, "little") for x in lanes))
    value = _lane(v["value"], t)
    return value if isinstance(value, NanPattern) else Const(t, value)


def _check_action(mine, ref: dict) -> None:
    assert mine.field == ref["field"]
    assert mine.module == ref.get("module")
    if ref["type"] == "get":
        assert isinstance(mine, Get)
    else:
        assert isinstance(mine, Invoke)
        assert list(mine.args) == [expected_value(a) for a in ref["args"]]


def _check_module(mine: ModuleCommand, ref) -> None:
    if mine.kind == "binary":
        assert ref.is_binary_form
        assert mine.binary == ref.module_bytes()
    elif mine.kind == "quote":
        text = ref.module_text()
        if text is not None:
            # the reference text was read with universal newlines
            quote = mine.quote.replace("\r\n", "\n").replace("\r", "\n")
            assert quote.rstrip(" ") == text.rstrip(" ")


@pytest.mark.parametrize("suite,path", all_wast_params())
def test_script_matches_reference(suite, path):
    need_spec()
    refs = reference_commands(path)
    mine = list(_flatten(parse_script(path.read_bytes(), str(path))))
    assert [KIND[type(c)] for c in mine] == [r.type for r in refs]
    for c, r in zip(mine, refs):
        d = r.data
        # the outside tool locates an assertion at its module or action
        inner = c.module if isinstance(c, MODULE_ASSERTIONS) else getattr(c, "action", c)
        assert inner.line == r.line, (c, d)
        if isinstance(c, ModuleCommand):
            assert c.name == d.get("name")
            _check_module(c, r)
        elif isinstance(c, Register):
            assert (c.as_name, c.module) == (d["as"], d.get("name"))
        elif isinstance(c, ActionCommand):
            _check_action(c.action, d["action"])
        elif isinstance(c, AssertReturn):
            _check_action(c.action, d["action"])
            assert list(c.results) == [expected_value(v) for v in d["expected"]]
        elif isinstance(c, (AssertTrap, AssertExhaustion)):
            _check_action(c.action, d["action"])
            assert c.message == d["text"]
        elif isinstance(c, AssertException):
            _check_action(c.action, d["action"])
        elif isinstance(c, MODULE_ASSERTIONS):
            assert c.message == d["text"]
            _check_module(c.module, r)
        elif isinstance(c, Thread):
            assert c.name == d["name"]
            assert c.shared == ((d["shared_module"],) if "shared_module" in d else ())
        elif isinstance(c, Wait):
            assert c.thread == d["thread"]


SAMPLE = r'''
(module $M (func (export "f") (param i32) (result i32) (local.get 0)))
(register "m" $M)
(assert_return (invoke $M "f" (i32.const -1)) (i32.const 0xffff_ffff))
(assert_return (invoke "g" (f32.const -nan:0x200000) (f64.const 0x1p-1074))
  (f32.const nan:canonical) (f64.const nan:arithmetic))
(assert_return (invoke "v" (v128.const i16x8 -1 0 1 2 3 4 5 0x8000))
  (v128.const f32x4 1.0 nan:canonical -0 inf)
  (v128.const i8x16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 255))
(assert_return (invoke "r" (ref.null extern) (ref.extern 7))
  (ref.null func) (ref.extern) (ref.func) (either (i32.const 1) (ref.extern 2)))
(assert_trap (invoke "t") "unreachable")
(assert_trap (module (start 0)) "unreachable")
(assert_malformed (module quote "(func" " (i32.const 0x))") "unknown operator")
(assert_invalid (module binary "\00asm" "\01\00\00\00") "type mismatch")
(get "g")
(thread $T (shared (module $M))
  (thread $U (invoke "f" (i32.const 0)))
  (wait $U))
(wait $T)
(module definition $D)
(module instance $I $D)
'''


def test_sample_values():
    cmds = parse_script(SAMPLE)
    assert isinstance(cmds[0], ModuleCommand) and cmds[0].name == "M" and cmds[0].kind == "text"
    assert cmds[0].node.head() == "module"
    assert cmds[1] == Register(3, 1, "m", "M")
    ret = cmds[2]
    assert ret.action.module == "M" and ret.action.args == (Const("i32", 0xFFFFFFFF),)
    assert ret.results == (Const("i32", 0xFFFFFFFF),)
    floats = cmds[3]
    assert floats.action.args == (Const("f32", 0xFFA00000), Const("f64", 1))
    assert floats.results == (NanPattern("f32", "canonical"), NanPattern("f64", "arithmetic"))
    vec = cmds[4]
    assert vec.action.args[0] == Const("v128", bytes.fromhex("ffff0000010002000300040005000080"))
    assert vec.results[0] == V128Pattern("f32x4", (0x3F800000, NanPattern("f32", "canonical"),
                                                   0x80000000, 0x7F800000))
    assert vec.results[1] == Const("v128", bytes([*range(15), 255]))
    refs = cmds[5]
    assert refs.action.args == (RefNull("extern"), RefExtern(7))
    assert refs.results == (RefNull("func"), RefExtern(None), RefFunc(None),
                            Either((Const("i32", 1), RefExtern(2))))
    assert cmds[6] == AssertTrap(cmds[6].line, 1, cmds[6].action, "unreachable")
    assert isinstance(cmds[7], AssertUninstantiable) and cmds[7].module.kind == "text"
    quote = cmds[8].module
    assert quote.kind == "quote" and quote.quote == "(func  (i32.const 0x))"
    assert cmds[9].module.binary == b"\0asm\1\0\0\0" and cmds[9].message == "type mismatch"
    assert cmds[10] == ActionCommand(cmds[10].line, 1, Get(cmds[10].line, 1, None, "g"))
    thread = cmds[11]
    assert thread.name == "T" and thread.shared == ("M",)
    inner = thread.commands
    assert isinstance(inner[0], Thread) and inner[0].name == "U" and inner[0].shared == ()
    assert isinstance(inner[0].commands[0], ActionCommand)
    assert inner[1] == Wait(inner[1].line, 3, "U")
    assert cmds[12] == Wait(cmds[12].line, 1, "T")
    assert cmds[13].definition and cmds[13].name == "D"
    assert cmds[14] == ModuleInstance(cmds[14].line, 2, "I", "D")


@pytest.mark.parametrize("text,line,col", [
    ("(module)\n  (assert_return (invoke \"f\" (i32.const 0x1_0000_0000)))", 2, 41),
    ("(module)\n(bogus)", 2, 1),
    ("(assert_return (invoke \"f\") (i32.const nan:canonical))", 1, 40),
    ("(assert_return (invoke \"f\" (f32.const nan:canonical)))", 1, 39),
    ("(assert_trap (invoke \"f\"))", 1, 1),
    ("(register \"m\" $a $b)", 1, 18),
    ("(assert_return (invoke \"f\" (v128.const i32x4 1 2 3)))", 1, 28),
    ("(wait \"t\")", 1, 7),
    ("(assert_return (invoke \"f\" (either (i32.const 1))))", 1, 28),
    ("(module", 1, 1),
])
def test_malformed_scripts(text, line, col):
    with pytest.raises(ParseError) as info:
        parse_script(text, "x.wast")
    assert (info.value.line, info.value.column) == (line, col)
    assert "x.wast" in str(info.value)


def test_modules_parse_on_demand():
    text, quote, bad = parse_script(
        '(module (func (export "f") (result i32) (i32.const 7)))\n'
        '(module quote "(func (export \\"g\\"))")\n'
        '(assert_malformed (module quote "(func (i32.const 0x))") "unknown operator")')
    assert [e.name for e in text.parse().exports] == ["f"]
    assert [e.name for e in quote.parse().exports] == ["g"]
    with pytest.raises(ParseError) as info:
        bad.module.parse()
    assert "unknown operator" in info.value.message
