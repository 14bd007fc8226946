"""Traps (spec 4.4.1): the spec's trap texts and the one exception class that carries them.

A trap is ``sharedwasm.errors.RuntimeError`` whose ``message`` is the text the suites'
``assert_trap`` commands expect. Generated code raises the prebuilt factories below so a
message is spelled in one place only.
"""
from __future__ import annotations

from ..errors import RuntimeError as Trap

__all__ = ["Trap", "trap", "UNREACHABLE", "INT_DIV_ZERO", "INT_OVERFLOW", "INVALID_CONV",
           "OOB_MEMORY", "OOB_TABLE", "UNDEFINED_ELEMENT", "UNINITIALIZED_ELEMENT",
           "INDIRECT_MISMATCH", "STACK_EXHAUSTED", "NULL_FUNC", "NULL_EXN", "UNALIGNED_ATOMIC",
           "EXPECTED_SHARED"]

UNREACHABLE = "unreachable"
INT_DIV_ZERO = "integer divide by zero"
INT_OVERFLOW = "integer overflow"
INVALID_CONV = "invalid conversion to integer"
OOB_MEMORY = "out of bounds memory access"
OOB_TABLE = "out of bounds table access"
UNDEFINED_ELEMENT = "undefined element"
UNINITIALIZED_ELEMENT = "uninitialized element"
INDIRECT_MISMATCH = "indirect call type mismatch"
STACK_EXHAUSTED = "call stack exhausted"
NULL_FUNC = "null function reference"
NULL_EXN = "null exception reference"
UNALIGNED_ATOMIC = "unaligned atomic"
EXPECTED_SHARED = "expected shared memory"


def trap(message: str) -> Trap:
    """A trap to ``raise``; a function so generated code stays short (``raise trap(...)``)."""
    return Trap(message)
