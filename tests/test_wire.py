"""``concurrency.wire``: messages to and from workers pickle plain data with the C pickler
and fall back to dill for what only dill can carry, and every payload reads back."""
from __future__ import annotations

import pickle
import sys

from multiprocess.reduction import ForkingPickler

import sharedwasm as wasm
from sharedwasm.concurrency import wire


def roundtrip(obj):
    return ForkingPickler.loads(wire.dumps(obj))


def test_plain_data_takes_the_c_pickler_and_reads_back():
    item = ("task", 3, "square", (7, 2.5, b"\x00\x01", [1, {"a": None}]))
    payload = wire.dumps(item)
    assert pickle.loads(payload) == item        # a standard pickle, no dill needed
    assert roundtrip(item) == item


def test_lambdas_closures_and_main_objects_go_through_dill(monkeypatch):
    k = 5
    fn = roundtrip(lambda x: x + k)
    assert fn(1) == 6

    def local(x):
        return x * k
    assert roundtrip(local)(3) == 15
    # importable as __main__.Point, so the C pickler would name it; a worker's
    # __main__ is another module, so it must travel by value as dill sends it
    point = type("Point", (), {"__module__": "__main__", "__qualname__": "Point"})
    monkeypatch.setattr(sys.modules["__main__"], "Point", point, raising=False)
    assert b"__main__" in pickle.dumps(point)
    assert bytes(wire.dumps(point)) == bytes(ForkingPickler.dumps(point))
    item = [1, point()]
    assert bytes(wire.dumps(item)) == bytes(ForkingPickler.dumps(item))
    # the text "__main__" in plain data is only data
    assert pickle.loads(wire.dumps(("__main__", b"__main__"))) == ("__main__", b"__main__")


def test_a_callable_is_unpickled_once_per_distinct_bytes():
    blob = wire.pack_callable(len)
    assert wire.load_callable(blob) is wire.load_callable(bytes(blob)) is len
    k = 3
    closure = wire.load_callable(wire.pack_callable(lambda x: x * k))
    assert closure(2) == 6


def test_errors_and_shared_memories_cross():
    err = roundtrip(ValueError("bad", 3))
    assert isinstance(err, ValueError) and err.args == ("bad", 3)
    with wasm.Memory(1, 1, shared=True) as mem:
        again = roundtrip(mem)
        assert again.buffer is not None and len(again.buffer) == 65536


def test_a_function_is_pickled_again_only_when_it_changed():
    def scaled(x, factor=2):
        return x * factor
    first = wire.pack_callable(scaled)
    assert wire.pack_callable(scaled) is first              # reused
    scaled.__defaults__ = (3,)
    again = wire.pack_callable(scaled)
    assert again is not first and wire.load_callable(again)(2) == 6
    k = [1]

    def closure(x):
        return x + k[0]
    one = wire.pack_callable(closure)
    k[0] = 5
    two = wire.pack_callable(closure)                     # closures: pickled every time
    assert wire.load_callable(two)(1) == 6 and wire.load_callable(one)(1) == 2
