"""Tokens of the text format (spec 6.3.1-6.3.5): the lexer and string literal decoding.

A token is a maximal run of characters up to whitespace, a parenthesis or a comment; it is
then classified as a number, keyword, identifier, string or reserved token. Reserved tokens
are kept (the parser reports them as "unknown operator" where it finds them), so that the
s-expression layer stays a pure grouping step.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from typing import Iterator, NamedTuple

from ..errors import ParseError

__all__ = ["Token", "tokenize", "decode_string", "IDCHARS", "is_keyword", "is_number",
           "Locator"]

IDCHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    "!#$%&'*+-./:<=>?@\\^_`|~")

_NUM = r"[0-9](?:_?[0-9])*"
_HEXNUM = r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
_NUMBER_RE = re.compile(
    rf"[+-]?(?:{_NUM}(?:\.(?:{_NUM})?)?(?:[eE][+-]?{_NUM})?"
    rf"|0x{_HEXNUM}(?:\.(?:{_HEXNUM})?)?(?:[pP][+-]?{_NUM})?"
    rf"|inf|nan(?::0x{_HEXNUM})?)")
_IDCHARS_RE = re.compile(r"[0-9A-Za-z!#$%&'*+\-./:<=>?@\\^_`|~]+")
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)

# One alternative per token class; ``tok`` is a run of token characters and strings.
_SCAN = re.compile(r'''
    (?P<ws>[ \t\n\r]+)
  | (?P<lc>;;[^\n\r]*)
  | (?P<bc>\(;)
  | (?P<ann>\(@)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<tok>(?:[^ \t\n\r()";]|;(?!;)|"(?:[^"\\]|\\.)*")+)
''', re.X | re.S)
_BLOCK_COMMENT = re.compile(r"\(;|;\)")

_ESCAPES = {"t": b"\t", "n": b"\n", "r": b"\r", '"': b'"', "'": b"'", "\\": b"\\"}
_HEX = frozenset("0123456789abcdefABCDEF")


class Token(NamedTuple):
    """``kind``: one of ``(`` ``)`` ``(@`` (annotation start, ``text`` its name), or an atom kind."""

    kind: str
    text: str
    pos: int


class Locator:
    """Turns character offsets into 1-based (line, column) pairs."""

    def __init__(self, text: str, source: str | None = None):
        self.source = source
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(self, pos: int) -> tuple[int, int]:
        line = bisect_right(self._starts, pos)
        return line, pos - self._starts[line - 1] + 1

    def error(self, message: str, pos: int) -> ParseError:
        line, col = self.where(pos)
        return ParseError(message, line=line, column=col, source=self.source)


def is_number(text: str) -> bool:
    return _NUMBER_RE.fullmatch(text) is not None


def is_keyword(text: str) -> bool:
    return "a" <= text[0] <= "z" and _IDCHARS_RE.fullmatch(text) is not None


def classify(text: str) -> str:
    """The atom kind of one token run (spec: the longest match decides)."""
    c = text[0]
    if c == '"':
        return "string" if _STRING_RE.fullmatch(text) else "reserved"
    if c == "$":
        if len(text) > 1 and _IDCHARS_RE.fullmatch(text):
            return "id"
        return "reserved"
    if _NUMBER_RE.fullmatch(text):
        return "number"
    if "a" <= c <= "z" and _IDCHARS_RE.fullmatch(text):
        return "keyword"
    return "reserved"


def decode_string(raw: str, pos: int, loc: Locator) -> bytes:
    """Decode a string literal (with its quotes) to bytes; escapes as in spec 6.3.3."""
    body = raw[1:-1]
    if "\\" not in body:
        _check_chars(body, pos + 1, loc)
        return body.encode("utf-8", "surrogatepass")
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        j = body.find("\\", i)
        if j < 0:
            j = n
        if j > i:
            chunk = body[i:j]
            _check_chars(chunk, pos + 1 + i, loc)
            out += chunk.encode("utf-8", "surrogatepass")
        if j >= n:
            break
        e = body[j + 1]
        if e in _ESCAPES:
            out += _ESCAPES[e]
            i = j + 2
        elif e in _HEX and j + 2 < n and body[j + 2] in _HEX:
            out.append(int(body[j + 1:j + 3], 16))
            i = j + 3
        elif e == "u" and j + 2 < n and body[j + 2] == "{":
            close = body.find("}", j + 3)
            digits = body[j + 3:close] if close > 0 else ""
            if not digits or not re.fullmatch(_HEXNUM, digits):
                raise loc.error("malformed escape", pos + 1 + j)
            cp = int(digits.replace("_", ""), 16)
            if cp >= 0x110000 or 0xD800 <= cp < 0xE000:
                raise loc.error("malformed UTF-8 encoding", pos + 1 + j)
            out += chr(cp).encode("utf-8")
            i = close + 1
        else:
            raise loc.error("illegal escape", pos + 1 + j)
    return bytes(out)


def _check_chars(chunk: str, pos: int, loc: Locator) -> None:
    for k, ch in enumerate(chunk):
        o = ord(ch)
        if o < 0x20 or o == 0x7F:
            raise loc.error("illegal control character", pos + k)
        if 0xD800 <= o < 0xE000:
            raise loc.error("malformed UTF-8 encoding", pos + k)


def tokenize(text: str, loc: Locator) -> Iterator[Token]:
    """Yield the tokens of ``text``, skipping whitespace and comments."""
    scan = _SCAN.match
    pos, n = 0, len(text)
    while pos < n:
        m = scan(text, pos)
        if m is None:
            ch = text[pos]
            if ch == '"':
                raise loc.error("unclosed string literal", pos)
            raise loc.error("unknown operator" if ch == ";" else "illegal character", pos)
        kind = m.lastgroup
        end = m.end()
        if kind == "tok":
            yield Token(classify(m.group()), m.group(), pos)
        elif kind == "lp":
            yield Token("(", "(", pos)
        elif kind == "rp":
            yield Token(")", ")", pos)
        elif kind == "bc":
            end = _skip_block_comment(text, pos, loc)
        elif kind == "ann":
            name = _IDCHARS_RE.match(text, end)
            if name is None:
                raise loc.error("unexpected token", end)
            yield Token("(@", name.group(), pos)
            end = name.end()
        pos = end


def _skip_block_comment(text: str, pos: int, loc: Locator) -> int:
    depth, i = 0, pos
    finder = _BLOCK_COMMENT.search
    while True:
        m = finder(text, i)
        if m is None:
            raise loc.error("unclosed comment", pos)
        depth += 1 if m.group() == "(;" else -1
        i = m.end()
        if depth == 0:
            return i
