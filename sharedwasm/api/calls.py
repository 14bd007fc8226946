"""Generated adapters between Python calls and the engine's calling convention.

The engine calls a function instance with internal values positionally and gets ``None``,
one value or a tuple back (``runtime.funcs``). Two adapters per function type, generated
once per ``FuncType`` and cached, so a call does no per-argument dispatch:

- the *caller* makes a wasm function callable from Python: it converts API arguments to
  internal values, calls, converts the results back, and turns a wasm exception leaving
  wasm into ``wasm.Exception`` and call-stack exhaustion into the trap. A function of the
  portable tier runs with the raised recursion limit (``runtime.callstack``); machine code
  does not recurse in Python, so the caller of a native function (one with a
  ``native_ref``) skips that bookkeeping, which costs as much as the call itself: the
  native tier raises the limit where machine code calls back into Python;
- the *host adapter* makes a Python callable a host function of a declared type: it
  converts internal arguments to API values, calls, converts the results back. Whatever
  the callable raises propagates unchanged.
"""
from __future__ import annotations

import linecache
from typing import Any, Callable

from ..errors import RuntimeError as Trap
from ..runtime import callstack
from ..runtime.exceptions import WasmThrow
from ..spec.types import FuncType
from .convert import ARG_CODE, RESULT_CODE, wrapper_namespace

STACK_EXHAUSTED = "call stack exhausted"

_callers: dict[FuncType, Callable] = {}
_adapters: dict[FuncType, Callable] = {}


class Hooks:
    """Set by ``objects``: turns an escaping ``WasmThrow`` into the public exception."""

    exception_out: Callable[[WasmThrow], BaseException] = lambda throw: throw


def _exhausted() -> Trap:
    return Trap(STACK_EXHAUSTED)


def _namespace() -> dict[str, Any]:
    ns = wrapper_namespace()
    ns.update(WasmThrow=WasmThrow, _exhausted=_exhausted, _hooks=Hooks,
              _enter=callstack.enter, _leave=callstack.leave)
    return ns


def _compile(source: str, name: str) -> Callable:
    filename = f"<sharedwasm {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns = _namespace()
    exec(compile(source, filename, "exec"), ns)
    return ns["make"]


def _results_from_wasm(results: tuple[str, ...], value: str) -> list[str]:
    """Lines returning the engine's result(s) held in ``value`` as API values."""
    if not results:
        return ["return None"]
    if len(results) == 1:
        return [f"return {RESULT_CODE[results[0]].format(v=value)}"]
    names = [f"r{i}" for i in range(len(results))]
    return [f"{', '.join(names)} = {value}",
            "return (" + "".join(RESULT_CODE[t].format(v=n) + ", "
                                 for t, n in zip(results, names)) + ")"]


def _guarded(indent: str, call: str, leave: bool) -> list[str]:
    """``call`` with a wasm exception or a Python recursion overflow leaving it as the API's
    errors (and the recursion limit ``_enter`` raised restored when ``leave``)."""
    lines = ["try:", f"    {call}",
             "except WasmThrow as throw:", "    raise _hooks.exception_out(throw) from None",
             "except RecursionError:", "    raise _exhausted() from None"]
    if leave:
        lines += ["finally:", "    _leave()"]
    return [indent + line for line in lines]


def caller(ftype: FuncType) -> Callable[[Callable], Callable]:
    """``make(func)`` -> a Python callable taking and returning API values for ``func``."""
    make = _callers.get(ftype)
    if make is None:
        params = [f"a{i}" for i in range(len(ftype.params))]
        args = ", ".join(ARG_CODE[t].format(v=p) for t, p in zip(ftype.params, params))
        results = [f"        {line}" for line in _results_from_wasm(ftype.results, "r")]
        body = ["def make(func):",
                "    if getattr(func, 'native_ref', None) is not None:",
                f"        def call({', '.join(params)}):",
                *_guarded("            ", f"r = func({args})", leave=False),
                *(f"    {line}" for line in results),
                "        return call",
                f"    def call({', '.join(params)}):",
                "        _enter()",
                *_guarded("        ", f"r = func({args})", leave=True),
                *results,
                "    return call"]
        make = _callers[ftype] = _compile("\n".join(body) + "\n", f"call {ftype}")
    return make


def host_adapter(ftype: FuncType) -> Callable[[Callable], Callable]:
    """``make(fn)`` -> a host function body for ``fn`` in the engine's convention."""
    make = _adapters.get(ftype)
    if make is None:
        params = [f"a{i}" for i in range(len(ftype.params))]
        args = ", ".join(RESULT_CODE[t].format(v=p) for t, p in zip(ftype.params, params))
        n = len(ftype.results)
        if n == 0:
            tail = ["        fn(" + args + ")", "        return None"]
        elif n == 1:
            tail = [f"        r = fn({args})",
                    f"        return {ARG_CODE[ftype.results[0]].format(v='r')}"]
        else:
            names = [f"r{i}" for i in range(n)]
            tail = [f"        {', '.join(names)}, = fn({args})",
                    "        return (" + "".join(ARG_CODE[t].format(v=v) + ", "
                                         for t, v in zip(ftype.results, names)) + ")"]
        body = ["def make(fn):",
                f"    def host({', '.join(params)}):",
                *tail,
                "    return host"]
        make = _adapters[ftype] = _compile("\n".join(body) + "\n", f"host {ftype}")
    return make
