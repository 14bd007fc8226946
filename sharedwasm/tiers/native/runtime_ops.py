"""The runtime callback: rare operations native code hands to Python.

``i64 runtime(i64 handle, i32 op, i64 a, i64 b, i64 c, i64 d)``: ``handle`` names the
calling instance (a ``ModuleInstance``), ``op`` one of the operations below. Errors
(traps) are stashed like a host function's and native code unwinds.

References cross as handles (``objects.ref_handle``). Reference globals and tables keep
objects, so their accesses come here. ``throw`` raises ``WasmThrow`` like the portable
tier, so a wasm exception unwinds native code as a stashed error; ``CATCH`` is what a
``try_table`` runs when a call in it unwinds: it takes the stashed error when it is a
``WasmThrow`` matching a clause (tags by identity, as the portable tier), writes the
payload (and the exnref) to 8-byte slots and returns the clause's index; otherwise the
error stays stashed and native code goes on unwinding.
"""
from __future__ import annotations

import ctypes
from typing import Callable

from ...runtime import atomics
from ...runtime.exceptions import ExceptionInst, WasmThrow
from ...runtime.memory import memory_init
from ...runtime.table import table_copy, table_fill, table_get, table_init, table_set
from ...runtime.traps import NULL_EXN, Trap
from . import vm
from .objects import FROM_SLOT, TO_SLOT, ref_handle, ref_object

__all__ = ["MEMORY_INIT", "DATA_DROP", "MEMORY_GROW", "NOTIFY", "WAIT32", "WAIT64",
           "TABLE_SIZE", "TABLE_COPY", "TABLE_INIT", "ELEM_DROP", "TABLE_GET", "TABLE_SET",
           "TABLE_GROW", "TABLE_FILL", "REF_FUNC", "GLOBAL_GET", "GLOBAL_SET", "THROW",
           "THROW_REF", "CATCH", "CATCH_KINDS", "RUNTIME_CALLBACK"]

(MEMORY_INIT, DATA_DROP, MEMORY_GROW, NOTIFY, WAIT32, WAIT64,
 TABLE_SIZE, TABLE_COPY, TABLE_INIT, ELEM_DROP, TABLE_GET, TABLE_SET, TABLE_GROW, TABLE_FILL,
 REF_FUNC, GLOBAL_GET, GLOBAL_SET, THROW, THROW_REF, CATCH) = range(1, 21)

#: the codes of ``try_table`` clause kinds in the clause tables ``CATCH`` reads
CATCH_KINDS = {"catch": 0, "catch_ref": 1, "catch_all": 2, "catch_all_ref": 3}


def _memory_init(inst, idx: int, d: int, s: int, n: int) -> int:
    memory_init(inst.mems[0].data, inst.datas, idx, d, s, n)
    return 0


def _data_drop(inst, idx: int, *_: int) -> int:
    inst.datas[idx] = b""
    return 0


def _memory_grow(inst, delta: int, *_: int) -> int:
    return inst.mems[0].grow(delta) & 0xFFFF_FFFF


def _notify(inst, ea: int, count: int, *_: int) -> int:
    return atomics.atomic_notify(inst.mems[0].data, ea, count)


def _wait(width: int):
    def op(inst, ea: int, expected: int, timeout: int, *_: int) -> int:
        return atomics.atomic_wait(inst.mems[0].data, ea, width, expected,
                                   timeout & 0xFFFF_FFFF_FFFF_FFFF)
    return op


def _table_size(inst, idx: int, *_: int) -> int:
    return len(inst.tables[idx].elements)


def _table_copy(inst, pair: int, d: int, s: int, n: int) -> int:
    tables = inst.tables
    table_copy(tables[pair >> 32].elements, tables[pair & 0xFFFF_FFFF].elements, d, s, n)
    return 0


def _table_init(inst, pair: int, d: int, s: int, n: int) -> int:
    table_init(inst.tables[pair & 0xFFFF_FFFF].elements, inst.elems, pair >> 32, d, s, n)
    return 0


def _elem_drop(inst, idx: int, *_: int) -> int:
    inst.elems[idx] = []
    return 0


def _table_get(inst, idx: int, i: int, *_: int) -> int:
    return ref_handle(table_get(inst.tables[idx].elements, i))


def _table_set(inst, idx: int, i: int, ref: int, *_: int) -> int:
    table_set(inst.tables[idx].elements, i, ref_object(ref))
    return 0


def _table_grow(inst, idx: int, n: int, ref: int, *_: int) -> int:
    return inst.tables[idx].grow(n, ref_object(ref)) & 0xFFFF_FFFF


def _table_fill(inst, idx: int, i: int, ref: int, n: int) -> int:
    table_fill(inst.tables[idx].elements, i, ref_object(ref), n)
    return 0


def _ref_func(inst, idx: int, *_: int) -> int:
    return ref_handle(inst.funcs[idx])


def _global_get(inst, idx: int, *_: int) -> int:
    return ref_handle(inst.globals[idx].value)


def _global_set(inst, idx: int, ref: int, *_: int) -> int:
    inst.globals[idx].value = ref_object(ref)
    return 0


def _throw(inst, idx: int, slots: int, *_: int) -> int:
    tag = inst.tags[idx]
    params = tag.type.params
    raw = (ctypes.c_uint64 * max(len(params), 1)).from_address(slots)
    raise WasmThrow(ExceptionInst(tag, [FROM_SLOT[t](raw[i]) for i, t in enumerate(params)]))


def _throw_ref(inst, ref: int, *_: int) -> int:
    if not ref:
        raise Trap(NULL_EXN)
    raise WasmThrow(ref_object(ref))


def _catch(inst, table: int, slots: int, *_: int) -> int:
    """``table``: i32 count, then (kind, tag index) per clause; returns the clause taken."""
    err = vm.pending()
    if not isinstance(err, WasmThrow):
        return 0
    exn = err.exn
    n = ctypes.c_int32.from_address(table).value
    clauses = (ctypes.c_int32 * (2 * n)).from_address(table + 4)
    for i in range(n):
        kind = clauses[2 * i]
        if kind < 2 and exn.tag is not inst.tags[clauses[2 * i + 1]]:
            continue
        values = [TO_SLOT[t](v) for t, v in zip(exn.tag.type.params, exn.payload)] \
            if kind < 2 else []
        if kind & 1:
            values.append(ref_handle(exn))
        if values:
            (ctypes.c_uint64 * len(values)).from_address(slots)[:] = values
        vm.resume()
        return i
    return 0


_OPS: dict[int, Callable[..., int]] = {
    MEMORY_INIT: _memory_init, DATA_DROP: _data_drop, MEMORY_GROW: _memory_grow,
    NOTIFY: _notify, WAIT32: _wait(4), WAIT64: _wait(8),
    TABLE_SIZE: _table_size, TABLE_COPY: _table_copy, TABLE_INIT: _table_init,
    ELEM_DROP: _elem_drop, TABLE_GET: _table_get, TABLE_SET: _table_set,
    TABLE_GROW: _table_grow, TABLE_FILL: _table_fill, REF_FUNC: _ref_func,
    GLOBAL_GET: _global_get, GLOBAL_SET: _global_set, THROW: _throw, THROW_REF: _throw_ref,
    CATCH: _catch,
}

_PROTO = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_int32, ctypes.c_int64,
                          ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)


def _runtime_call(handle: int, op: int, a: int, b: int, c: int, d: int) -> int:
    try:
        return _OPS[op](vm.handle_object(handle), a, b, c, d)
    except BaseException as err:      # crosses back to the Python caller as a stashed error
        vm.stash(err)
        return 0


RUNTIME_CALLBACK = _PROTO(_runtime_call)
vm.set_callbacks(runtime_cb=ctypes.cast(RUNTIME_CALLBACK, ctypes.c_void_p).value)
