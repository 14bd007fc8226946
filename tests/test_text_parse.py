"""The text format parser against the spec suites and wasm-tools' binaries of the same modules.

Every text module of the core/threads/exceptions scripts is parsed and compared with
wasm-tools' encoding of the same command (decoded ASTs must be equal; bytes are compared
too); every text-form ``assert_malformed`` must be rejected with a ``MalformedError``.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

import suites
from sharedwasm.errors import MalformedError, ParseError, ValidationError
from sharedwasm.spec import ast
from sharedwasm.text import numbers, sexpr
from sharedwasm.text.parser import parse_module, parse_module_node

_MODULE_COMMANDS = ("module", "assert_invalid", "assert_unlinkable", "assert_uninstantiable",
                    "assert_trap", "assert_exhaustion", "assert_return", "register")


# --- helpers ------------------------------------------------------------------------------

def _module_nodes(wast: Path) -> dict[int, sexpr.List]:
    """Line of each command -> the (module ...) node it holds (threads' commands included)."""
    found: dict[int, sexpr.List] = {}

    def visit(nodes):
        for node in nodes:
            if not isinstance(node, sexpr.List):
                continue
            head = node.head()
            if head == "module":
                found[node.line] = node
            elif head == "thread":
                visit(node.items)
            elif head in _MODULE_COMMANDS or head == "assert_malformed":
                for item in node.items[1:]:
                    if isinstance(item, sexpr.List) and item.head() == "module":
                        found[node.line] = item
                        break
    visit(sexpr.parse(wast.read_text(encoding="utf-8"), str(wast)))
    return found


def _norm_expr(expr) -> list:
    return [(i.name, i.args) for i in expr]


def normalize(m: ast.Module) -> dict:
    """What must agree between our parse and the decoding of wasm-tools' binary."""
    return {
        "types": m.types,
        "imports": [(i.module, i.name, i.kind, getattr(i.desc, "type_index", i.desc))
                    for i in m.imports],
        "funcs": [(f.type_index, f.local_types(), _norm_expr(f.body)) for f in m.funcs],
        "tables": m.tables, "mems": m.mems, "tags": m.tags,
        "globals": [(g.type, _norm_expr(g.init)) for g in m.globals],
        "exports": [(e.name, e.kind, e.index) for e in m.exports],
        "start": m.start,
        "elems": [(e.type, [_norm_expr(x) for x in e.init], e.mode, e.table,
                   _norm_expr(e.offset or [])) for e in m.elems],
        "datas": [(d.init, d.mode, d.memory, _norm_expr(d.offset or [])) for d in m.datas],
    }


def _without_customs(binary: bytes) -> bytes:
    """``binary`` minus its custom sections (wasm-tools adds a ``name`` section; we do not)."""
    out, pos = bytearray(binary[:8]), 8
    while pos < len(binary):
        start = pos
        pos += 1
        size = shift = 0
        while True:
            byte = binary[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        pos += size
        if binary[start] != 0:
            out += binary[start:pos]
    return bytes(out)


def _script_params():
    return suites.all_wast_params()


# --- numbers ------------------------------------------------------------------------------

F32_CASES = [
    ("0x1.8p3", 0x41400000), ("-0x1p-149", 0x80000001), ("0x1p-150", 0),
    ("0x1.000001p-149", 0x00000001), ("0x1.fffffep127", 0x7F7FFFFF),
    ("0x1.fffffefffffffffffp127", 0x7F7FFFFF), ("nan", 0x7FC00000),
    ("-nan:0x200000", 0xFFA00000), ("inf", 0x7F800000), ("-inf", 0xFF800000),
    ("1e-45", 0x00000001), ("3.4028235e38", 0x7F7FFFFF), ("0x1.00000100000000001p0", 0x3F800001),
    ("0x1.000001p0", 0x3F800000), ("0x1.000003p0", 0x3F800002), ("1_000", 0x447A0000),
    ("+0x0_1p+0_1", 0x40000000), ("16777217", 0x4B800000), ("16777219", 0x4B800002),
]
F64_CASES = [
    ("0x1p-1074", 1), ("0x1p-1075", 0), ("0x1.0000000000001p-1075", 1),
    ("0x1.fffffffffffffp1023", 0x7FEFFFFFFFFFFFFF), ("nan:0x1", 0x7FF0000000000001),
    ("-0", 0x8000000000000000), ("1.7976931348623157e308", 0x7FEFFFFFFFFFFFFF),
    ("2.2250738585072011e-308", 0x000FFFFFFFFFFFFF),
]
OUT_OF_RANGE = [("f32", "0x1p128"), ("f32", "1e39"), ("f32", "0x1.ffffffp127"),
                ("f32", "nan:0x0"), ("f32", "nan:0x800000"), ("f64", "1e309"),
                ("f64", "nan:0x10000000000000"), ("i32", "4294967296"),
                ("i32", "-2147483649"), ("i64", "0x1_0000_0000_0000_0000")]


@pytest.mark.parametrize("text,bits", F32_CASES)
def test_f32_literals(text, bits):
    assert numbers.parse_f32(text) == bits


@pytest.mark.parametrize("text,bits", F64_CASES)
def test_f64_literals(text, bits):
    assert numbers.parse_f64(text) == bits


@pytest.mark.parametrize("kind,text", OUT_OF_RANGE)
def test_out_of_range(kind, text):
    parse = {"f32": numbers.parse_f32, "f64": numbers.parse_f64,
             "i32": lambda t: numbers.parse_int(t, 32),
             "i64": lambda t: numbers.parse_int(t, 64)}[kind]
    with pytest.raises(ValueError, match="constant out of range"):
        parse(text)


def test_decimal_literals_match_python_rounding():
    """Python's float() rounds decimal strings correctly to f64; f32 is checked via struct
    only where double rounding cannot occur (values exactly representable in f64)."""
    import random
    rng = random.Random(7)
    for _ in range(2000):
        text = f"{rng.randint(0, 10 ** rng.randint(1, 22))}e{rng.randint(-340, 300)}"
        expected = float(text)
        if expected == float("inf"):
            with pytest.raises(ValueError):
                numbers.parse_f64(text)
            continue
        assert numbers.parse_f64(text) == struct.unpack("<Q", struct.pack("<d", expected))[0]
    for _ in range(2000):
        bits = rng.getrandbits(31)
        if (bits >> 23) == 0xFF:
            continue
        value = struct.unpack("<f", struct.pack("<I", bits))[0]
        assert numbers.parse_f32(value.hex().replace("0x", "0x", 1)) == bits
        assert numbers.parse_f32(repr(value)) == bits


def test_integers():
    assert numbers.parse_int("0xffffffff", 32) == -1
    assert numbers.parse_int("-0x8000_0000", 32) == -2 ** 31
    assert numbers.parse_int("18446744073709551615", 64) == -1
    assert numbers.parse_nat("0x10", 32) == 16
    with pytest.raises(ValueError):
        numbers.parse_nat("-1", 32)


# --- lexer and s-expressions -------------------------------------------------------------

def test_sexpr_tokens():
    (mod,) = sexpr.parse('(module $m (; a (; nested ;) ;) "a\\41\\u{1F600}\\n" 0x1a ;; x\n'
                         ' 1a $l"a" offset=4 (@custom "c" (after func)))')
    kinds = [(n.kind, n.value) for n in mod.items if isinstance(n, sexpr.Atom)]
    assert kinds == [("keyword", "module"), ("id", "m"),
                     ("string", "aA\U0001F600\n".encode()), ("number", "0x1a"),
                     ("reserved", "1a"), ("reserved", '$l"a"'), ("keyword", "offset=4")]
    ann = mod.items[-1]
    assert ann.annotation == "custom" and ann.line == 2 and ann.items[0].value == b"c"


@pytest.mark.parametrize("text,message", [
    ("(module", "unexpected end"), ("(module))", "unbalanced parenthesis"),
    ('(data "abc', "unclosed string"), ("(; x", "unclosed comment"),
    ('"\\q"', "illegal escape"), ('"\\u{d800}"', "malformed UTF-8 encoding"),
])
def test_sexpr_errors(text, message):
    with pytest.raises(ParseError, match=message) as info:
        sexpr.parse(text)
    assert info.value.line == 1 and info.value.column >= 1


# --- modules ------------------------------------------------------------------------------

def test_abbreviations_and_implicit_types():
    m = parse_module("""
      (type $t (func (param i32)))
      (func $f (export "f") (param $x i32) (result i32) (local $y i64) (local i64 f32)
        (block $b (result i32) (br_if $b (local.get $x) (i32.const 1)))
        call_indirect (param f64))
      (table $tab funcref (elem $f))
      (memory (data "hi"))
      (@custom "c" (before first) "x")
    """)
    from sharedwasm.spec.types import FuncType
    assert m.types == [FuncType(("i32",)), FuncType(("i32",), ("i32",)), FuncType(("f64",))]
    assert m.funcs[0].locals == [(2, "i64"), (1, "f32")]
    assert [i.name for i in m.funcs[0].body][:4] == ["block", "local.get", "i32.const",
                                                     "br_if"]
    assert m.funcs[0].body[3].args == (0,)
    assert m.elems[0].init == [[ast.Instr("ref.func", (0,))]]
    assert m.mems[0].limits.min == 1 and m.datas[0].init == b"hi"
    assert m.customs == [ast.Custom("c", b"x", 0)]


@pytest.mark.parametrize("text,message", [
    ("(func block $a end $b)", "mismatching label"),
    ("(func br $nope)", "unknown label"),
    ("(func $f) (func $f)", "duplicate func"),
    ("(func (param $x i32) (local $x i32))", "duplicate local"),
    ("(func call $g)", "unknown func"),
    ("(type $t (func)) (func (type $t) (param i32))", "inline function type"),
    ("(func) (import \"a\" \"b\" (func))", "import after function"),
    ("(memory 1) (func (i32.load align=3 (i32.const 0)))", "alignment must be a power of two"),
    ("(func (i32.const 0x1_0000_0000))", "constant out of range"),
    ("(func i32.const0)", "unknown operator"),
])
def test_module_errors(text, message):
    with pytest.raises(ParseError, match=message) as info:
        parse_module(text)
    assert info.value.line is not None


@pytest.mark.parametrize("suite,wast", _script_params())
def test_suite_modules(suite, wast, request):
    """Every text module parses to wasm-tools' module; text assert_malformed are rejected."""
    suites.need_spec()
    from sharedwasm.binary.decode import decode_module
    from sharedwasm.binary.encode import encode_module
    features = suites.SUITES[suite]
    nodes = _module_nodes(wast)
    compared = same_bytes = rejected = matched = 0
    mismatches, wrong_messages, wrong_bytes = [], [], []
    for rc in suites.reference_commands(wast):
        node = nodes.get(rc.line)
        if rc.type == "assert_malformed" and rc.data.get("module_type") == "text":
            text = rc.module_text()
            with pytest.raises(MalformedError) as info:
                if node is not None:
                    parse_module_node(node, features)
                else:
                    parse_module(text, features)
            rejected += 1
            if rc.data["text"] in info.value.message:
                matched += 1
            else:
                wrong_messages.append((rc.line, rc.data["text"], info.value.message))
            continue
        ref = rc.module_bytes()
        if ref is None or node is None or rc.is_binary_form or rc.is_quote_form:
            continue
        ours = parse_module_node(node, features)
        try:
            expected = decode_module(ref, features)
        except (MalformedError, ValidationError):
            continue
        compared += 1
        if normalize(ours) != normalize(expected):
            mismatches.append(rc.line)
            continue
        if encode_module(ours) == _without_customs(ref):
            same_bytes += 1
        else:
            wrong_bytes.append(rc.line)
    request.node.user_properties.append(
        ("counts", dict(compared=compared, same_bytes=same_bytes, rejected=rejected,
                        messages=matched)))
    assert not mismatches, f"AST differs from wasm-tools at lines {mismatches[:10]}"
    assert not wrong_bytes, f"binary differs from wasm-tools at lines {wrong_bytes[:10]}"
    assert not wrong_messages, f"malformed messages differ: {wrong_messages[:5]}"
