"""LEB128 integers (spec 5.2.2): reading with the binary format's exact malformation rules,
and writing in the minimal (canonical) form.

Readers take ``(data, pos)`` and return ``(value, new_pos)``. An N-bit integer may use at
most ceil(N/7) bytes ("integer representation too long"); in its last byte the bits beyond
N must be zero for unsigned integers and copies of the sign bit for signed ones ("integer
too large"). Reading past the end of ``data`` raises ``MalformedError("unexpected end")``.
"""
from __future__ import annotations

from typing import Callable

from ..errors import MalformedError

__all__ = ["read_u32", "read_s32", "read_u64", "read_s64", "read_s33", "read_unsigned",
           "read_signed", "write_unsigned", "write_signed", "write_u32", "write_s32",
           "write_u64", "write_s64", "write_s33", "TOO_LONG", "TOO_LARGE", "UNEXPECTED_END"]

TOO_LONG = "integer representation too long"
TOO_LARGE = "integer too large"
UNEXPECTED_END = "unexpected end"

Reader = Callable[[bytes, int], "tuple[int, int]"]


def _unsigned_reader(bits: int) -> Reader:
    nbytes = -(-bits // 7)
    last_shift = 7 * (nbytes - 1)
    # bits of the last byte's 7 payload bits that do not fit into ``bits``
    excess = 0x7F & ~((1 << (bits - last_shift)) - 1)

    def read(data, pos: int) -> tuple[int, int]:
        try:
            b = data[pos]
            if b < 0x80:
                return b, pos + 1
            result = b & 0x7F
            shift = 7
            pos += 1
            while True:
                b = data[pos]
                pos += 1
                if shift == last_shift:
                    if b & excess:
                        raise MalformedError(TOO_LARGE, offset=pos - 1)
                    if b & 0x80:
                        raise MalformedError(TOO_LONG, offset=pos)
                    return result | (b << shift), pos
                result |= (b & 0x7F) << shift
                if b < 0x80:
                    return result, pos
                shift += 7
        except IndexError:
            raise MalformedError(UNEXPECTED_END, offset=len(data)) from None

    read.__name__ = f"read_u{bits}"
    read.__doc__ = f"Read an unsigned {bits}-bit LEB128 integer at ``pos``."
    return read


def _signed_reader(bits: int) -> Reader:
    nbytes = -(-bits // 7)
    last_shift = 7 * (nbytes - 1)
    # the last byte's sign bit and every payload bit above it must agree
    mask = (-1 << (bits - last_shift - 1)) & 0x7F

    def read(data, pos: int) -> tuple[int, int]:
        try:
            b = data[pos]
            if b < 0x40:
                return b, pos + 1
            if b < 0x80:
                return b - 0x80, pos + 1
            result = b & 0x7F
            shift = 7
            pos += 1
            while True:
                b = data[pos]
                pos += 1
                if shift == last_shift:
                    top = b & mask
                    if top and top != mask:
                        raise MalformedError(TOO_LARGE, offset=pos - 1)
                    if b & 0x80:
                        raise MalformedError(TOO_LONG, offset=pos)
                result |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    if b & 0x40:
                        result -= 1 << shift
                    return result, pos
        except IndexError:
            raise MalformedError(UNEXPECTED_END, offset=len(data)) from None

    read.__name__ = f"read_s{bits}"
    read.__doc__ = f"Read a signed {bits}-bit LEB128 integer at ``pos``."
    return read


_READERS: dict[tuple[bool, int], Reader] = {}


def read_unsigned(data, pos: int, bits: int) -> tuple[int, int]:
    """Read an unsigned LEB128 integer of any width (readers are cached per width)."""
    reader = _READERS.get((False, bits))
    if reader is None:
        reader = _READERS[(False, bits)] = _unsigned_reader(bits)
    return reader(data, pos)


def read_signed(data, pos: int, bits: int) -> tuple[int, int]:
    """Read a signed LEB128 integer of any width (readers are cached per width)."""
    reader = _READERS.get((True, bits))
    if reader is None:
        reader = _READERS[(True, bits)] = _signed_reader(bits)
    return reader(data, pos)


read_u32 = _READERS[(False, 32)] = _unsigned_reader(32)
read_u64 = _READERS[(False, 64)] = _unsigned_reader(64)
read_s32 = _READERS[(True, 32)] = _signed_reader(32)
read_s33 = _READERS[(True, 33)] = _signed_reader(33)
read_s64 = _READERS[(True, 64)] = _signed_reader(64)

_SMALL = [bytes([i]) for i in range(128)]


def write_unsigned(value: int) -> bytes:
    """The minimal LEB128 encoding of a non-negative integer."""
    if 0 <= value < 0x80:
        return _SMALL[value]
    if value < 0:
        raise ValueError(f"negative value {value} for an unsigned LEB128")
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def write_signed(value: int) -> bytes:
    """The minimal LEB128 encoding of a signed integer."""
    if 0 <= value < 0x40:
        return _SMALL[value]
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if (value == 0 and not b & 0x40) or (value == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def _checked(writer: Callable[[int], bytes], lo: int, hi: int, what: str):
    def write(value: int) -> bytes:
        if not lo <= value <= hi:
            raise ValueError(f"{value} is out of range for {what}")
        return writer(value)
    write.__name__ = f"write_{what}"
    write.__doc__ = f"The minimal LEB128 encoding of a {what} value (range-checked)."
    return write


write_u32 = _checked(write_unsigned, 0, 2**32 - 1, "u32")
write_u64 = _checked(write_unsigned, 0, 2**64 - 1, "u64")
write_s32 = _checked(write_signed, -2**31, 2**31 - 1, "s32")
write_s33 = _checked(write_signed, -2**32, 2**32 - 1, "s33")
write_s64 = _checked(write_signed, -2**63, 2**63 - 1, "s64")
