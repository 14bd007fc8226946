"""Execution speed of sharedwasm's portable tier next to pywasm, pwasm and wasmtime-py.

    python bench/bench_exec.py [--runs N] [--no-write]

Four kernels written in WAT below (a counting loop, recursive fib, a sieve over memory,
prefix sums over i32 memory) run, in the same process and run, on:

- sharedwasm (``wasm.Instance``; the portable tier, wasm compiled to Python source);
- pywasm (an interpreter; given smaller sizes so that it finishes in seconds);
- pwasm with ``instantiate(module, mode="compile")`` (its wasm-to-Python compiler);
- wasmtime-py (native; it also counts the executed instructions with its fuel meter).

Since sizes differ between peers, every comparison is a rate: wasm instructions per second
where wasmtime-py can count them (fuel: one unit per instruction, none for block, loop,
end, nop, drop), else work units per second (iterations, calls, bytes, elements). Each
time is the median of N runs after one untimed warm-up call (which compiles what is
compiled lazily). A fifth row times a trivial exported ``(i32, i32) -> i32`` called
100,000 times from Python (pywasm: 10,000). Peers that are not installed are reported as
such. Writes its section of ``docs/performance.md``.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import (Progress, machine_line, median_time, optional_module,  # noqa: E402
                     peer_version, table, write_section)
import sharedwasm as wasm  # noqa: E402

KERNELS_WAT = r"""
(module
  (memory (export "memory") 80)
  (func (export "loop") (param $n i32) (result i32) (local $i i32)
    (loop $next
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  ;; primes below n: one flag byte per number at address 0
  (func (export "sieve") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $c i32)
    (block $filled (loop $fill
      (br_if $filled (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store8 (local.get $i) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill)))
    (local.set $i (i32.const 2))
    (block $crossed (loop $outer
      (br_if $crossed (i32.ge_u (i32.mul (local.get $i) (local.get $i)) (local.get $n)))
      (if (i32.load8_u (local.get $i))
        (then
          (local.set $j (i32.mul (local.get $i) (local.get $i)))
          (block $done (loop $inner
            (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
            (i32.store8 (local.get $j) (i32.const 0))
            (local.set $j (i32.add (local.get $j) (local.get $i)))
            (br $inner)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $outer)))
    (local.set $i (i32.const 2))
    (block $counted (loop $count
      (br_if $counted (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $c (i32.add (local.get $c) (i32.load8_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $count)))
    (local.get $c))
  ;; a[i] = 7 i + 3 for n i32 values at address 0, then inclusive prefix sums in place
  (func (export "prefix") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (block $filled (loop $fill
      (br_if $filled (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.shl (local.get $i) (i32.const 2))
                 (i32.add (i32.mul (local.get $i) (i32.const 7)) (i32.const 3)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill)))
    (local.set $i (i32.const 0))
    (block $summed (loop $sum
      (br_if $summed (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $s (i32.add (local.get $s) (i32.load (i32.shl (local.get $i) (i32.const 2)))))
      (i32.store (i32.shl (local.get $i) (i32.const 2)) (local.get $s))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $sum)))
    (i32.load (i32.shl (i32.sub (local.get $n) (i32.const 1)) (i32.const 2))))
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1))))
"""


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def primes_below(n: int) -> int:
    flags = bytearray([1]) * n
    i = 2
    while i * i < n:
        if flags[i]:
            flags[i * i::i] = bytes(len(range(i * i, n, i)))
        i += 1
    return sum(flags[2:])


@dataclass
class Kernel:
    name: str
    unit: str
    small: int                      # the size pywasm runs
    large: int                      # the size the other peers run
    expected: Callable[[int], int]
    units: Callable[[int], int]


KERNELS = [
    Kernel("loop", "iterations", 100_000, 3_000_000, lambda n: n, lambda n: n),
    Kernel("fib", "calls", 18, 25, fib, lambda n: 2 * fib(n + 1) - 1),
    Kernel("sieve", "bytes", 30_000, 2_000_000, primes_below, lambda n: n),
    Kernel("prefix", "elements", 20_000, 1_000_000,
           lambda n: sum(7 * i + 3 for i in range(n)) & 0xFFFFFFFF, lambda n: n),
]
CALLS = 100_000
PYWASM_CALLS = 10_000
GOALS = {"pywasm": 300.0, "pwasm (compile)": 2.0}
TRIVIAL_CALL_GOAL_US = 5.0


# Each loader takes the module bytes and returns get(export) -> a Python callable.

def load_sharedwasm(data: bytes) -> Callable[[str], Callable]:
    """The portable tier, whatever the process's default engine is."""
    saved = os.environ.get("SHAREDWASM_ENGINE")
    os.environ["SHAREDWASM_ENGINE"] = "python"
    try:
        exports = wasm.Instance(wasm.Module(data)).exports
    finally:
        if saved is None:
            del os.environ["SHAREDWASM_ENGINE"]
        else:
            os.environ["SHAREDWASM_ENGINE"] = saved
    return lambda name: exports[name]


# The kernels written directly in Python, the same algorithms step by step but without
# wasm's wrap-around, traps or memory object: no wasm-to-Python compiler can beat these, so
# they show how much room CPython leaves above a faithful translation.

def py_loop(n: int) -> int:
    i = 0
    while True:
        i += 1
        if i < n:
            continue
        return i


def py_fib(n: int) -> int:
    return n if n < 2 else py_fib(n - 1) + py_fib(n - 2)


def py_sieve(n: int) -> int:
    mem = bytearray(n)
    i = 0
    while i < n:
        mem[i] = 1
        i += 1
    i = 2
    while i * i < n:
        if mem[i]:
            j = i * i
            while j < n:
                mem[j] = 0
                j += i
        i += 1
    c = 0
    i = 2
    while i < n:
        c += mem[i]
        i += 1
    return c


def py_prefix(n: int) -> int:
    a = memoryview(bytearray(4 * n)).cast("I")
    i = 0
    while i < n:
        a[i] = (7 * i + 3) & 0xFFFFFFFF
        i += 1
    s = 0
    i = 0
    while i < n:
        s = (s + a[i]) & 0xFFFFFFFF
        a[i] = s
        i += 1
    return a[n - 1]


def load_python(data: bytes) -> Callable[[str], Callable]:
    funcs = {"loop": py_loop, "fib": py_fib, "sieve": py_sieve, "prefix": py_prefix,
             "add": lambda a, b: (a + b) & 0xFFFFFFFF}
    return funcs.__getitem__


def load_pywasm(data: bytes) -> Callable[[str], Callable]:
    pywasm = optional_module("pywasm")
    runtime = pywasm.core.Runtime()
    inst = runtime.instance(pywasm.core.ModuleDesc.from_reader(io.BytesIO(data)))
    return lambda name: (lambda *args: runtime.invocate(inst, name, list(args))[0])


def load_pwasm(data: bytes) -> Callable[[str], Callable]:
    pwasm = optional_module("pwasm")
    inst = pwasm.instantiate(pwasm.decode_module(data), mode="compile")
    return lambda name: getattr(inst.exports, name)


def load_wasmtime(data: bytes) -> Callable[[str], Callable]:
    wasmtime = optional_module("wasmtime")
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    exports = wasmtime.Instance(store, wasmtime.Module(engine, data), []).exports(store)
    return lambda name: (lambda *args, f=exports[name]: f(store, *args))


#: label -> (import name, distribution name, loader, uses the small sizes)
PEERS: dict[str, tuple[str, str, Any, bool]] = {
    "sharedwasm": ("sharedwasm", "sharedwasm", load_sharedwasm, False),
    "pywasm": ("pywasm", "pywasm", load_pywasm, True),
    "pwasm (compile)": ("pwasm", "pwasm", load_pwasm, False),
    "wasmtime-py": ("wasmtime", "wasmtime", load_wasmtime, False),
    "plain Python": ("sys", "", load_python, False),
}


def instruction_counter(data: bytes) -> Callable[[str, int], int] | None:
    """count(export, size) -> executed wasm instructions, by wasmtime's fuel meter."""
    wasmtime = optional_module("wasmtime")
    if wasmtime is None:
        return None
    config = wasmtime.Config()
    config.consume_fuel = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    exports = wasmtime.Instance(store, wasmtime.Module(engine, data), []).exports(store)

    def count(name: str, size: int) -> int:
        store.set_fuel(1 << 62)
        exports[name](store, size)
        return (1 << 62) - store.get_fuel()
    return count


def time_kernel(fn: Callable, kernel: Kernel, size: int, runs: int) -> float:
    """Median seconds of ``fn(size)``, after checking its result once (the warm-up)."""
    got = fn(size) & 0xFFFFFFFF
    want = kernel.expected(size) & 0xFFFFFFFF
    if got != want:
        raise AssertionError(f"{kernel.name}({size}) returned {got}, expected {want}")
    return median_time(lambda: fn(size), runs)


def time_calls(add: Callable, calls: int, runs: int) -> float:
    """Median seconds per call of the trivial export over batches of ``calls`` calls."""
    if add(2, 3) != 5:
        raise AssertionError("add(2, 3) != 5")

    def batch() -> None:
        for i in range(calls):
            add(i, 1)
    return median_time(batch, runs) / calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    args = ap.parse_args()
    data = wasm.wat2wasm(KERNELS_WAT)
    count = instruction_counter(data)
    available = {label: spec for label, spec in PEERS.items()
                 if optional_module(spec[0]) is not None}
    progress = Progress(len(available) * (len(KERNELS) + 1))
    results: dict[str, dict[str, Any]] = {}
    for label, (_, _, loader, small) in available.items():
        get = loader(data)
        per_peer: dict[str, Any] = {}
        for kernel in KERNELS:
            size = kernel.small if small else kernel.large
            progress.step(f"{label} {kernel.name}({size})")
            per_peer[kernel.name] = (size, time_kernel(get(kernel.name), kernel, size, args.runs))
        progress.step(f"{label} trivial calls")
        calls = PYWASM_CALLS if small else CALLS
        per_peer["call"] = (calls, time_calls(get("add"), calls, args.runs))
        results[label] = per_peer
    progress.close()
    instructions = {}
    if count:
        for kernel in KERNELS:
            for size in (kernel.small, kernel.large):
                instructions[kernel.name, size] = count(kernel.name, size)
    text = render(results, instructions, args.runs)
    print(text)
    if not args.no_write:
        write_section("exec", text)
    return 0


def work(instructions: dict, kernel: Kernel, size: int) -> float:
    return instructions.get((kernel.name, size)) or kernel.units(size)


def ratio(x: float) -> str:
    return f"{x:.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 1 else f"{x:.2g}x"


def render(results: dict, instructions: dict, runs: int) -> str:
    rate_unit = "M instr/s" if instructions else "M units/s"
    ours = results.get("sharedwasm", {})
    head = ["kernel", "peer", "n", "work", "ms", rate_unit, "sharedwasm speed-up"]
    rows = []
    for kernel in KERNELS:
        our_rate = None
        if kernel.name in ours:
            size, seconds = ours[kernel.name]
            our_rate = work(instructions, kernel, size) / seconds
        for label in PEERS:
            if label not in results:
                rows.append([kernel.name, label, "", "", "not installed", "", ""])
                continue
            size, seconds = results[label][kernel.name]
            rate = work(instructions, kernel, size) / seconds
            speed = ""
            if label != "sharedwasm" and our_rate:
                speed = ratio(our_rate / rate)
                if label in GOALS:
                    speed += " (goal " + f"{GOALS[label]:g}x: " + \
                        ("met" if our_rate / rate >= GOALS[label] else "NOT met") + ")"
            rows.append([kernel.name, label, f"{size:,}", f"{kernel.units(size):,} {kernel.unit}",
                         f"{seconds * 1e3:.1f}",
                         f"{rate / 1e6:.1f}", speed])
    ceiling = []
    for kernel in KERNELS:
        plain, other = results.get("plain Python", {}), results.get("pwasm (compile)", {})
        if kernel.name in plain and kernel.name in other:
            rates = [work(instructions, kernel, r[kernel.name][0]) / r[kernel.name][1]
                     for r in (plain, other)]
            ceiling.append(f"{kernel.name} {rates[0] / rates[1]:.2f}x")
    call_head = ["peer", "calls", "µs per call", "sharedwasm speed-up"]
    call_rows = []
    our_call = ours.get("call", (0, None))[1]
    for label in PEERS:
        if label not in results:
            call_rows.append([label, "", "not installed", ""])
            continue
        calls, per_call = results[label]["call"]
        speed = ratio(per_call / our_call) if our_call and label != "sharedwasm" else ""
        call_rows.append([label, f"{calls:,}", f"{per_call * 1e6:.2f}", speed])
    versions = ", ".join(f"{label} {peer_version(dist)}" for label, (_, dist, _, _)
                         in PEERS.items() if label in results and label != "sharedwasm" and dist)
    missing = [label for label in PEERS if label not in results]
    goal = ""
    if our_call is not None:
        goal = (f" Goal for sharedwasm: at most {TRIVIAL_CALL_GOAL_US:g} µs: "
                + ("met." if our_call * 1e6 <= TRIVIAL_CALL_GOAL_US else "NOT met."))
    lines = [
        "## Execution (portable tier)",
        "",
        f"Written by `bench/bench_exec.py`: {machine_line()}; {versions}"
        + (f"; not installed: {', '.join(missing)}" if missing else "") + ". "
        f"Median of {runs} runs after one untimed warm-up call that also checks the result. "
        "pywasm runs the smaller sizes; all other peers the larger ones, so peers are compared "
        "by rate: " + ("wasm instructions per second, as wasmtime's fuel meter counts them "
                       "(one per instruction; block, loop, end, nop and drop are free)."
                       if instructions else "work units per second (wasmtime-py is not "
                       "installed to count instructions)."),
        "Speed-up = sharedwasm's rate / the peer's rate; goals: >= 300x pywasm, >= 2x "
        "pwasm's compile mode.",
        "",
        *table(head, rows),
        "",
        "plain Python = the same algorithms written by hand in Python, step by step but without "
        "wasm's wrap-around, traps or memory object: a ceiling no faithful wasm-to-Python "
        "translation can pass. Its rate over pwasm's compile mode: " + ", ".join(ceiling)
        + "; where that is below 2x, the 2x goal is beyond CPython for any translation that "
        "keeps one Python function per wasm function." if ceiling else "",
        "",
        "Trivial export `(i32, i32) -> i32` called from a Python loop (per call, loop "
        "included; speed-up = peer time / sharedwasm time)." + goal,
        "",
        *table(call_head, call_rows),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
