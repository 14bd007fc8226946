"""The compile-and-inspect API of shared/docs/API.md: validate, Module, descriptors, custom
sections, pickling, the text tools and the asyncio forms."""
from __future__ import annotations

import array
import asyncio
import builtins
import io
import pickle
import subprocess
import sys

import pytest

import sharedwasm as wasm
from sharedwasm.spec.types import FuncType, GlobalType, MemType

HEADER = bytes.fromhex("0061736d01000000")
#: (import "env" "f" (func (param i32) (result i32))) (func (type 0) local.get 0) (memory 1)
#: (export "g" (func 1)) (export "mem" (memory 0)); custom sections a="1", b="xy", a="2"
SMALL = HEADER + bytes.fromhex(
    "0003016131"                      # custom "a" = "1"
    "01060160017f017f"                # type: (i32) -> (i32)
    "02090103656e76016600 00".replace(" ", "")  # import env.f func 0
    + "03020100"                      # func: type 0
    "0503010001"                      # memory: min 1
    "070b0201670001036d656d0200"      # export g = func 1, mem = memory 0
    "000401627879"                    # custom "b" = "xy"
    "0a0601040020000b"                # code: local.get 0
    "0003016132")                     # custom "a" = "2"
#: the same function with an empty body: the result is missing
INVALID = SMALL.replace(bytes.fromhex("0a0601040020000b"), bytes.fromhex("0a040102000b"))


def test_small_module_is_valid():
    assert wasm.validate(SMALL) is True


@pytest.mark.parametrize("convert", [bytes, bytearray, memoryview,
                                     lambda b: array.array("B", b)],
                         ids=["bytes", "bytearray", "memoryview", "array"])
def test_any_bytes_like_is_accepted(convert):
    assert wasm.validate(convert(SMALL)) is True
    assert [e.name for e in wasm.Module(convert(SMALL)).exports()] == ["g", "mem"]


@pytest.mark.parametrize("bad", [b"", b"\0asm", HEADER[:6], b"\0asn\1\0\0\0", SMALL[:-1],
                                 SMALL + b"\x01", INVALID, bytes(range(256))])
def test_validate_is_false_for_bad_bytes(bad):
    assert wasm.validate(bad) is False


@pytest.mark.parametrize("not_bytes", ["(module)", None, 42, [0, 97, 115, 109], object()])
def test_non_bytes_like_is_a_type_error(not_bytes):
    with pytest.raises(TypeError):
        wasm.validate(not_bytes)
    with pytest.raises(TypeError):
        wasm.Module(not_bytes)


def test_malformed_says_what_and_where():
    with pytest.raises(wasm.CompileError) as info:
        wasm.Module(SMALL[:-2])
    err = info.value
    assert isinstance(err, wasm.MalformedError)
    assert err.message in ("unexpected end", "length out of bounds",
                           "unexpected end of section or function")
    assert err.offset is not None and f"0x{err.offset:x}" in str(err)


def test_invalid_says_what_and_which_function():
    with pytest.raises(wasm.ValidationError) as info:
        wasm.Module(INVALID)
    err = info.value
    assert isinstance(err, wasm.CompileError)
    assert "type mismatch" in err.message
    assert err.func_index == 1 and "function 1" in str(err)


def test_bad_magic_message():
    with pytest.raises(wasm.MalformedError) as info:
        wasm.Module(b"\0asn\1\0\0\0")
    assert info.value.message == "magic header not detected"


def test_exports_and_imports_descriptors():
    m = wasm.Module(SMALL)
    exports = m.exports()
    assert [(e.name, e.kind) for e in exports] == [("g", "function"), ("mem", "memory")]
    assert exports[0].type == FuncType(("i32",), ("i32",))
    assert isinstance(exports[1].type, MemType) and exports[1].type.limits.min == 1
    imports = m.imports()
    assert [(i.module, i.name, i.kind) for i in imports] == [("env", "f", "function")]
    assert imports[0].type == FuncType(("i32",), ("i32",))
    assert wasm.Module.exports(m) == exports and wasm.Module.imports(m) == imports


def test_static_forms_need_a_module():
    for method in (wasm.Module.exports, wasm.Module.imports):
        with pytest.raises(TypeError):
            method(SMALL)
    with pytest.raises(TypeError):
        wasm.Module.custom_sections(SMALL, "a")
    with pytest.raises(TypeError):
        wasm.Module(SMALL).custom_sections(b"a")


def test_custom_sections_in_order():
    m = wasm.Module(SMALL)
    assert wasm.Module.custom_sections(m, "a") == [b"1", b"2"]
    assert m.custom_sections("b") == [b"xy"]
    assert m.custom_sections("c") == []
    assert all(type(s) is bytes for s in m.custom_sections("a"))


def test_every_kind_is_named_as_in_the_js_api():
    binary = wasm.wat2wasm("""(module
        (import "m" "t" (table 1 funcref)) (import "m" "g" (global i32))
        (import "m" "x" (tag (param i64)))
        (func (export "f")) (table (export "t") 2 externref) (memory (export "m") 1)
        (global (export "g") (mut f64) (f64.const 0)) (tag (export "e") (param i32)))""")
    m = wasm.Module(binary)
    assert [(e.name, e.kind) for e in m.exports()] == [
        ("f", "function"), ("t", "table"), ("m", "memory"), ("g", "global"), ("e", "tag")]
    assert [i.kind for i in m.imports()] == ["table", "global", "tag"]
    assert m.exports()[3].type == GlobalType("f64", True)
    assert m.exports()[4].type == FuncType(("i32",), ())
    assert m.imports()[2].type == FuncType(("i64",), ())


def test_the_input_is_copied():
    data = bytearray(SMALL)
    m = wasm.Module(data)
    data[:] = b"\0" * len(data)
    assert m.binary == SMALL and [e.name for e in m.exports()] == ["g", "mem"]


def test_pickle_round_trip():
    m = wasm.Module(SMALL)
    again = pickle.loads(pickle.dumps(m))
    assert isinstance(again, wasm.Module) and again is not m
    assert again.binary == SMALL
    assert again.exports() == m.exports() and again.imports() == m.imports()
    assert again.custom_sections("a") == [b"1", b"2"]


def test_pickle_carries_features():
    m = wasm.Module(SMALL, features=wasm.WASM2_FEATURES)
    assert pickle.loads(pickle.dumps(m)).features == wasm.WASM2_FEATURES


def test_pickle_reaches_another_process():
    code = ("import pickle, sys; m = pickle.loads(sys.stdin.buffer.read()); "
            "print([e.name for e in m.exports()])")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(wasm.Module(SMALL)),
                         capture_output=True, check=True, timeout=60)
    assert out.stdout.decode().strip() == "['g', 'mem']"


def test_wat2wasm_and_back():
    text = '(module (func (export "add") (param i32 i32) (result i32) ' \
           '(i32.add (local.get 0) (local.get 1))))'
    binary = wasm.wat2wasm(text)
    assert binary.startswith(HEADER) and wasm.validate(binary)
    printed = wasm.wasm2wat(binary)
    assert isinstance(printed, str) and "i32.add" in printed
    assert wasm.wat2wasm(printed) == binary
    assert wasm.wat2wasm(text.encode()) == binary


def test_wasm2wat_of_a_binary_with_customs():
    assert wasm.wat2wasm(wasm.wasm2wat(SMALL)) == SMALL


def test_wat2wasm_reports_line_and_column():
    with pytest.raises(wasm.ParseError) as info:
        wasm.wat2wasm("(module\n  (func (result i32)\n    (i32.const 1) (i32.frobnicate)))")
    err = info.value
    assert isinstance(err, wasm.CompileError) and isinstance(err, wasm.MalformedError)
    assert err.line == 3 and err.column is not None
    assert "3:" in str(err)


def test_wat2wasm_encodes_invalid_modules_unless_asked():
    text = "(module (func (result i32)))"
    binary = wasm.wat2wasm(text)
    assert not wasm.validate(binary)
    with pytest.raises(wasm.ValidationError):
        wasm.wat2wasm(text, validate=True)


def test_wat2wasm_rejects_bad_utf8_as_parse_error():
    with pytest.raises(wasm.ParseError):
        wasm.wat2wasm(b'(module (@custom "x" "\xff"))\n\xff')


def test_wasm2wat_of_bad_bytes():
    with pytest.raises(wasm.MalformedError):
        wasm.wasm2wat(b"\0asm\2\0\0\0")
    with pytest.raises(TypeError):
        wasm.wasm2wat("(module)")


def test_compile():
    m = asyncio.run(wasm.compile(SMALL))
    assert isinstance(m, wasm.Module) and m.custom_sections("b") == [b"xy"]
    with pytest.raises(wasm.CompileError):
        asyncio.run(wasm.compile(SMALL[:-1]))


def test_compile_streaming_sources(tmp_path):
    async def chunks():
        for i in range(0, len(SMALL), 7):
            yield SMALL[i:i + 7]
            await asyncio.sleep(0)

    path = tmp_path / "small.wasm"
    path.write_bytes(SMALL)
    for source in (chunks(), io.BytesIO(SMALL), path, str(path)):
        m = asyncio.run(wasm.compile_streaming(source))
        assert [e.name for e in m.exports()] == ["g", "mem"], source
    with pytest.raises(TypeError):
        asyncio.run(wasm.compile_streaming(12))
    with pytest.raises(FileNotFoundError):
        asyncio.run(wasm.compile_streaming(tmp_path / "missing.wasm"))


def test_errors_are_re_exported():
    assert issubclass(wasm.RuntimeError, builtins.RuntimeError)
    assert issubclass(wasm.ParseError, wasm.MalformedError)
    assert issubclass(wasm.MalformedError, wasm.CompileError)
    assert issubclass(wasm.ValidationError, wasm.CompileError)
    assert not issubclass(wasm.LinkError, wasm.CompileError)
    for name in ("Module", "validate", "wat2wasm", "wasm2wat", "compile", "compile_streaming",
                 "CompileError", "LinkError", "RuntimeError"):
        assert name in dir(wasm) and name in wasm.__all__
    with pytest.raises(AttributeError):
        wasm.no_such_name


def test_import_is_lazy():
    code = ("import sys, sharedwasm; heavy = [m for m in sys.modules if m.startswith("
            "('sharedwasm.binary', 'sharedwasm.text', 'sharedwasm.valid', 'asyncio'))]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_repr():
    assert "2 exports" in repr(wasm.Module(SMALL))
