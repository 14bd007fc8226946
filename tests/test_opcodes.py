"""Every row of the instruction table is covered by every layer, and survives every format.

Coverage is read from each layer's dispatch tables (the conventions of their modules):

- decoder: ``binary.instructions.opcode_tables`` has an entry at the row's code, and
  ``IMMEDIATE_DECODERS`` reads each immediate kind;
- encoder: ``binary.encode.IMMEDIATE_ENCODERS`` writes each immediate kind;
- parser: ``text.instructions.SPECIAL`` has the mnemonic, or ``IMMEDIATES`` reads each kind
  (block instructions and typed ``select`` have their own grammar rules);
- printer: ``text.printer`` special-cases the mnemonic or prints each immediate kind;
- validator: ``valid.code.RULES`` or ``PLAIN`` has the mnemonic.

Then one small valid function per instruction (from its signature, or a hand-made body for
the instructions without a plain one) goes validate -> encode -> decode -> print -> parse
-> encode, and must give the same instructions and the same bytes.
"""
from __future__ import annotations

import pytest

from sharedwasm.binary import encode as encoder
from sharedwasm.binary import instructions as decoder
from sharedwasm.binary.decode import decode_module
from sharedwasm.errors import ALL_FEATURES
from sharedwasm.spec import ast
from sharedwasm.spec.ast import Catch, Instr, MemArg
from sharedwasm.spec.opcodes import OPS
from sharedwasm.spec.types import FuncType, GlobalType, Limits, MemType, TableType, TagType
from sharedwasm.text import instructions as parser_instructions
from sharedwasm.text import printer
from sharedwasm.text.parser import parse_module
from sharedwasm.valid import code as validator
from sharedwasm.valid.validate import validate_module

ROWS = sorted(OPS)
#: instructions the text grammar handles outside the per-instruction tables
TEXT_GRAMMAR = {"block", "loop", "if", "try_table", "else", "end", "select", "select_t"}


def _printer_special() -> dict:
    return getattr(printer, "_SPECIAL", {})


def _printer_imms() -> dict:
    return getattr(printer, "_IMM_TEXT", {})


def test_the_table_is_consistent():
    codes = {(i.prefix, i.code) for i in OPS.values()}
    assert len(codes) == len(OPS) > 400
    for info in OPS.values():
        assert (info.params is None) == (info.results is None), info.name


@pytest.mark.parametrize("name", ROWS)
def test_decoder_covers(name: str):
    info = OPS[name]
    single, prefixed = decoder.opcode_tables(ALL_FEATURES)
    entry = single[info.code] if info.prefix is None else prefixed.get((info.prefix, info.code))
    assert entry is not None and entry[0] == name
    assert all(kind in decoder.IMMEDIATE_DECODERS for kind in info.imms)


@pytest.mark.parametrize("name", ROWS)
def test_encoder_covers(name: str):
    assert all(kind in encoder.IMMEDIATE_ENCODERS for kind in OPS[name].imms)


@pytest.mark.parametrize("name", ROWS)
def test_parser_covers(name: str):
    if name in TEXT_GRAMMAR or name in parser_instructions.SPECIAL:
        return
    assert all(kind in parser_instructions.IMMEDIATES for kind in OPS[name].imms)


@pytest.mark.parametrize("name", ROWS)
def test_printer_covers(name: str):
    if name in _printer_special():
        return
    assert all(kind in _printer_imms() or kind == "memarg" for kind in OPS[name].imms)


@pytest.mark.parametrize("name", ROWS)
def test_validator_covers(name: str):
    assert name in validator.RULES or name in validator.PLAIN


# -- one function per instruction -----------------------------------------------------------

#: a value of each immediate kind that makes a valid instruction in the module below
DEFAULT_IMMS = {
    "labelidx": 0, "funcidx": 0, "typeidx": 2, "tableidx": 0, "localidx": 0, "globalidx": 0,
    "dataidx": 0, "elemidx": 0, "tagidx": 0, "memidx": 0, "lane": 1, "zero": 0,
    "i32": -123456, "i64": -(2**40) - 3, "f32": 0x7FA00001, "f64": 0xFFF0000000000123,
    "v128": bytes(range(0xF0, 0x100)), "shuffle": tuple(range(15, -1, -1)),
    "heaptype": "func",
}

E, I32, FR = (), ("i32",), ("funcref",)
B = Instr("block", (None,))
END = Instr("end")


def lg(i: int) -> Instr:
    return Instr("local.get", (i,))


#: mnemonic -> (params, results, body) for the instructions without a plain signature
CUSTOM: dict[str, tuple[tuple, tuple, list[Instr]]] = {
    "unreachable": (E, E, [Instr("unreachable")]),
    "nop": (E, E, [Instr("nop")]),
    "block": (E, I32, [Instr("block", ("i32",)), Instr("i32.const", (1,)), END]),
    "loop": (E, E, [Instr("loop", (2,)), END]),
    "if": (I32, E, [lg(0), Instr("if", (None,)), Instr("nop"), Instr("else"), END]),
    "else": (I32, I32, [lg(0), Instr("if", ("i32",)), lg(0), Instr("else"),
                        Instr("i32.const", (2,)), END]),
    "end": (E, E, [B, END]),
    "throw": (I32, E, [lg(0), Instr("throw", (0,))]),
    "throw_ref": (("exnref",), E, [lg(0), Instr("throw_ref")]),
    "try_table": (E, E, [Instr("block", ("i32",)),
                         Instr("try_table", (None, (Catch("catch", 0, 0),
                                                    Catch("catch_all", None, 1)))),
                         END, Instr("i32.const", (0,)), END, Instr("drop")]),
    "br": (E, E, [B, Instr("br", (0,)), END]),
    "br_if": (I32, E, [B, lg(0), Instr("br_if", (0,)), END]),
    "br_table": (I32, E, [B, B, lg(0), Instr("br_table", ((0, 1, 0), 1)), END, END]),
    "return": (E, E, [Instr("return")]),
    "call": (E, E, [Instr("call", (0,))]),
    "call_indirect": (I32, E, [lg(0), Instr("call_indirect", (2, 0))]),
    "return_call": (E, E, [Instr("return_call", (0,))]),
    "return_call_indirect": (I32, E, [lg(0), Instr("return_call_indirect", (2, 0))]),
    "drop": (I32, E, [lg(0), Instr("drop")]),
    "select": (("i32", "i32", "i32"), I32, [lg(0), lg(1), lg(2), Instr("select")]),
    "select_t": (("externref", "externref", "i32"), ("externref",),
                 [lg(0), lg(1), lg(2), Instr("select_t", (("externref",),))]),
    "local.get": (I32, I32, [lg(0)]),
    "local.set": (I32, E, [lg(0), Instr("local.set", (0,))]),
    "local.tee": (I32, I32, [lg(0), Instr("local.tee", (0,))]),
    "global.get": (E, I32, [Instr("global.get", (0,))]),
    "global.set": (I32, E, [lg(0), Instr("global.set", (0,))]),
    "table.get": (I32, ("externref",), [lg(0), Instr("table.get", (1,))]),
    "table.set": (("i32", "funcref"), E, [lg(0), lg(1), Instr("table.set", (0,))]),
    "table.grow": (("funcref", "i32"), I32, [lg(0), lg(1), Instr("table.grow", (0,))]),
    "table.fill": (("i32", "externref", "i32"), E,
                   [lg(0), lg(1), lg(2), Instr("table.fill", (1,))]),
    "memory.size": (E, I32, [Instr("memory.size", (0,))]),
    "memory.grow": (I32, I32, [lg(0), Instr("memory.grow", (0,))]),
    "ref.null": (E, ("externref",), [Instr("ref.null", ("extern",))]),
    "ref.is_null": (FR, I32, [lg(0), Instr("ref.is_null")]),
    "ref.func": (E, FR, [Instr("ref.func", (0,))]),
}


def _args(name: str) -> tuple:
    info = OPS[name]
    return tuple(MemArg(info.align, 3) if kind == "memarg" else DEFAULT_IMMS[kind]
                 for kind in info.imms)


def module_for(name: str) -> ast.Module:
    """A valid module whose function 0 uses ``name``."""
    info = OPS[name]
    if name in CUSTOM:
        params, results, body = CUSTOM[name]
    else:
        assert info.params is not None, f"no signature and no custom body for {name}"
        params, results = info.params, info.results
        body = [lg(i) for i in range(len(params))] + [Instr(name, _args(name))]
    tree = ast.Module()
    tree.types = [FuncType(tuple(params), tuple(results)), FuncType(I32, E), FuncType()]
    tree.funcs = [ast.Func(0, [(1, "i64")], list(body))]
    tree.tables = [TableType("funcref", Limits(1)), TableType("externref", Limits(1, 5))]
    tree.mems = [MemType(Limits(1, 2, True))]
    tree.tags = [TagType(1)]
    tree.globals = [ast.Global(GlobalType("i32", True), [Instr("i32.const", (0,))])]
    tree.elems = [ast.Elem("funcref", [[Instr("ref.func", (0,))]], mode="declarative",
                           exprs_hint=True)]
    tree.datas = [ast.Data(b"xyz", mode="passive")]
    tree.data_count = 1 if name in ("memory.init", "data.drop") else None
    tree.exports = [ast.Export("f", "func", 0)]
    return tree


@pytest.mark.parametrize("name", ROWS)
def test_instruction_survives_every_format(name: str):
    tree = module_for(name)
    binary = encoder.encode_module(tree)
    decoded = decode_module(binary, ALL_FEATURES)
    validate_module(decoded, ALL_FEATURES)
    body = decoded.funcs[0].body
    assert [(i.name, i.args) for i in body] == [(i.name, i.args) for i in tree.funcs[0].body]
    assert any(i.name == name for i in body)
    text = printer.print_module(decoded)
    again = parse_module(text, ALL_FEATURES)
    assert [(i.name, i.args) for i in again.funcs[0].body] == \
        [(i.name, i.args) for i in body], text
    assert encoder.encode_module(again) == binary, text


def test_every_row_gets_a_function():
    missing = [n for n in ROWS if n not in CUSTOM and OPS[n].params is None]
    assert not missing
