"""S-expressions: the token tree the module and script parsers walk.

``parse`` groups the lexer's tokens into ``List`` nodes; every node knows its line, column
and character offset so later errors can say where. Annotations ``(@name ...)`` are lists
with ``annotation`` set to the name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ..errors import ParseError
from .lexer import Locator, decode_string, tokenize

__all__ = ["Atom", "List", "Node", "parse", "ParseError"]


@dataclass(frozen=True, slots=True)
class Atom:
    """A token: ``kind`` is keyword, id, string, number or reserved.

    ``value``: for ``id`` the name without ``$``, for ``string`` the decoded bytes, otherwise
    the text itself.
    """

    kind: str
    text: str
    value: object
    line: int
    col: int
    pos: int

    def __repr__(self) -> str:
        return f"Atom({self.kind}:{self.text!r}@{self.line}:{self.col})"


@dataclass(slots=True, eq=False)
class List:
    """A parenthesised group; ``end`` is the offset just after its ``)``."""

    items: list
    line: int
    col: int
    pos: int
    end: int = -1
    annotation: str | None = None
    source: str | None = field(default=None, repr=False)

    def head(self) -> str | None:
        """The leading keyword, if the first item is one (``module``, ``func``, ...)."""
        if self.items:
            first = self.items[0]
            if isinstance(first, Atom) and first.kind == "keyword":
                return first.text
        return None

    def __repr__(self) -> str:
        tag = f"@{self.annotation} " if self.annotation else ""
        return f"List({tag}{self.items!r}@{self.line}:{self.col})"


Node = Union[Atom, List]


def parse(text: str | bytes, source: str | None = None, close_open: bool = False
          ) -> list[Node]:
    """Parse a whole file into its top-level nodes.

    ``close_open`` closes lists still open at the end (and stops at a stray ``)``) instead
    of failing, so that a caller can find an error the text has before the imbalance (as a
    streaming parser would report).
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ParseError("malformed UTF-8 encoding", line=1, column=e.start + 1,
                             source=source) from None
    loc = Locator(text, source)
    where = loc.where
    top: list[Node] = []
    stack: list[List] = []
    items = top
    for kind, tok, pos in tokenize(text, loc):
        if kind == "(" or kind == "(@":
            line, col = where(pos)
            node = List([], line, col, pos, annotation=tok if kind == "(@" else None,
                        source=source)
            items.append(node)
            stack.append(node)
            items = node.items
        elif kind == ")":
            if not stack:
                if close_open:
                    return top
                raise loc.error("unbalanced parenthesis", pos)
            node = stack.pop()
            node.end = pos + 1
            items = stack[-1].items if stack else top
        else:
            line, col = where(pos)
            if kind == "string":
                value: object = decode_string(tok, pos, loc)
            elif kind == "id":
                value = tok[1:]
            else:
                value = tok
            items.append(Atom(kind, tok, value, line, col, pos))
    if stack and close_open:
        for node in stack:
            node.end = len(text)
    elif stack:
        node = stack[-1]
        raise ParseError("unexpected end: unbalanced parenthesis", line=node.line,
                         column=node.col, source=source)
    return top
