"""Mutated binaries: ``wasm.Module`` may only raise ``CompileError`` and must never hang.

Seeds are valid modules: a few embedded ones (so the test runs anywhere) and, when present,
the real compiled modules of ``../shared/realworld/out``. Mutations: bit flips, byte
overwrites, inserts, deletes, truncations and LEB128 mangling (over-long, unterminated and
huge encodings at a LEB position). ``wasm.validate`` must agree with ``wasm.Module``.
The default run tries a few hundred examples; the ``slow`` one tries 10,000.
"""
from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sharedwasm as wasm

from suites import REALWORLD_DIR
from test_api import SMALL

#: embedded seeds in the text format (covering every section kind and some SIMD/atomics)
SEED_TEXTS = [
    """(module
      (type $t (func (param i32) (result i32)))
      (import "env" "f" (func $f (type $t)))
      (import "env" "m" (memory 1 2 shared))
      (table 2 funcref) (elem (i32.const 0) $f $g)
      (global $g0 (mut i64) (i64.const -5))
      (func $g (type $t) (local i64 f32)
        (block (result i32)
          (loop
            (br_if 1 (i32.eqz (local.get 0)) (i32.const 7))
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (drop (i32.atomic.rmw.add (i32.const 8) (i32.const 1)))
            (br 0))
          (i32.const 0))
        (call_indirect (type $t) (i32.const 0)))
      (func (export "v") (param v128) (result v128)
        (i32x4.add (local.get 0) (v128.const i32x4 1 2 3 4)))
      (data (i32.const 4) "abc") (data "passive")
      (export "g" (func $g)) (start 3) (func nop)
      (@custom "meta" "x"))""",
    """(module
      (tag $e (param i32))
      (memory 1)
      (func (export "t") (param i32) (result i32)
        (block $h (result i32)
          (try_table (result i32) (catch $e $h)
            (throw $e (local.get 0))))
        (memory.fill (i32.const 0) (i32.const 1) (i32.const 2))
        (br_table 0 0 (i32.const 3) (i32.const 1))))""",
]


@functools.cache
def small_seeds() -> list[bytes]:
    seeds = [SMALL]
    seeds += [wasm.wat2wasm(text) for text in SEED_TEXTS]
    seeds += [p.read_bytes() for p in _realworld() if p.stat().st_size < 4000]
    assert all(wasm.validate(s) for s in seeds)
    return seeds


@functools.cache
def all_seeds() -> list[bytes]:
    return small_seeds() + [p.read_bytes() for p in _realworld() if p.stat().st_size >= 4000]


def _realworld():
    return sorted((REALWORLD_DIR / "out").glob("*.wasm"))


LEB_MANGLES = [b"\x80", b"\xff", b"\x80\x80\x80\x80\x80\x00", b"\xff\xff\xff\xff\x7f",
               b"\xff\xff\xff\xff\x0f", b"\x80\x80\x80\x80\x10", b"\xff" * 11]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        size = len(data)
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "leb"]))
        at = draw(st.integers(0, max(size - 1, 0)))
        if kind == "flip" and size:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and size:
            data[at] = draw(st.sampled_from([0x00, 0x01, 0x0B, 0x40, 0x7F, 0x80, 0xFF,
                                             draw(st.integers(0, 255))]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "leb":
            # replace the LEB starting here (up to its last byte) by a mangled one
            end = at
            while end < size and data[end] & 0x80 and end - at < 10:
                end += 1
            data[at:end + 1] = draw(st.sampled_from(LEB_MANGLES))
    return bytes(data)


def _check(data: bytes) -> None:
    try:
        wasm.Module(data)
    except wasm.CompileError as err:
        assert err.message and isinstance(err.message, str)
        assert not wasm.validate(data)
    else:
        assert wasm.validate(data)


SETTINGS = dict(deadline=5000, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])


@pytest.mark.timeout(120)
@settings(max_examples=300, **SETTINGS)
@given(st.data())
def test_mutated_binaries_raise_only_compile_errors(data):
    _check(data.draw(mutated(small_seeds())))


@pytest.mark.slow
@pytest.mark.timeout(3600)
@settings(max_examples=10_000, **SETTINGS)
@given(st.data())
def test_mutated_binaries_many(data):
    _check(data.draw(mutated(all_seeds())))


@pytest.mark.parametrize("cut", [1, 8, 9, 20, -1])
def test_truncated_seeds(cut: int):
    for seed in small_seeds():
        _check(seed[:cut])


def test_the_checker_notices_a_defect(monkeypatch):
    """A decoder that leaks a non-CompileError is caught (the property is not vacuous)."""
    from sharedwasm.api import module as api

    def broken(data, features):
        raise IndexError("leaked")

    monkeypatch.setattr(api, "decode_module", broken)
    with pytest.raises(IndexError):
        _check(SMALL)
