"""The runtime callback: rare operations native code hands to Python.

``i64 runtime(i64 handle, i32 op, i64 a, i64 b, i64 c, i64 d)``: ``handle`` names the
calling instance (a ``ModuleInstance``), ``op`` one of the operations below. Errors
(traps) are stashed like a host function's and native code unwinds.
"""
from __future__ import annotations

import ctypes
from typing import Callable

from ...runtime import atomics
from ...runtime.memory import memory_init
from ...runtime.table import table_copy, table_init
from . import vm

__all__ = ["MEMORY_INIT", "DATA_DROP", "MEMORY_GROW", "NOTIFY", "WAIT32", "WAIT64",
           "TABLE_SIZE", "TABLE_COPY", "TABLE_INIT", "ELEM_DROP", "RUNTIME_CALLBACK"]

(MEMORY_INIT, DATA_DROP, MEMORY_GROW, NOTIFY, WAIT32, WAIT64,
 TABLE_SIZE, TABLE_COPY, TABLE_INIT, ELEM_DROP) = range(1, 11)


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


_OPS: dict[int, Callable[..., int]] = {
    MEMORY_INIT: _memory_init, DATA_DROP: _data_drop, MEMORY_GROW: _memory_grow,
    NOTIFY: _notify, WAIT32: _wait(4), WAIT64: _wait(8),
    TABLE_SIZE: _table_size, TABLE_COPY: _table_copy, TABLE_INIT: _table_init,
    ELEM_DROP: _elem_drop,
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
vm.VM.runtime_cb = ctypes.cast(RUNTIME_CALLBACK, ctypes.c_void_p).value
