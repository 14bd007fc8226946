"""Runtime objects as native code sees them: memories, globals and funcref tables.

Native code reaches every object through a small C block whose address sits in the
instance context; the Python objects keep the ``runtime`` interfaces, so the API, the
portable tier and the host see the same state:

- ``NativeMemoryInst`` (a ``MemoryInst``): the bytes live in one anonymous mapping that
  reserves the maximum (``MAP_NORESERVE``; 4 GiB without a maximum), so the base never
  moves; the page count lives in the descriptor ``MemDesc`` and ``grow`` (Python or
  native) only raises it. ``data`` is a view of the current size, one cached per size.
  A plain ``MemoryInst`` imported by a native instance is converted in place (its class
  changes and its bytes move into a mapping; old views keep the old bytes, as a detached
  buffer). A shared memory needs no conversion: its descriptor points into its header.
- ``NativeGlobalInst`` (a ``GlobalInst``): ``value`` lives in an 8-byte cell.
- ``NativeElements`` (a ``list``): the elements of a funcref table with a mirror of
  24-byte records (code address, context, type id) kept in sync on every write.
- Reference values (funcref, externref, exnref) are handles: ``ref_handle(obj)`` numbers
  an object (0 for None, the same number while it is registered) and keeps it alive.
  Handles belong to the thread that made them (its ``vm.ThreadState``) and live only
  while native code runs there: the thread's outermost return releases them all
  (``release_refs``), so references stored for longer (globals, tables, exception
  payloads) are kept as objects on the Python side, reached through runtime callbacks.
"""
from __future__ import annotations

import ctypes
import mmap
import weakref

from ...runtime.globals import GlobalInst
from ...runtime.memory import MemoryInst
from ...runtime.numerics import f32_from_bits, f32_to_bits, f64_from_bits, f64_to_bits
from ...spec.types import MAX_PAGES, PAGE_SIZE, Limits, MemType
from .vm import LOCAL, type_id

__all__ = ["MemDesc", "TableDesc", "NativeMemoryInst", "NativeGlobalInst", "NativeElements",
           "native_memory_desc", "native_global", "native_table", "TO_SLOT", "FROM_SLOT",
           "record_of", "ref_handle", "ref_object", "release_refs"]

_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)
_HEADER_PAGES_OFFSET = 12       # shared_memory: u32 page count after the 8-byte magic


class MemDesc(ctypes.Structure):
    """What native code reads: base address, address of the u32 page count, maximum."""
    _fields_ = [("base", ctypes.c_uint64), ("pages_ptr", ctypes.c_uint64),
                ("max_pages", ctypes.c_uint64), ("pages", ctypes.c_uint32),
                ("shared", ctypes.c_uint32)]


class TableDesc(ctypes.Structure):
    _fields_ = [("entries", ctypes.c_uint64), ("size", ctypes.c_uint64)]


# -- reference handles --------------------------------------------------------------------------

def ref_handle(obj) -> int:
    """The handle native code of this thread uses for the reference ``obj`` (0: null)."""
    if obj is None:
        return 0
    state = LOCAL.state
    h = state.handle_of.get(id(obj))
    if h is None:
        refs = state.refs
        h = state.handle_of[id(obj)] = len(refs) + 1
        refs[h] = obj           # keeps the object (and so its id) alive
    return h


def ref_object(h: int):
    return LOCAL.state.refs[h] if h else None


def release_refs(state) -> None:
    """Forget the thread's handles once none of its native frames is active."""
    if not state.vm.stack_limit:
        state.refs.clear()
        state.handle_of.clear()


# -- values in 8-byte slots (cells, host-call arguments) --------------------------------------

TO_SLOT = {"i32": lambda v: v & 0xFFFF_FFFF, "i64": lambda v: v & 0xFFFF_FFFF_FFFF_FFFF,
           "f32": f32_to_bits, "f64": f64_to_bits, "funcref": ref_handle,
           "externref": ref_handle, "exnref": ref_handle}
FROM_SLOT = {"i32": lambda u: u & 0xFFFF_FFFF, "i64": lambda u: u,
             "f32": lambda u: f32_from_bits(u & 0xFFFF_FFFF), "f64": f64_from_bits,
             "funcref": ref_object, "externref": ref_object, "exnref": ref_object}


# -- memories -----------------------------------------------------------------------------------

class _Storage:
    __slots__ = ("mm", "anchor", "desc", "full", "views", "limit_max")

    def __init__(self, limits: Limits):
        ceiling = MAX_PAGES if limits.max is None else limits.max
        flags = mmap.MAP_PRIVATE | _MAP_NORESERVE
        reserve = max(ceiling, 1) * PAGE_SIZE
        try:
            self.mm = mmap.mmap(-1, reserve, flags=flags)
        except OSError:
            ceiling = max(limits.min, 1)
            reserve = ceiling * PAGE_SIZE
            self.mm = mmap.mmap(-1, reserve, flags=flags)
        self.anchor = ctypes.c_char.from_buffer(self.mm)
        self.full = memoryview(self.mm)
        self.desc = MemDesc()
        self.desc.base = ctypes.addressof(self.anchor)
        self.desc.pages_ptr = ctypes.addressof(self.desc) + MemDesc.pages.offset
        self.desc.max_pages = ceiling
        self.desc.pages = limits.min
        self.views: dict[int, memoryview] = {}
        self.limit_max = limits.max


_DATA_SLOT = MemoryInst.__dict__["data"]       # holds the _Storage of a NativeMemoryInst


class NativeMemoryInst(MemoryInst):
    """An unshared memory whose bytes never move (see the module docstring)."""

    __slots__ = ()

    @property
    def data(self) -> memoryview:
        st = _DATA_SLOT.__get__(self, MemoryInst)
        pages = st.desc.pages
        view = st.views.get(pages)
        if view is None:
            view = st.views[pages] = st.full[:pages * PAGE_SIZE]
        return view

    @property
    def type(self) -> MemType:
        st = _DATA_SLOT.__get__(self, MemoryInst)
        return MemType(Limits(st.desc.pages, st.limit_max, False))

    @property
    def pages(self) -> int:
        return _DATA_SLOT.__get__(self, MemoryInst).desc.pages

    @property
    def size_bytes(self) -> int:
        return _DATA_SLOT.__get__(self, MemoryInst).desc.pages * PAGE_SIZE

    @property
    def desc(self) -> MemDesc:
        return _DATA_SLOT.__get__(self, MemoryInst).desc

    def grow(self, delta: int) -> int:
        desc = _DATA_SLOT.__get__(self, MemoryInst).desc
        old = desc.pages
        if delta < 0 or old + delta > desc.max_pages:
            return -1
        desc.pages = old + delta
        return old

    def __repr__(self) -> str:
        return f"<NativeMemoryInst pages={self.pages} max={self.type.limits.max}>"


def _convert_memory(mem: MemoryInst) -> NativeMemoryInst:
    limits = mem.type.limits
    old = mem.data
    storage = _Storage(limits)
    storage.full[:len(old)] = old
    storage.desc.pages = len(old) // PAGE_SIZE
    mem.__class__ = NativeMemoryInst
    _DATA_SLOT.__set__(mem, storage)
    return mem            # type: ignore[return-value]


_shared_descs: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def native_memory_desc(mem: MemoryInst) -> MemDesc:
    """The descriptor native code uses for ``mem`` (converting a plain memory in place)."""
    if getattr(mem, "shared", False):
        desc = _shared_descs.get(mem)
        if desc is None:
            desc = MemDesc()
            desc.base = mem.address
            desc.pages_ptr = mem.address - PAGE_SIZE + _HEADER_PAGES_OFFSET
            desc.max_pages = mem.maximum
            desc.shared = 1
            _shared_descs[mem] = desc
        return desc
    if not isinstance(mem, NativeMemoryInst):
        mem = _convert_memory(mem)
    return mem.desc


# -- globals ------------------------------------------------------------------------------------

_VALUE_SLOT = GlobalInst.__dict__["value"]     # holds the cell of a NativeGlobalInst


class NativeGlobalInst(GlobalInst):
    """A numeric global whose value lives in an 8-byte cell native code reads directly."""

    __slots__ = ()

    @property
    def value(self):
        return FROM_SLOT[self.type.type](_VALUE_SLOT.__get__(self, GlobalInst).value)

    @value.setter
    def value(self, v) -> None:
        _VALUE_SLOT.__get__(self, GlobalInst).value = TO_SLOT[self.type.type](v)

    @property
    def cell_address(self) -> int:
        return ctypes.addressof(_VALUE_SLOT.__get__(self, GlobalInst))


def native_global(g: GlobalInst) -> NativeGlobalInst:
    """``g`` with its value in a cell (a numeric ``GlobalInst`` is converted in place)."""
    if isinstance(g, NativeGlobalInst):
        return g
    value = g.value
    g.__class__ = NativeGlobalInst
    _VALUE_SLOT.__set__(g, ctypes.c_uint64(TO_SLOT[g.type.type](value)))
    return g              # type: ignore[return-value]


# -- funcref tables -----------------------------------------------------------------------------

_host_records: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

#: the code of a function whose type native code cannot express (v128): never called,
#: because no native function type equals its type id, so call_indirect traps first
_UNREACHABLE_CODE = 1


def record_of(func) -> tuple[int, int, int]:
    """(code address, context, type id) of a function reference; zeros for null."""
    if func is None:
        return (0, 0, 0)
    ref = getattr(func, "native_ref", None)
    if ref is not None:
        return ref
    rec = _host_records.get(func)
    if rec is None:
        ft = func.type
        if all(t in TO_SLOT for t in ft.params + ft.results):
            from .host import host_record
            rec = host_record(func)
        else:
            rec = (_UNREACHABLE_CODE, 0, type_id(ft))
        _host_records[func] = rec
    return rec


class NativeElements(list):
    """A funcref table's elements plus the native mirror call_indirect reads."""

    __slots__ = ("desc", "mirror", "__weakref__")

    def __init__(self, items=()):
        super().__init__(items)
        self.desc = TableDesc()
        self.mirror = None
        self._sync()

    def _sync(self, start: int = 0) -> None:
        n = len(self)
        if self.mirror is None or len(self.mirror) < 3 * n:
            cap = max(4, n, 2 * (len(self.mirror) // 3 if self.mirror is not None else 0))
            fresh = (ctypes.c_uint64 * (3 * cap))()
            if self.mirror is not None:
                ctypes.memmove(fresh, self.mirror, min(len(self.mirror), 3 * n) * 8)
            self.mirror = fresh
            self.desc.entries = ctypes.addressof(fresh)
        for i in range(start, n):
            self._write(i)
        self.desc.size = n

    def _write(self, i: int) -> None:
        m, j = self.mirror, 3 * i
        m[j], m[j + 1], m[j + 2] = record_of(list.__getitem__(self, i))

    def __setitem__(self, key, value) -> None:
        n = len(self)
        list.__setitem__(self, key, value)
        if isinstance(key, slice):
            if len(self) != n:
                self._sync()
            else:
                for i in range(*key.indices(n)):
                    self._write(i)
        else:
            self._write(key if key >= 0 else key + n)

    def extend(self, items) -> None:
        n = len(self)
        list.extend(self, items)
        self._sync(n)

    def append(self, item) -> None:
        self.extend([item])

    def __iadd__(self, items):
        self.extend(items)
        return self

    def __delitem__(self, key) -> None:
        list.__delitem__(self, key)
        self._sync()

    def insert(self, i, item) -> None:
        list.insert(self, i, item)
        self._sync()

    def pop(self, i=-1):
        item = list.pop(self, i)
        self._sync()
        return item


def native_table(table) -> TableDesc:
    """The descriptor of a funcref ``TableInst`` (its elements become ``NativeElements``;
    code that captured the old list would no longer see writes, so tables are converted
    before any compiled code binds them)."""
    if not isinstance(table.elements, NativeElements):
        table.elements = NativeElements(table.elements)
    return table.elements.desc
