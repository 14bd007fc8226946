"""A mutex-protected counter: a spin-then-wait futex mutex written in wasm (cmpxchg, xchg,
``memory.atomic.wait32``/``notify``) guards plain, non-atomic increments; the final count
is exact. Prints the time with 1 worker and with N for the same total work (contention makes
N slower: the point is correctness across processes).

Usage: python demos/mutex_counter.py [WORKERS]
"""
from __future__ import annotations

import sys

import sharedwasm as wasm
from _parallel import default_workers, report, timed_runs

TOTAL = 20_000

MUTEX_WAT = r"""
(module
  (memory (import "env" "memory") 1 1 shared)
  ;; 0: lock (0 free, 1 locked, 2 locked with waiters)   4: the counter (plain accesses)
  (func $lock (local $c i32)
    (local.set $c (i32.atomic.rmw.cmpxchg (i32.const 0) (i32.const 0) (i32.const 1)))
    (if (local.get $c) (then
      (if (i32.ne (local.get $c) (i32.const 2))
        (then (local.set $c (i32.atomic.rmw.xchg (i32.const 0) (i32.const 2)))))
      (block $got (loop $again
        (br_if $got (i32.eqz (local.get $c)))
        (drop (memory.atomic.wait32 (i32.const 0) (i32.const 2) (i64.const -1)))
        (local.set $c (i32.atomic.rmw.xchg (i32.const 0) (i32.const 2)))
        (br $again))))))
  (func $unlock
    (if (i32.ne (i32.atomic.rmw.sub (i32.const 0) (i32.const 1)) (i32.const 1)) (then
      (i32.atomic.store (i32.const 0) (i32.const 0))
      (drop (memory.atomic.notify (i32.const 0) (i32.const 1))))))
  (func (export "work") (param $n i32) (result i32) (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (call $lock)
      (i32.store (i32.const 4) (i32.add (i32.load (i32.const 4)) (i32.const 1)))
      (call $unlock)
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $n)))
"""


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else default_workers()
    module = wasm.Module(wasm.wat2wasm(MUTEX_WAT))
    with wasm.Memory(1, 1, shared=True) as mem:
        def reset() -> None:
            wasm.atomics.store(mem, 0, 0)
            wasm.atomics.store(mem, 4, 0)

        def check(done: list) -> None:
            assert sum(done) == TOTAL
            assert wasm.atomics.load(mem, 4) == TOTAL, "lost update"

        times = timed_runs(module, mem, "work",
                           lambda k: [(TOTAL // k + (w < TOTAL % k),) for w in range(k)],
                           reset, check, [1, n])
    report(f"{TOTAL} locked increments", times)
    print(f"counter = {TOTAL}: no lost update")
    return 0


if __name__ == "__main__":
    sys.exit(main())
