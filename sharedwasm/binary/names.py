"""The ``name`` custom section (spec appendix 7.4): module, function and local names.

The section is only a debugging aid, so reading it is tolerant: a malformed ``name`` section
yields whatever could not be read as empty, never an error. Unknown subsections are skipped.
"""
from __future__ import annotations

from ..spec.ast import Names
from .leb128 import read_u32, write_unsigned

__all__ = ["parse_names", "encode_names"]

SUB_MODULE = 0
SUB_FUNCS = 1
SUB_LOCALS = 2


def _name(data: bytes, pos: int, end: int) -> tuple[str, int]:
    n, pos = read_u32(data, pos)
    if pos + n > end:
        raise ValueError("name runs past its subsection")
    return bytes(data[pos:pos + n]).decode("utf-8"), pos + n


def _name_map(data: bytes, pos: int, end: int) -> tuple[dict[int, str], int]:
    count, pos = read_u32(data, pos)
    result: dict[int, str] = {}
    for _ in range(count):
        if pos >= end:
            raise ValueError("name map runs past its subsection")
        index, pos = read_u32(data, pos)
        result[index], pos = _name(data, pos, end)
    return result, pos


def _read_module(names: Names, data: bytes, pos: int, end: int) -> None:
    names.module, _ = _name(data, pos, end)


def _read_funcs(names: Names, data: bytes, pos: int, end: int) -> None:
    names.funcs, _ = _name_map(data, pos, end)


def _read_locals(names: Names, data: bytes, pos: int, end: int) -> None:
    count, pos = read_u32(data, pos)
    result: dict[int, dict[int, str]] = {}
    for _ in range(count):
        if pos >= end:
            raise ValueError("indirect name map runs past its subsection")
        func, pos = read_u32(data, pos)
        result[func], pos = _name_map(data, pos, end)
    names.locals = result


_SUBSECTIONS = {SUB_MODULE: _read_module, SUB_FUNCS: _read_funcs, SUB_LOCALS: _read_locals}


def parse_names(payload: bytes) -> Names:
    """What a ``name`` section payload says; subsections that fail to parse are left empty."""
    names = Names()
    data = bytes(payload)
    pos, end = 0, len(data)
    try:
        while pos < end:
            sub = data[pos]
            size, pos = read_u32(data, pos + 1)
            stop = pos + size
            if stop > end:
                break
            reader = _SUBSECTIONS.get(sub)
            if reader is not None:
                try:
                    reader(names, data, pos, stop)
                except Exception:   # a damaged subsection is ignored, never an error
                    pass
            pos = stop
    except Exception:
        pass
    return names


def _encode_name(text: str) -> bytes:
    raw = text.encode("utf-8")
    return write_unsigned(len(raw)) + raw


def _encode_name_map(mapping: dict[int, str]) -> bytes:
    parts = [write_unsigned(len(mapping))]
    for index in sorted(mapping):
        parts.append(write_unsigned(index))
        parts.append(_encode_name(mapping[index]))
    return b"".join(parts)


def encode_names(names: Names) -> bytes:
    """The payload of a ``name`` section saying ``names`` (empty subsections omitted)."""
    subsections: list[tuple[int, bytes]] = []
    if names.module is not None:
        subsections.append((SUB_MODULE, _encode_name(names.module)))
    if names.funcs:
        subsections.append((SUB_FUNCS, _encode_name_map(names.funcs)))
    if names.locals:
        body = [write_unsigned(len(names.locals))]
        for func in sorted(names.locals):
            body.append(write_unsigned(func))
            body.append(_encode_name_map(names.locals[func]))
        subsections.append((SUB_LOCALS, b"".join(body)))
    return b"".join(bytes([sub]) + write_unsigned(len(body)) + body
                    for sub, body in subsections)
