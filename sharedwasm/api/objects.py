"""The runtime objects of the public API: ``Function``, ``Memory``, ``Table``, ``Global``,
``Tag`` and ``Exception`` (the JS API's ``WebAssembly.*`` classes, in Python spelling).

Each wraps one runtime instance (``runtime.*Inst``, or a function instance) and converts
values at its boundary (``convert``). One wrapper per runtime instance: wrapping the same
instance twice gives the same object (an exported function keeps its identity through
tables, globals and other instances' imports), kept in weak caches keyed by the instance.

Failures follow the JS API with Python's classes: out-of-range sizes and failed ``grow``
raise ``ValueError`` (JS: ``RangeError``), indices outside a table ``IndexError``, values of
the wrong kind ``TypeError``; writing an immutable global raises ``AttributeError``.
"""
from __future__ import annotations

import builtins
import weakref
from typing import Any, Callable, Iterable

from ..runtime.exceptions import ExceptionInst, TagInst, WasmThrow
from ..runtime.funcs import HostFunc, is_function
from ..runtime.globals import GlobalInst
from ..runtime.memory import MemoryInst, new_memory
from ..runtime.table import TableInst
from ..spec.types import (MAX_PAGES, MAX_TABLE, PAGE_SIZE, VAL_TYPES, FuncType, GlobalType,
                          Limits, TableType)
from . import calls
from .convert import RefCodec, to_python, to_wasm

__all__ = ["Function", "Memory", "Table", "Global", "Tag", "Exception", "wrap_extern",
           "function_of", "exception_of"]

#: the JS API's element/value type names -> value types
_REF_NAMES = {"anyfunc": "funcref", "funcref": "funcref", "externref": "externref",
              "exnref": "exnref"}


def _value_type(name: Any) -> str:
    t = _REF_NAMES.get(name, name)
    if t not in VAL_TYPES:
        raise TypeError(f"unknown value type {name!r} (expected one of "
                        f"{', '.join(VAL_TYPES)} or anyfunc)")
    return t


def _count(value: Any, what: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__!r}")
    if not 0 <= value <= limit:
        raise ValueError(f"{what} must be between 0 and {limit}, not {value}")
    return value


class _Cache:
    """instance -> its one wrapper; the wrapper holds the instance, so ids stay unique."""

    def __init__(self) -> None:
        self._items: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    def get(self, inst: Any, make: Callable[[Any], Any]) -> Any:
        wrapper = self._items.get(id(inst))
        if wrapper is None:
            wrapper = self._items[id(inst)] = make(inst)
        return wrapper

    def put(self, inst: Any, wrapper: Any) -> None:
        self._items[id(inst)] = wrapper


_cache = _Cache()


def _new(cls: type, inst: Any) -> Any:
    obj = object.__new__(cls)
    obj._inst = inst
    return obj


# -- functions ---------------------------------------------------------------------------------

def _func_type(type_: Any) -> FuncType:
    if isinstance(type_, FuncType):
        return type_
    try:
        params, results = type_["parameters"], type_.get("results", ())
    except (TypeError, KeyError, AttributeError):
        raise TypeError("a function type is a FuncType or a mapping with 'parameters' and "
                        "'results'") from None
    return FuncType(tuple(_value_type(t) for t in params),
                    tuple(_value_type(t) for t in results))


class Function:
    """A WebAssembly function as a Python callable (the JS API's exported functions).

    ``Function(type, fn)`` (the type-reflection proposal's constructor) makes a host
    function of a declared type from a Python callable: ``type`` is a ``FuncType`` or a
    mapping ``{"parameters": [...], "results": [...]}``. Calling a ``Function`` converts
    arguments and results as the module docstring of ``convert`` says.
    """

    __slots__ = ("_inst", "_call", "__weakref__")

    def __new__(cls, type_: Any, fn: Callable) -> "Function":
        if not callable(fn):
            raise TypeError(f"a host function needs a callable, not {type(fn).__name__!r}")
        ftype = _func_type(type_)
        inst = HostFunc(ftype, calls.host_adapter(ftype)(fn),
                        getattr(fn, "__name__", None))
        return function_of(inst)

    def __call__(self, *args: Any) -> Any:
        return self._call(*args)

    @property
    def type(self) -> FuncType:
        return self._inst.type

    @property
    def __name__(self) -> str:       # type: ignore[override]
        return getattr(self._inst, "name", None) or getattr(self._inst, "__name__", "wasm")

    def __repr__(self) -> str:
        return f"<sharedwasm.Function {self.__name__} {self.type}>"

    def __reduce__(self):
        raise TypeError("a wasm Function cannot be pickled (pickle its Module instead)")


def _make_function(inst: Any) -> Function:
    obj = _new(Function, inst)
    obj._call = calls.caller(inst.type)(inst)
    return obj


def function_of(inst: Any) -> Function:
    """The one ``Function`` of a function instance."""
    return _cache.get(inst, _make_function)


def _funcref_in(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Function):
        return value._inst
    raise TypeError("a funcref is a wasm function (an export or a wasm.Function) or None, "
                    f"not {type(value).__name__!r}")


def _funcref_out(value: Any) -> Any:
    return None if value is None else function_of(value)


# -- memories ----------------------------------------------------------------------------------

class Memory:
    """Linear memory of 64 KiB pages (``WebAssembly.Memory``).

    ``shared=True`` needs ``maximum`` and reserves it up front in a named shared-memory
    segment (``runtime.shared_memory``); such a Memory pickles by name, so a worker process
    that unpickles it sees the same bytes. ``close()`` (or ``with``) releases the segment.
    ``buffer`` is a writable ``memoryview`` of the current size; after a ``grow`` take it
    again (an old view keeps the old bytes, as a detached ``ArrayBuffer`` would).
    """

    __slots__ = ("_inst", "__weakref__")

    def __new__(cls, initial: int, maximum: int | None = None, shared: bool = False):
        _count(initial, "initial", MAX_PAGES)
        if maximum is not None:
            _count(maximum, "maximum", MAX_PAGES)
            if maximum < initial:
                raise ValueError(f"maximum ({maximum}) is less than initial ({initial})")
        elif shared:
            raise TypeError("a shared Memory needs a maximum")
        inst = new_memory(Limits(initial, maximum, bool(shared)))
        return _cache.get(inst, lambda i: _new(cls, i))

    def __reduce__(self):
        if not self.shared:
            raise TypeError("only a shared Memory can be pickled (it travels by name)")
        return (wrap_extern, (self._inst,))

    def close(self) -> None:
        """Release a shared Memory's segment now (the creating process also unlinks it);
        a no-op for an unshared Memory."""
        close = getattr(self._inst, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def buffer(self) -> memoryview:
        inst = self._inst
        view = memoryview(inst.data)
        return view if len(inst.data) == inst.size_bytes else view[:inst.size_bytes]

    def grow(self, delta: int) -> int:
        """Grow by ``delta`` pages; returns the old size in pages (ValueError when it cannot)."""
        _count(delta, "delta", MAX_PAGES)
        old = self._inst.grow(delta)
        if old < 0:
            raise ValueError(f"cannot grow memory by {delta} pages (size {self.pages}, "
                             f"maximum {self.maximum})")
        return old

    @property
    def pages(self) -> int:
        return self._inst.size_bytes // PAGE_SIZE

    @property
    def maximum(self) -> int | None:
        return self._inst.type.limits.max

    @property
    def shared(self) -> bool:
        return self._inst.type.limits.shared

    @property
    def type(self):
        return self._inst.type

    def __repr__(self) -> str:
        shared = " shared" if self.shared else ""
        return f"<sharedwasm.Memory pages={self.pages} maximum={self.maximum}{shared}>"


# -- tables ------------------------------------------------------------------------------------

class Table:
    """A table of references (``WebAssembly.Table``): ``element`` is ``"anyfunc"``/
    ``"funcref"`` or ``"externref"``; ``value`` fills the initial elements."""

    __slots__ = ("_inst", "__weakref__")

    def __new__(cls, element: str, initial: int, maximum: int | None = None,
                value: Any = None):
        elem = _value_type(element)
        if elem not in ("funcref", "externref"):
            raise TypeError(f"a table's element type is anyfunc, funcref or externref, "
                            f"not {element!r}")
        _count(initial, "initial", MAX_TABLE)
        if maximum is not None:
            _count(maximum, "maximum", MAX_TABLE)
            if maximum < initial:
                raise ValueError(f"maximum ({maximum}) is less than initial ({initial})")
        inst = TableInst(TableType(elem, Limits(initial, maximum)), to_wasm(elem, value))
        return _cache.get(inst, lambda i: _new(cls, i))

    @property
    def length(self) -> int:
        return len(self._inst.elements)

    def __len__(self) -> int:
        return len(self._inst.elements)

    def _index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"a table index must be an int, not {type(index).__name__!r}")
        if not 0 <= index < len(self._inst.elements):
            raise IndexError(f"table index {index} out of range (length {self.length})")
        return index

    def get(self, index: int) -> Any:
        return to_python(self._inst.type.elem, self._inst.elements[self._index(index)])

    def set(self, index: int, value: Any = None) -> None:
        self._inst.elements[self._index(index)] = to_wasm(self._inst.type.elem, value)

    def grow(self, delta: int, init: Any = None) -> int:
        """Grow by ``delta`` elements set to ``init``; returns the old length."""
        _count(delta, "delta", MAX_TABLE)
        old = self._inst.grow(delta, to_wasm(self._inst.type.elem, init))
        if old < 0:
            raise ValueError(f"cannot grow table by {delta} (length {self.length}, "
                             f"maximum {self.maximum})")
        return old

    @property
    def element(self) -> str:
        return self._inst.type.elem

    @property
    def maximum(self) -> int | None:
        return self._inst.type.limits.max

    @property
    def type(self) -> TableType:
        return self._inst.type

    def __repr__(self) -> str:
        return (f"<sharedwasm.Table {self.element} length={self.length} "
                f"maximum={self.maximum}>")


# -- globals -----------------------------------------------------------------------------------

class Global:
    """A global variable (``WebAssembly.Global``); ``value`` reads it and, if ``mutable``,
    writes it. ``value=None`` means the type's default (zero, or null)."""

    __slots__ = ("_inst", "__weakref__")

    def __new__(cls, value_type: str, value: Any = None, mutable: bool = False):
        t = _value_type(value_type)
        gtype = GlobalType(t, bool(mutable))
        inst = GlobalInst(gtype) if value is None else GlobalInst(gtype, to_wasm(t, value))
        return _cache.get(inst, lambda i: _new(cls, i))

    @property
    def value(self) -> Any:
        inst = self._inst
        return to_python(inst.type.type, inst.value)

    @value.setter
    def value(self, new: Any) -> None:
        inst = self._inst
        if not inst.type.mutable:
            raise AttributeError("cannot set the value of an immutable global")
        inst.value = to_wasm(inst.type.type, new)

    @property
    def mutable(self) -> bool:
        return self._inst.type.mutable

    @property
    def type(self) -> GlobalType:
        return self._inst.type

    def __repr__(self) -> str:
        mut = "mut " if self.mutable else ""
        return f"<sharedwasm.Global {mut}{self._inst.type.type} {self.value!r}>"


# -- exception handling ------------------------------------------------------------------------

class Tag:
    """An exception tag (``WebAssembly.Tag``); ``parameters`` are the payload's value types."""

    __slots__ = ("_inst", "__weakref__")

    def __new__(cls, parameters: Iterable[str]):
        if isinstance(parameters, str):
            raise TypeError("parameters must be a sequence of value types, not a str")
        inst = TagInst(FuncType(tuple(_value_type(t) for t in parameters), ()))
        return _cache.get(inst, lambda i: _new(cls, i))

    @property
    def type(self) -> FuncType:
        return self._inst.type

    @property
    def parameters(self) -> tuple[str, ...]:
        return self._inst.type.params

    def __repr__(self) -> str:
        return f"<sharedwasm.Tag {self.type}>"


class Exception(WasmThrow):
    """A WebAssembly exception (``WebAssembly.Exception``) as a Python exception.

    A wasm ``throw`` that leaves wasm is raised as this class; a host function that raises
    one throws it into wasm, where ``try_table`` can catch it.
    """

    def __init__(self, tag: Tag, payload: Iterable[Any] = ()):
        if not isinstance(tag, Tag):
            raise TypeError(f"an Exception needs a Tag, not {type(tag).__name__!r}")
        params = tag._inst.type.params
        values = tuple(payload)
        if len(values) != len(params):
            raise TypeError(f"the tag takes {len(params)} values, got {len(values)}")
        exn = ExceptionInst(tag._inst, tuple(to_wasm(t, v) for t, v in zip(params, values)))
        super().__init__(exn)
        _cache.put(exn, self)

    def is_(self, tag: Tag) -> bool:
        """Whether this exception was thrown with ``tag``."""
        return isinstance(tag, Tag) and self.exn.tag is tag._inst

    def get_arg(self, tag: Tag, index: int) -> Any:
        """The payload value at ``index``; ``tag`` must be the exception's tag."""
        if not self.is_(tag):
            raise TypeError("the exception was not thrown with this tag")
        params = self.exn.tag.type.params
        if isinstance(index, bool) or not isinstance(index, int) \
                or not 0 <= index < len(params):
            raise IndexError(f"payload index {index} out of range ({len(params)} values)")
        return to_python(params[index], self.exn.payload[index])

    @property
    def tag(self) -> Tag:
        return _cache.get(self.exn.tag, lambda i: _new(Tag, i))

    @property
    def payload(self) -> tuple:
        params = self.exn.tag.type.params
        return tuple(to_python(t, v) for t, v in zip(params, self.exn.payload))

    def __str__(self) -> str:
        return f"wasm exception {self.exn.tag.type} payload={self.payload!r}"

    def __repr__(self) -> str:
        return f"<sharedwasm.Exception {self.exn.tag.type} {self.payload!r}>"


def _make_exception(exn: ExceptionInst) -> Exception:
    obj = builtins.BaseException.__new__(Exception)
    WasmThrow.__init__(obj, exn)
    return obj


def exception_of(exn: ExceptionInst) -> Exception:
    """The one public ``Exception`` of an exception instance."""
    return _cache.get(exn, _make_exception)


def _exception_out(throw: WasmThrow) -> Exception:
    return throw if isinstance(throw, Exception) else exception_of(throw.exn)


def _exnref_in(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Exception):
        return value.exn
    raise TypeError(f"an exnref is a wasm.Exception or None, not {type(value).__name__!r}")


def _exnref_out(value: Any) -> Any:
    return None if value is None else exception_of(value)


RefCodec.funcref_in = staticmethod(_funcref_in)
RefCodec.funcref_out = staticmethod(_funcref_out)
RefCodec.exnref_in = staticmethod(_exnref_in)
RefCodec.exnref_out = staticmethod(_exnref_out)
calls.Hooks.exception_out = staticmethod(_exception_out)


# -- extern values -----------------------------------------------------------------------------

_WRAPPERS: dict[type, type] = {MemoryInst: Memory, TableInst: Table, GlobalInst: Global,
                               TagInst: Tag}


def wrap_extern(inst: Any) -> Any:
    """The API object of a runtime extern value (function, memory, table, global, tag)."""
    cls = _WRAPPERS.get(type(inst))
    if cls is None:
        for base, wrapper in _WRAPPERS.items():
            if isinstance(inst, base):
                cls = wrapper
                break
    if cls is not None:
        return _cache.get(inst, lambda i: _new(cls, i))
    if is_function(inst):
        return function_of(inst)
    raise TypeError(f"not an extern value: {inst!r}")
