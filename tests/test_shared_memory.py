"""Shared linear memory: one named segment per memory, sized by a header, shared by name.

Checks the layout contract (data page-aligned, the maximum reserved, ``grow`` visible to
every process), pickling by name, the single-owner unlink (also when a worker was killed),
the /dev/shm space check, and that nothing of ours is left in /dev/shm afterwards.
"""
from __future__ import annotations

import os
import pickle
import signal
import struct

import pytest

import sharedwasm as wasm
from leaks import no_leaks, own_segments  # noqa: F401
from sharedwasm.concurrency import Worker
from sharedwasm.runtime import shared_memory as shm_mod
from sharedwasm.runtime.memory import MemoryInst, memory_fill
from sharedwasm.runtime.shared_memory import (HEADER_SIZE, SharedMemoryError,
                                              SharedMemoryInst, list_segments)
from sharedwasm.spec.types import PAGE_SIZE, Limits

PAGE = PAGE_SIZE




def test_layout_and_size():
    with SharedMemoryInst(Limits(2, 5, True)) as mem:
        assert isinstance(mem, MemoryInst) and mem.shared
        assert mem.pages == 2 and mem.size_bytes == 2 * PAGE
        assert len(mem.data) == 2 * PAGE and len(mem.full_data) == 5 * PAGE
        assert mem.address % 4096 == 0          # data starts page-aligned
        assert mem.type.limits == Limits(2, 5, True)
        path = os.path.join(shm_mod.SHM_DIR, mem.name)
        assert os.path.getsize(path) == HEADER_SIZE + 5 * PAGE
        assert mem.name.startswith("sharedwasm_")
        assert "pages=2" in repr(mem) and "owner" in repr(mem)


def test_grow_is_a_header_update_visible_through_data():
    with SharedMemoryInst(Limits(1, 3, True)) as mem:
        old_view = mem.data
        old_view[10] = 7
        assert mem.grow(0) == 1
        assert mem.grow(2) == 1
        assert mem.pages == 3 and len(mem.data) == 3 * PAGE
        assert mem.data[10] == 7 and mem.data[3 * PAGE - 1] == 0     # new pages are zero
        assert mem.grow(1) == -1 and mem.grow(-1) == -1
        assert mem.pages == 3
        assert mem.type.limits.min == 3


def test_data_works_with_struct_and_bulk_helpers():
    with SharedMemoryInst(Limits(1, 2, True)) as mem:
        struct.pack_into("<Q", mem.data, 8, 0x1122334455667788)
        assert struct.unpack_from("<I", mem.data, 12)[0] == 0x11223344
        memory_fill(mem.data, 100, 0xAB, 50)
        assert bytes(mem.data[100:150]) == b"\xab" * 50
        with pytest.raises(wasm.RuntimeError, match="out of bounds memory access"):
            memory_fill(mem.data, PAGE - 10, 1, 11)      # bounds are the current size
        with pytest.raises(struct.error):
            struct.unpack_from("<I", mem.data, PAGE - 2)


def test_maximum_is_required():
    with pytest.raises(ValueError, match="maximum"):
        SharedMemoryInst(Limits(1, None, True))
    with pytest.raises(TypeError, match="maximum"):
        wasm.Memory(1, shared=True)


def test_pickles_by_name_and_same_object_in_process():
    with SharedMemoryInst(Limits(1, 1, True)) as mem:
        blob = pickle.dumps(mem)
        assert len(blob) < 200 and mem.name.encode() in blob
        assert pickle.loads(blob) is mem


def test_public_memory_shared_pickles_and_unshared_refuses():
    with wasm.Memory(1, 2, shared=True) as mem:
        assert mem.shared and mem.buffer.nbytes == PAGE
        assert pickle.loads(pickle.dumps(mem)) is mem
    with pytest.raises(TypeError):
        pickle.dumps(wasm.Memory(1, 2))


def _write_and_grow(scope, mem):
    mem.buffer[5] = 99
    return mem.grow(1)


def _report(scope, mem):
    return mem.pages, mem.buffer[5], mem._inst.owner


def test_other_process_sees_bytes_and_growth():
    with wasm.Memory(1, 4, shared=True) as mem:
        with Worker(_write_and_grow, mem) as w:
            assert w.result(timeout=30) == 1
        assert mem.pages == 2 and mem.buffer[5] == 99
        with Worker(_report, mem) as w:
            assert w.result(timeout=30) == (2, 99, False)
        # the worker's attachment ended with it; the segment is still ours
        assert os.path.exists(os.path.join(shm_mod.SHM_DIR, mem._inst.name))


def test_close_unlinks_once_and_attach_fails_after():
    mem = SharedMemoryInst(Limits(1, 1, True))
    name = mem.name
    assert name in list_segments()
    mem.close()
    mem.close()
    assert name not in list_segments() and mem.closed
    assert "closed" in repr(mem)
    with pytest.raises(SharedMemoryError, match="no longer exists"):
        SharedMemoryInst.attach(name)
    with pytest.raises(ValueError):
        pickle.dumps(mem)


def test_close_with_outside_view_alive_still_unlinks():
    mem = SharedMemoryInst(Limits(1, 1, True))
    view = memoryview(mem.data)[:16]
    name = mem.name
    mem.close()
    assert name not in list_segments()
    del view


def test_garbage_collection_unlinks():
    mem = SharedMemoryInst(Limits(1, 1, True))
    name = mem.name
    del mem
    import gc
    gc.collect()
    assert name not in list_segments()


def test_attach_rejects_foreign_names():
    with pytest.raises(SharedMemoryError):
        SharedMemoryInst.attach("not_ours")
    with pytest.raises(SharedMemoryError):
        SharedMemoryInst.attach("sharedwasm_does_not_exist")


def test_reservation_beyond_dev_shm_space_is_refused(monkeypatch):
    class Tiny:
        f_bavail, f_frsize = 10, 4096
    monkeypatch.setattr(shm_mod.os, "statvfs", lambda path: Tiny)
    with pytest.raises(SharedMemoryError, match="cannot reserve .* MiB"):
        SharedMemoryInst(Limits(1, 100, True))


def _die(scope, mem):
    mem.data[0] = 1
    os.kill(os.getpid(), signal.SIGKILL)


def test_killed_worker_does_not_keep_or_remove_the_segment():
    mem = SharedMemoryInst(Limits(1, 1, True))
    name = mem.name
    with Worker(_die, mem) as w:
        with pytest.raises(wasm.WorkerDied):
            w.result(timeout=30)
    assert mem.data[0] == 1 and name in list_segments()
    mem.close()
    assert name not in list_segments()


def test_defined_shared_memory_of_a_module_is_shared():
    module = wasm.Module(wasm.wat2wasm('(module (memory (export "m") 1 1 shared))'))
    inst = wasm.Instance(module)
    mem = inst.exports.m
    assert isinstance(mem._inst, SharedMemoryInst)
    assert pickle.loads(pickle.dumps(mem)) is mem
    mem.close()
