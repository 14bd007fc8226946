"""Calls from native code into Python: host-function trampolines and the two callbacks.

A host function (anything callable that is not native code: a ``HostFunc``, a function
of the portable tier) is reached through a trampoline compiled once per function type:
it stores the arguments in 8-byte slots and calls the host callback (read from the VM
state it is given, so the trampoline holds no address) with the function's handle; the
callback converts, calls, writes the results back and returns 0, or stashes the exception
(``vm.stash``, in the state of the thread it runs on) and returns 1. Native callers then
see the trap code and unwind. The callbacks are ``ctypes`` callbacks kept alive here for
the process lifetime.
"""
from __future__ import annotations

import ctypes

from llvmlite import ir

from ...runtime import callstack
from ...runtime.funcs import target
from ...spec.types import FuncType
from . import vm
from .codegen import VM_HOST_CB
from .irtypes import I32, I64, field, func_type, from_slot, pack_results, to_slot
from .jit import compile_ir, triple_and_layout
from .objects import FROM_SLOT, TO_SLOT

__all__ = ["host_record", "HOST_CALLBACK", "trampoline"]

_HOST_PROTO = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p,
                               ctypes.c_void_p)


class _HostEntry:
    __slots__ = ("fn", "params", "results")

    def __init__(self, func):
        self.fn = target(func)
        self.params = [FROM_SLOT[t] for t in func.type.params]
        self.results = [TO_SLOT[t] for t in func.type.results]


def _host_call(handle: int, args: int, results: int) -> int:
    callstack.enter()               # Python code inside wasm runs with the raised limit
    try:
        entry = vm.handle_object(handle)
        params = entry.params
        if params:
            slots = (ctypes.c_uint64 * len(params)).from_address(args)
            r = entry.fn(*[conv(u) for conv, u in zip(params, slots)])
        else:
            r = entry.fn()
        convs = entry.results
        if convs:
            out = (ctypes.c_uint64 * len(convs)).from_address(results)
            values = (r,) if len(convs) == 1 else tuple(r)
            for i, (conv, v) in enumerate(zip(convs, values)):
                out[i] = conv(v)
        return 0
    except BaseException as err:       # every Python error crosses back as a stashed one
        vm.stash(err)
        return 1
    finally:
        callstack.leave()


HOST_CALLBACK = _HOST_PROTO(_host_call)
vm.set_callbacks(host_cb=ctypes.cast(HOST_CALLBACK, ctypes.c_void_p).value)

_trampolines: dict[FuncType, tuple] = {}


def trampoline(ft: FuncType) -> int:
    """Address of the trampoline for host functions of type ``ft`` (compiled once)."""
    hit = _trampolines.get(ft)
    if hit is None:
        hit = _trampolines[ft] = _build_trampoline(ft)
    return hit[1]


def _build_trampoline(ft: FuncType) -> tuple:
    triple, layout = triple_and_layout()
    m = ir.Module(name="host")
    m.triple, m.data_layout = triple, layout
    fn = ir.Function(m, func_type(ft), name="tramp")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    nargs, nres = max(len(ft.params), 1), max(len(ft.results), 1)
    args = b.alloca(ir.ArrayType(I64, nargs))
    res = b.alloca(ir.ArrayType(I64, nres))
    for i, t in enumerate(ft.params):
        slot = b.gep(args, [I32(0), I32(i)])
        b.store(to_slot(b, fn.args[i + 2], t), slot)
    cbt = ir.FunctionType(I32, [I64, I64.as_pointer(), I64.as_pointer()])
    cb = b.load(field(b, fn.args[1], VM_HOST_CB, cbt.as_pointer()))
    b.call(cb, [b.ptrtoint(fn.args[0], I64), b.bitcast(args, I64.as_pointer()),
                             b.bitcast(res, I64.as_pointer())])
    values = []
    for i, t in enumerate(ft.results):
        slot = b.gep(res, [I32(0), I32(i)])
        values.append(from_slot(b, b.load(slot), t))
    if not values:
        b.ret_void()
    elif len(values) == 1:
        b.ret(values[0])
    else:
        b.ret(pack_results(b, values, ft.results))
    lib = compile_ir(str(m), ["tramp"])
    return lib, lib.address("tramp")


def host_record(func) -> tuple[int, int, int]:
    """The table/import record of a host function: (trampoline, handle, type id)."""
    handle = vm.register_handle(_HostEntry(func))
    return (trampoline(func.type), handle, vm.type_id(func.type))
