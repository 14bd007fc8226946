"""Worker ping-pong: message round trips with a ``wasm.Worker`` (the ``workers/echo.py``
script), then a token passed around N wasm workers with ``memory.atomic.wait32``/``notify``
(token k is handled by worker k % N, strictly in order). Prints the time per hand-off with
1 worker (no waiting) and with N (a cross-process wake-up every time).

Usage: python demos/worker_pingpong.py [HAND_OFFS] [WORKERS]
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import sharedwasm as wasm
from _parallel import default_workers, report, timed_runs

ECHO = Path(__file__).resolve().parent.parent / "workers" / "echo.py"

TOKEN_WAT = r"""
(module
  (memory (import "env" "memory") 1 1 shared)
  ;; 0: the token (the number of hand-offs done)
  (func (export "run") (param $w i32) (param $n i32) (param $count i32) (result i32)
    (local $k i32) (local $seen i32) (local $done i32)
    (local.set $k (local.get $w))
    (block $finished (loop $next
      (br_if $finished (i32.ge_u (local.get $k) (local.get $count)))
      (block $mine (loop $wait
        (local.set $seen (i32.atomic.load (i32.const 0)))
        (br_if $mine (i32.eq (local.get $seen) (local.get $k)))
        (drop (memory.atomic.wait32 (i32.const 0) (local.get $seen) (i64.const -1)))
        (br $wait)))
      (i32.atomic.store (i32.const 0) (i32.add (local.get $k) (i32.const 1)))
      (drop (memory.atomic.notify (i32.const 0) (i32.const -1)))
      (local.set $done (i32.add (local.get $done) (i32.const 1)))
      (local.set $k (i32.add (local.get $k) (local.get $n)))
      (br $next)))
    (local.get $done)))
"""


def message_round_trips(count: int) -> float:
    with wasm.Worker(ECHO) as w:
        w.receive(timeout=30)
        times = []
        for i in range(count):
            start = time.perf_counter()
            w.post_message(i)
            assert w.receive(timeout=10) == ("echo", i)
            times.append(time.perf_counter() - start)
        w.post_message("close")
        w.result(timeout=10)
    return statistics.median(times)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    n = int(sys.argv[2]) if len(sys.argv) > 2 else default_workers()
    print(f"post_message/receive round trip: median "
          f"{message_round_trips(500) * 1e6:.0f} us")
    module = wasm.Module(wasm.wat2wasm(TOKEN_WAT))
    with wasm.Memory(1, 1, shared=True) as mem:
        def check(done: list) -> None:
            assert sum(done) == count and wasm.atomics.load(mem, 0) == count

        times = timed_runs(module, mem, "run", lambda k: [(w, k, count) for w in range(k)],
                           lambda: wasm.atomics.store(mem, 0, 0), check, [1, n])
    report(f"{count} token hand-offs", times)
    for k, t in times.items():
        print(f"  {k} worker{'s' if k > 1 else ''}: {t / count * 1e6:.1f} us per hand-off")
    return 0


if __name__ == "__main__":
    sys.exit(main())
