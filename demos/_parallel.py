"""Shared helpers of the parallel demos: timing a WorkerPool run with 1 and N workers."""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Sequence

import sharedwasm as wasm


def default_workers() -> int:
    return max(2, min(4, os.cpu_count() or 2))


def timed_runs(module: Any, memory: Any, fn: Any, make_args: Callable[[int], Sequence],
               reset: Callable[[], None], check: Callable[[list], Any],
               counts: Sequence[int], init: Callable | None = None,
               repeat: int = 3) -> dict[int, float]:
    """For each worker count: reset shared state, run ``fn`` over ``make_args(n)`` in a
    ready pool (start-up not timed), check the results; the best of ``repeat`` runs, in
    seconds (the machine is shared, so single runs are noisy)."""
    times = {}
    for n in counts:
        with wasm.WorkerPool(module, memory=memory, workers=n, init=init, timeout=60) as pool:
            for _ in range(repeat):
                reset()
                start = time.perf_counter()
                results = pool.map(fn, make_args(n), timeout=120)
                elapsed = time.perf_counter() - start
                times[n] = min(times.get(n, elapsed), elapsed)
                check(results)
    return times


def report(title: str, times: dict[int, float]) -> None:
    base = times[min(times)]
    for n, t in times.items():
        print(f"{title}: {n} worker{'s' if n > 1 else ' '} {t * 1000:8.1f} ms"
              f"   speed-up {base / t:4.2f}x")
