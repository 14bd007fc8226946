"""The binary format layer: LEB128, decoding against the suites' binary grammar checks,
encoding, byte-identical round trips and the ``name`` section."""
from __future__ import annotations

import random

import pytest

import suites
from sharedwasm.binary import leb128
from sharedwasm.binary.decode import decode_module
from sharedwasm.binary.encode import encode_module
from sharedwasm.binary.names import encode_names, parse_names
from sharedwasm.errors import ALL_FEATURES, WASM2_FEATURES, MalformedError
from sharedwasm.spec import ast
from sharedwasm.spec.types import Limits

HEADER = b"\x00asm\x01\x00\x00\x00"

# Modules of the suites that use instructions outside the features in scope.
OUT_OF_SCOPE: dict[tuple[str, str, int], str] = {}


# --- helpers ------------------------------------------------------------------------------

def _expr(e):
    return None if e is None else [(i.name, i.args) for i in e]


def normalized(m: ast.Module):
    """The meaning of a module, without byte offsets, hints and names (for comparisons)."""
    return (
        m.types, m.imports,
        [(f.type_index, [t for n, t in f.locals for _ in range(n)], _expr(f.body))
         for f in m.funcs],
        m.tables, m.mems, m.tags, [(g.type, _expr(g.init)) for g in m.globals], m.exports,
        m.start,
        [(e.type, [_expr(x) for x in e.init], e.mode, e.table, _expr(e.offset))
         for e in m.elems],
        [(d.init, d.mode, d.memory, _expr(d.offset)) for d in m.datas],
        m.data_count, [(c.name, c.data) for c in m.customs],
    )


def section(sid: int, content: bytes) -> bytes:
    return bytes([sid]) + leb128.write_unsigned(len(content)) + content


def malformed(data: bytes, features=ALL_FEATURES) -> str:
    with pytest.raises(MalformedError) as info:
        decode_module(data, features)
    return info.value.message


def _suite_commands():
    suites.need_spec()
    for suite, features in suites.SUITES.items():
        for path in suites.wast_files(suite):
            for command in suites.reference_commands(path):
                yield suite, features, path, command


# --- LEB128 -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, value", [
    (b"\x00", 0), (b"\x7f", 127), (b"\x80\x01", 128), (b"\xff\xff\xff\xff\x0f", 2**32 - 1),
    (b"\x80\x80\x80\x80\x00", 0), (b"\x83\x80\x00", 3),
])
def test_read_u32(raw, value):
    assert leb128.read_u32(raw, 0) == (value, len(raw))


@pytest.mark.parametrize("raw, value", [
    (b"\x7f", -1), (b"\x40", -64), (b"\x3f", 63), (b"\xc0\x00", 64), (b"\xbf\x7f", -65),
    (b"\x80\x80\x80\x80\x78", -2**31), (b"\xff\xff\xff\xff\x07", 2**31 - 1),
    (b"\xff\xff\xff\xff\x7f", -1),
])
def test_read_s32(raw, value):
    assert leb128.read_s32(raw, 0) == (value, len(raw))


@pytest.mark.parametrize("reader, raw, message", [
    (leb128.read_u32, b"\xff\xff\xff\xff\x1f", leb128.TOO_LARGE),
    (leb128.read_u32, b"\x80\x80\x80\x80\x80\x00", leb128.TOO_LONG),
    (leb128.read_u32, b"\x80", leb128.UNEXPECTED_END),
    (leb128.read_s32, b"\xff\xff\xff\xff\x0f", leb128.TOO_LARGE),
    (leb128.read_s32, b"\x80\x80\x80\x80\x70", leb128.TOO_LARGE),
    (leb128.read_s32, b"\xff\xff\xff\xff\xff\x7f", leb128.TOO_LONG),
    (leb128.read_s64, b"\xff" * 9 + b"\x01", leb128.TOO_LARGE),
    (leb128.read_s64, b"\x80" * 9 + b"\x7e", leb128.TOO_LARGE),
    (leb128.read_s64, b"\x80" * 10 + b"\x00", leb128.TOO_LONG),
    (leb128.read_u64, b"\xff" * 9 + b"\x02", leb128.TOO_LARGE),
    (leb128.read_s33, b"\x80\x80\x80\x80\x20", leb128.TOO_LARGE),
])
def test_leb_malformed(reader, raw, message):
    with pytest.raises(MalformedError) as info:
        reader(raw, 0)
    assert info.value.message == message


def test_leb_boundaries_and_round_trip():
    assert leb128.read_s64(b"\x80" * 9 + b"\x7f", 0) == (-2**63, 10)
    assert leb128.read_u64(b"\xff" * 9 + b"\x01", 0) == (2**64 - 1, 10)
    assert leb128.read_s33(b"\xff\xff\xff\xff\x0f", 0) == (2**32 - 1, 5)
    rng = random.Random(7)
    for bits, reader, writer in ((32, leb128.read_s32, leb128.write_s32),
                                 (64, leb128.read_s64, leb128.write_s64)):
        for _ in range(300):
            v = rng.randrange(-2**(bits - 1), 2**(bits - 1))
            raw = writer(v)
            assert reader(raw, 0) == (v, len(raw))
    for _ in range(300):
        v = rng.randrange(0, 2**32)
        raw = leb128.write_u32(v)
        assert leb128.read_u32(raw, 0) == (v, len(raw))
        assert len(raw) == max(1, -(-v.bit_length() // 7))
    assert leb128.write_signed(-64) == b"\x40" and leb128.write_signed(64) == b"\xc0\x00"
    with pytest.raises(ValueError):
        leb128.write_u32(2**32)


# --- hand-made modules --------------------------------------------------------------------

def test_header_errors():
    assert malformed(b"") == "unexpected end"
    assert malformed(b"\x00as") == "unexpected end"
    assert malformed(b"\x00asm\x01\x00") == "unexpected end"
    assert malformed(b"asm\x00\x01\x00\x00\x00") == "magic header not detected"
    assert malformed(b"\x00asm\x02\x00\x00\x00") == "unknown binary version"
    assert decode_module(HEADER) == ast.Module()


def test_features_gate_opcodes_flags_and_sections():
    mem_shared = HEADER + section(5, b"\x01\x03\x01\x02")
    assert decode_module(mem_shared).mems[0].limits == Limits(1, 2, True)
    assert malformed(mem_shared, WASM2_FEATURES) == "integer too large"
    tag = HEADER + section(1, b"\x01\x60\x00\x00") + section(13, b"\x01\x00\x00")
    assert decode_module(tag).tags[0].type_index == 0
    assert malformed(tag, WASM2_FEATURES) == "malformed section id"
    tag_import = HEADER + section(1, b"\x01\x60\x00\x00") + section(2, b"\x01\x00\x00\x04\x00\x00")
    assert decode_module(tag_import).imports[0].kind == "tag"
    assert malformed(tag_import, WASM2_FEATURES) == "malformed import kind"
    # atomic.fence in a function body
    code = section(1, b"\x01\x60\x00\x00") + section(3, b"\x01\x00") + \
        section(10, b"\x01\x05\x00\xfe\x03\x00\x0b")
    assert decode_module(HEADER + code).funcs[0].body[0].name == "atomic.fence"
    assert malformed(HEADER + code, WASM2_FEATURES) == "illegal opcode"
    exnref_global = HEADER + section(6, b"\x01\x69\x00\xd0\x69\x0b")
    assert decode_module(exnref_global).globals[0].type.type == "exnref"
    assert malformed(exnref_global, WASM2_FEATURES) == "malformed value type"


def test_body_structure_and_offsets():
    body = b"\x00\x41\x01\x04\x40\x05\x0b\x1a\x0b"     # i32.const 1; if; else; end; drop
    data = HEADER + section(1, b"\x01\x60\x00\x00") + section(3, b"\x01\x00") + \
        section(10, b"\x01" + bytes([len(body)]) + body)
    m = decode_module(data)
    names = [i.name for i in m.funcs[0].body]
    assert names == ["i32.const", "if", "else", "end", "drop"]
    assert data[m.funcs[0].body[1].offset] == 0x04
    assert data[m.funcs[0].offset:m.funcs[0].offset + len(body)] == body
    assert encode_module(m) == data
    bad = body.replace(b"\x04\x40", b"\x02\x40")     # else inside a plain block
    assert malformed(data.replace(body, bad)) == "END opcode expected"


def test_data_count_rules():
    types = section(1, b"\x01\x60\x00\x00") + section(3, b"\x01\x00")
    drop = section(10, b"\x01\x05\x00\xfc\x09\x00\x0b")
    passive = section(11, b"\x01\x01\x00")
    assert malformed(HEADER + types + section(5, b"\x01\x00\x01") + drop + passive) == \
        "data count section required"
    ok = HEADER + types + section(12, b"\x01") + drop + passive
    assert decode_module(ok).data_count == 1
    assert encode_module(decode_module(ok)) == ok
    assert malformed(HEADER + types + section(12, b"\x02") + drop + passive) == \
        "data count and data section have inconsistent lengths"
    assert malformed(HEADER + types) == "function and code section have inconsistent lengths"


def test_custom_sections_keep_their_place():
    data = HEADER + section(0, b"\x01a1") + section(1, b"\x01\x60\x00\x00") + \
        section(0, b"\x01b2") + section(3, b"\x01\x00") + section(10, b"\x01\x02\x00\x0b") + \
        section(0, b"\x01c3")
    m = decode_module(data)
    assert [(c.name, c.after) for c in m.customs] == [("a", 0), ("b", 1), ("c", 10)]
    assert encode_module(m) == data


def test_name_section_is_parsed_and_tolerated():
    names = ast.Names("mod", {0: "f", 2: "h"}, {0: {0: "x", 1: "y"}})
    payload = encode_names(names)
    assert parse_names(payload) == names
    data = HEADER + section(1, b"\x01\x60\x00\x00") + section(3, b"\x01\x00") + \
        section(10, b"\x01\x02\x00\x0b") + section(0, b"\x04name" + payload)
    m = decode_module(data)
    assert m.names == names and m.customs[0].name == "name"
    broken = payload[:-3] + b"\xff\xff\xff"
    m = decode_module(data.replace(payload, broken))      # sizes unchanged: still well-formed
    assert m.names.module == "mod" and m.customs[0].data == broken
    assert parse_names(b"\x01\xff\xff\xff\xff\x0f") == ast.Names()


def test_mutated_modules_only_raise_malformed_error():
    """Damaged input must never escape as IndexError, struct.error, a hang, ..."""
    base = HEADER + section(1, b"\x02\x60\x01\x7f\x01\x7f\x60\x00\x00") + \
        section(3, b"\x02\x00\x01") + section(5, b"\x01\x01\x01\x02") + \
        section(10, b"\x02\x09\x01\x01\x7e\x20\x00\x41\x7f\x6a\x0b"
                    b"\x08\x00\x41\x00\x28\x02\x00\x1a\x0b") + \
        section(11, b"\x01\x00\x41\x00\x0b\x02hi")
    decode_module(base)
    rng = random.Random(1234)
    for _ in range(1500):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            choice = rng.random()
            i = rng.randrange(8, len(data))
            if choice < 0.6:
                data[i] = rng.randrange(256)
            elif choice < 0.8:
                del data[i:i + rng.randint(1, 4)]
            else:
                data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        try:
            decode_module(bytes(data))
        except MalformedError:
            pass


# --- the suites ---------------------------------------------------------------------------

def test_suite_modules_decode_and_round_trip():
    decoded = identical_binary = binary_form = 0
    failures = []
    for suite, features, path, command in _suite_commands():
        if command.type != "module":
            continue
        data = command.module_bytes()
        if data is None:
            continue
        key = (suite, path.name, command.line)
        try:
            m = decode_module(data, features)
        except MalformedError as err:
            if key not in OUT_OF_SCOPE:
                failures.append((key, f"decode: {err}"))
            continue
        decoded += 1
        again = encode_module(m)
        if command.is_binary_form:
            binary_form += 1
            identical_binary += again == data
            if normalized(decode_module(again, features)) != normalized(m):
                failures.append((key, "decode(encode(decode(b))) differs"))
        elif again != data:
            failures.append((key, "not byte-identical"))
    print(f"\n{decoded} suite modules decoded; binary-form: {identical_binary}/{binary_form} "
          "byte-identical")
    assert decoded > 1500
    assert not failures, failures[:20]


def test_suite_assert_malformed_binaries():
    rejected = matched = 0
    mismatches = []
    for suite, features, path, command in _suite_commands():
        if command.type != "assert_malformed":
            continue
        data = command.module_bytes()
        if data is None:
            continue
        expected = command.data["text"]
        try:
            decode_module(data, features)
        except MalformedError as err:
            rejected += 1
            if expected in err.message:
                matched += 1
            else:
                mismatches.append((suite, path.name, command.line, expected, err.message))
            continue
        pytest.fail(f"{suite}/{path.name}:{command.line} decoded; expected {expected!r}")
    print(f"\n{rejected} binary assert_malformed rejected, {matched} messages match")
    for m in mismatches:
        print("mismatch:", m)
    assert rejected > 700
    assert matched >= rejected - 5


def test_suite_invalid_modules_are_well_formed():
    count = 0
    failures = []
    for suite, features, path, command in _suite_commands():
        if command.type not in ("assert_invalid", "assert_unlinkable", "assert_uninstantiable"):
            continue
        data = command.module_bytes()
        if data is None:
            continue
        count += 1
        try:
            decode_module(data, features)
        except MalformedError as err:
            failures.append((suite, path.name, command.line, command.data.get("text"), str(err)))
    assert count > 1500
    assert not failures, failures[:20]


# --- real modules -------------------------------------------------------------------------

def test_realworld_modules_round_trip():
    folder = suites.need_realworld() / "out"
    files = sorted(folder.glob("*.wasm"))
    assert files
    for path in files:
        data = path.read_bytes()
        m = decode_module(data)
        assert encode_module(m) == data, path.name
        assert m.funcs and m.names.funcs, path.name
        imported = len(m.imported("func"))
        named = [i for i in m.names.funcs if i >= imported]
        assert named and all(m.names.funcs[i] for i in named), path.name
        # an edited body no longer matches its recorded bytes and is encoded anew
        f = next(f for f in m.funcs if f.body)
        f.body.insert(0, ast.Instr("nop"))
        assert normalized(decode_module(encode_module(m))) == normalized(m)
