"""Parallel reduction with atomics: workers sum chunks of one shared array and merge their
partial results with ``i64.atomic.rmw.add`` (sum) and an ``i32.atomic.rmw.cmpxchg`` loop
(maximum); prints the time with 1 worker and with N, and checks against Python.

Usage: python demos/parallel_reduction.py [WORKERS]
"""
from __future__ import annotations

import struct
import sys

import sharedwasm as wasm
from _parallel import default_workers, report, timed_runs

COUNT = 1 << 20                  # u32 elements from address 64
PAGES = 65

REDUCE_WAT = r"""
(module
  (memory (import "env" "memory") 65 65 shared)
  ;; 0: i64 total   8: i32 maximum   64..: the array
  (func (export "fill") (param $n i32) (local $i i32) (local $x i32)
    (local.set $x (i32.const 2463534242))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 13))))
      (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 5))))
      (i32.store offset=64 (i32.shl (local.get $i) (i32.const 2)) (local.get $x))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "reduce") (param $w i32) (param $k i32) (param $n i32) (result i64)
    (local $i i32) (local $end i32) (local $v i32) (local $sum i64) (local $max i32)
    (local $seen i32)
    (local.set $i (i32.mul (local.get $w) (i32.div_u (local.get $n) (local.get $k))))
    (local.set $end (select (local.get $n)
                            (i32.add (local.get $i) (i32.div_u (local.get $n) (local.get $k)))
                            (i32.eq (local.get $w) (i32.sub (local.get $k) (i32.const 1)))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $v (i32.load offset=64 (i32.shl (local.get $i) (i32.const 2))))
      (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (local.get $v))))
      (local.set $max (select (local.get $v) (local.get $max)
                              (i32.gt_u (local.get $v) (local.get $max))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (drop (i64.atomic.rmw.add (i32.const 0) (local.get $sum)))
    ;; atomic maximum: retry the compare-exchange until ours is not larger
    (local.set $seen (i32.atomic.load (i32.const 8)))
    (block $merged (loop $retry
      (br_if $merged (i32.le_u (local.get $max) (local.get $seen)))
      (local.set $v (local.get $seen))
      (local.set $seen (i32.atomic.rmw.cmpxchg (i32.const 8) (local.get $v) (local.get $max)))
      (br_if $retry (i32.ne (local.get $seen) (local.get $v)))))
    (local.get $sum)))
"""


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else default_workers()
    module = wasm.Module(wasm.wat2wasm(REDUCE_WAT))
    with wasm.Memory(PAGES, PAGES, shared=True) as mem:
        wasm.Instance(module, {"env": {"memory": mem}}).exports.fill(COUNT)
        values = struct.unpack_from(f"<{COUNT}I", mem.buffer, 64)
        expected_sum, expected_max = sum(values), max(values)

        def reset() -> None:
            wasm.atomics.store(mem, 0, 0, "i64")
            wasm.atomics.store(mem, 8, 0)

        def check(partials: list) -> None:
            total = wasm.atomics.load(mem, 0, "u64")
            assert total == sum(p & (2**64 - 1) for p in partials) == expected_sum
            assert wasm.atomics.load(mem, 8, "u32") == expected_max

        times = timed_runs(module, mem, "reduce",
                           lambda k: [(w, k, COUNT) for w in range(k)], reset, check, [1, n])
    report(f"sum+max of {COUNT} u32", times)
    print(f"sum {expected_sum}, max {expected_max}: both match Python")
    return 0


if __name__ == "__main__":
    sys.exit(main())
