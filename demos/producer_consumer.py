"""Producer/consumer over a ring buffer in shared memory, synchronised with
``memory.atomic.wait32``/``notify``: the producer sleeps while the ring is full, the
consumer while it is empty. With 1 worker one process alternates filling and draining the
ring (no waiting); with 2, a producer and a consumer process hand items over live.
Both sum the same items; prints both times and the number of waits.

Usage: python demos/producer_consumer.py [ITEMS]
"""
from __future__ import annotations

import sys

import sharedwasm as wasm
from _parallel import report, timed_runs

RING_WAT = r"""
(module
  (memory (import "env" "memory") 1 1 shared)
  ;; 0: head (items written)  4: tail (items read)  8: waits  64..: 64 slots of i32
  (global $slots i32 (i32.const 64))
  (func $put (param $item i32) (local $head i32) (local $tail i32)
    (local.set $head (i32.atomic.load (i32.const 0)))
    (block $room (loop $full
      (local.set $tail (i32.atomic.load (i32.const 4)))
      (br_if $room (i32.lt_u (i32.sub (local.get $head) (local.get $tail)) (global.get $slots)))
      (drop (i32.atomic.rmw.add (i32.const 8) (i32.const 1)))
      (drop (memory.atomic.wait32 (i32.const 4) (local.get $tail) (i64.const -1)))
      (br $full)))
    (i32.store offset=64 (i32.shl (i32.and (local.get $head) (i32.const 63)) (i32.const 2))
               (local.get $item))
    (i32.atomic.store (i32.const 0) (i32.add (local.get $head) (i32.const 1)))
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1))))
  (func $take (result i32) (local $head i32) (local $tail i32) (local $item i32)
    (local.set $tail (i32.atomic.load (i32.const 4)))
    (block $ready (loop $empty
      (local.set $head (i32.atomic.load (i32.const 0)))
      (br_if $ready (i32.ne (local.get $head) (local.get $tail)))
      (drop (i32.atomic.rmw.add (i32.const 8) (i32.const 1)))
      (drop (memory.atomic.wait32 (i32.const 0) (local.get $head) (i64.const -1)))
      (br $empty)))
    (local.set $item (i32.load offset=64
      (i32.shl (i32.and (local.get $tail) (i32.const 63)) (i32.const 2))))
    (i32.atomic.store (i32.const 4) (i32.add (local.get $tail) (i32.const 1)))
    (drop (memory.atomic.notify (i32.const 4) (i32.const 1)))
    (local.get $item))
  (func (export "produce") (param $n i32) (result i64) (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (call $put (i32.mul (local.get $i) (i32.const 7)))
      (br $next)))
    (i64.const 0))
  (func (export "consume") (param $n i32) (result i64) (local $i i32) (local $sum i64)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (call $take))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $sum))
  ;; one process alone: fill the ring, drain it, repeat
  (func (export "alternate") (param $n i32) (result i64) (local $i i32) (local $j i32)
    (local $sum i64)
    (block $done (loop $batch
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $j (i32.const 0))
      (block $full (loop $fill
        (br_if $full (i32.or (i32.ge_u (local.get $j) (global.get $slots))
                             (i32.ge_u (i32.add (local.get $i) (local.get $j)) (local.get $n))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (call $put (i32.mul (i32.add (local.get $i) (local.get $j)) (i32.const 7)))
        (br $fill)))
      (local.set $i (i32.add (local.get $i) (local.get $j)))
      (block $drained (loop $drain
        (br_if $drained (i32.eqz (local.get $j)))
        (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (call $take))))
        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
        (br $drain)))
      (br $batch)))
    (local.get $sum)))
"""


def main() -> int:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    expected = 7 * items * (items + 1) // 2
    module = wasm.Module(wasm.wat2wasm(RING_WAT))
    waits = {}
    with wasm.Memory(1, 1, shared=True) as mem:
        def reset() -> None:
            for address in (0, 4, 8):
                wasm.atomics.store(mem, address, 0)

        def check(sums: list) -> None:
            assert max(sums) == expected, (sums, expected)
            waits[len(sums)] = wasm.atomics.load(mem, 8)

        def tasks(k: int) -> list:
            if k == 1:
                return [("alternate", items)]
            return [("produce", items), ("consume", items)]

        times = timed_runs(module, mem, lambda inst, fn, n: inst.exports[fn](n), tasks,
                           reset, check, [1, 2])
    report(f"{items} items through a 64-slot ring", times)
    print(f"sum {expected} both ways; waits with 2 workers: {waits[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
