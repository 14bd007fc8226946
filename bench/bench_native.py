"""The native tier (``SHAREDWASM_ENGINE=native``) side by side with wasmtime-py.

    python bench/bench_native.py [--runs N] [--no-write]

In the same run, with the engine set for this process and its workers:

- the WASI programs of ``bench_wasi.py`` at their ``large`` sizes (nbody, sha256):
  instantiation with the WASI imports + ``_start``, the module compiled beforehand;
- the micro kernels of ``bench_exec.py`` (loop, fib, sieve, prefix) and its trivial
  ``(i32, i32) -> i32`` call through the public API (goal <= 2 µs);
- psum and mandel of ``bench_threads.py`` (``large``) with 1 and 2 workers (goal: speed-up
  >= 1.85x), wasmtime-py on Python threads;
- native compile time per KB of wasm for every module of ``../shared/realworld/out``
  (wasmtime-py's ``Module`` for comparison);
- worker start-up to first result: ``wasm.Worker`` given a ``Module``, instantiating it and
  returning an export's result (wasmtime-py: a thread doing the same with a ``Store``).

Goal per benchmark: time <= 1.0x wasmtime-py's. Times are medians of N runs after a checked
warm-up; ratio = sharedwasm / wasmtime-py (below 1: sharedwasm is faster). Writes its
section of ``docs/performance.md``.
"""
from __future__ import annotations

import os

os.environ.setdefault("SHAREDWASM_ENGINE", "native")    # this process and its workers

import argparse  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench_exec  # noqa: E402
import bench_threads  # noqa: E402
import bench_wasi  # noqa: E402
from _common import (REALWORLD, Progress, machine_line,  # noqa: E402
                     goal, optional_module, peer_version, table, write_section)
import sharedwasm as wasm  # noqa: E402
from sharedwasm.tiers import native  # noqa: E402
from sharedwasm.tiers.native.module import compile_module as compile_afresh  # noqa: E402

WASI_CASES = ("nbody", "sha256")
THREAD_KERNELS = ("psum", "mandel")
TIME_GOAL = 1.0
CALL_GOAL_US = 2.0
SPEEDUP_GOAL = bench_threads.SPEEDUP_GOAL
STARTUP_RUNS = 7


def is_native(instance: wasm.Instance) -> bool:
    """Every function ``instance`` defines runs as machine code."""
    info = instance.module.info
    defined = instance._inst.funcs[len(info.func_types) - len(info.funcs):]
    return (native.fallback_reason(instance.module.ast) is None
            and all(hasattr(f, "native_ref") for f in defined))


def require_native(instance: wasm.Instance) -> wasm.Instance:
    if not is_native(instance):
        raise RuntimeError(f"not native: {native.fallback_reason(instance.module.ast)}")
    return instance


# --- WASI -----------------------------------------------------------------------------------

_compiled: dict[bytes, wasm.Module] = {}


def native_module(data: bytes) -> wasm.Module:
    """The module of ``data``, compiled natively once (so no timed run compiles it)."""
    module = _compiled.get(data)
    if module is None:
        module = _compiled[data] = wasm.Module(data)
        reason = native.compile_module(module.ast, module.info)
        if isinstance(reason, str):
            raise RuntimeError(f"not native: {reason}")
    return module


def native_wasi_runner(data: bytes, args: list[str]) -> Callable[[], tuple[int, bytes]]:
    """``bench_wasi.sharedwasm_runner`` on the natively compiled module."""
    module = native_module(data)

    def run() -> tuple[int, bytes]:
        out = io.BytesIO()
        with wasm.WASI(args=args, env=[], stdout=out, stderr=io.BytesIO()) as wasi:
            code = wasi.start(require_native(wasm.Instance(module, wasi.imports)))
        return code, out.getvalue()
    return run


def wasi_cases() -> list[dict]:
    bench_wasi.CASES = WASI_CASES
    return bench_wasi.load_cases()


def measure_wasi(progress: Progress, runs: int, wasmtime: Any) -> dict:
    out: dict = {}
    for case in wasi_cases():
        progress.step(f"sharedwasm {case['name']}")
        row = {"sharedwasm": bench_wasi.time_python(native_wasi_runner, case, runs)[1]}
        if wasmtime:
            progress.step(f"wasmtime-py {case['name']}")
            row["wasmtime-py"] = bench_wasi.time_python(bench_wasi.wasmtime_runner, case,
                                                        runs)[1]
        out[case["name"]] = row
    return out


# --- micro kernels and the trivial call -------------------------------------------------------

def measure_exec(progress: Progress, runs: int, wasmtime: Any) -> dict:
    data = wasm.wat2wasm(bench_exec.KERNELS_WAT)
    instance = require_native(wasm.Instance(wasm.Module(data)))
    peers = {"sharedwasm": lambda name: instance.exports[name]}
    if wasmtime:
        peers["wasmtime-py"] = bench_exec.load_wasmtime(data)
    out: dict = {}
    for label, get in peers.items():
        for kernel in bench_exec.KERNELS:
            progress.step(f"{label} {kernel.name}({kernel.large})")
            out.setdefault(kernel.name, {})[label] = bench_exec.time_kernel(
                get(kernel.name), kernel, kernel.large, runs)
        progress.step(f"{label} trivial calls")
        out.setdefault("call", {})[label] = bench_exec.time_calls(get("add"),
                                                                  bench_exec.CALLS, runs)
    return out


# --- psum and mandel, 1 -> 2 workers ---------------------------------------------------------

def measure_threads(progress: Progress, runs: int, wasmtime: Any) -> dict:
    specs = [s for s in bench_threads.kernel_specs("large", runs) if s["name"] in THREAD_KERNELS]
    out: dict = {"load": [os.getloadavg()[0]]}
    if wasmtime:
        bench_threads.patch_wasmtime(wasmtime)
    for spec in specs:
        native_module(Path(spec["path"]).read_bytes())
        for n in spec["workers"]:
            progress.step(f"sharedwasm {spec['name']} x{n}")
            wall, cpu = bench_threads.sharedwasm_kernel(spec, n)
            out.setdefault(spec["name"], {}).setdefault("sharedwasm", {})[n] = wall
            out[spec["name"]].setdefault("cpu", {})[n] = cpu
            if wasmtime:
                progress.step(f"wasmtime-py {spec['name']} x{n}")
                out[spec["name"]].setdefault("wasmtime-py", {})[n] = \
                    bench_threads.wasmtime_kernel(wasmtime, spec, n)
        out[spec["name"]]["size"] = spec["size"]
    out["load"].append(os.getloadavg()[0])
    return out


# --- compile time ------------------------------------------------------------------------------

def measure_compile(progress: Progress, wasmtime: Any) -> dict:
    """module -> (KB, native compile s, wasmtime-py compile s); one compile each, past
    the tier's cache."""
    out: dict = {}
    for path in sorted((REALWORLD / "out").glob("*.wasm")):
        progress.step(f"compile {path.name}")
        data = path.read_bytes()
        module = wasm.Module(data)
        start = time.perf_counter()
        compile_afresh(module.ast, module.info)
        ours = time.perf_counter() - start
        theirs = None
        if wasmtime:
            engine = (bench_threads.threaded_engine(wasmtime) if b"shared" in data
                      else wasmtime.Engine())
            start = time.perf_counter()
            wasmtime.Module(engine, data)
            theirs = time.perf_counter() - start
        out[path.name] = (len(data) / 1024, ours, theirs)
    return out


# --- worker start-up ---------------------------------------------------------------------------

def first_result(scope: Any, module: wasm.Module) -> tuple[bool, int]:
    """Worker target: instantiate the module received and call an export (workers take the
    parent's engine)."""
    instance = wasm.Instance(module)
    return is_native(instance), instance.exports.add(2, 3)


def sharedwasm_startup(module: wasm.Module, runs: int) -> dict:
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        with wasm.Worker(first_result, module) as worker:
            got = worker.result(timeout=120)
            times.append(time.perf_counter() - start)
        if got != (True, 5):
            raise AssertionError(f"the worker answered {got}")
    return {"first": times[0], "median": statistics.median(times[1:])}


def wasmtime_startup(wasmtime: Any, data: bytes, runs: int) -> dict:
    """A thread given a compiled ``wasmtime.Module``: Store, Instance, first call."""
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, data)
    times = []

    def body(answer: list) -> None:
        store = wasmtime.Store(engine)
        answer.append(wasmtime.Instance(store, module, []).exports(store)["add"](store, 2, 3))
    for _ in range(runs + 1):
        answer: list = []
        start = time.perf_counter()
        t = threading.Thread(target=body, args=(answer,))
        t.start()
        t.join()
        times.append(time.perf_counter() - start)
        if answer != [5]:
            raise AssertionError("wrong answer")
    return {"first": times[0], "median": statistics.median(times[1:])}


def measure_startup(progress: Progress, wasmtime: Any) -> dict:
    data = wasm.wat2wasm(bench_exec.KERNELS_WAT)
    progress.step("sharedwasm worker start-up")
    out = {"sharedwasm": sharedwasm_startup(wasm.Module(data), STARTUP_RUNS)}
    if wasmtime:
        progress.step("wasmtime-py thread start-up")
        out["wasmtime-py"] = wasmtime_startup(wasmtime, data, STARTUP_RUNS)
    return out


# --- report ------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    args = ap.parse_args()
    if os.environ["SHAREDWASM_ENGINE"] != "native" or not native.available():
        raise SystemExit(f"the native tier is not selected or not available "
                         f"({native.unavailable_reason() or 'SHAREDWASM_ENGINE'})")
    wasmtime = optional_module("wasmtime")
    peers = 2 if wasmtime else 1
    n_modules = len(list((REALWORLD / "out").glob("*.wasm")))
    progress = Progress(peers * (len(WASI_CASES) + len(bench_exec.KERNELS) + 1 + 4 + 1)
                        + n_modules)
    results = {"wasi": measure_wasi(progress, args.runs, wasmtime),
               "exec": measure_exec(progress, args.runs, wasmtime),
               "threads": measure_threads(progress, args.runs, wasmtime),
               "compile": measure_compile(progress, wasmtime),
               "startup": measure_startup(progress, wasmtime)}
    progress.close()
    version = peer_version("wasmtime") if wasmtime else None
    text = render(results, args.runs, version)
    print(text)
    if not args.no_write:
        write_section("native", text)
    return 0


def ratio_cell(ours: float, theirs: float | None) -> str:
    if theirs is None:
        return "not installed"
    r = ours / theirs
    return f"{r:.2f}x" + goal(r <= TIME_GOAL, f"<= {TIME_GOAL:g}x")


def ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1e3:.2f}"


def render(results: dict, runs: int, version: str | None) -> str:
    rows = []
    for name, row in results["wasi"].items():
        rows.append([f"WASI {name}", ms(row["sharedwasm"]), ms(row.get("wasmtime-py")),
                     ratio_cell(row["sharedwasm"], row.get("wasmtime-py"))])
    sizes = {k.name: k.large for k in bench_exec.KERNELS}
    for name, row in results["exec"].items():
        if name == "call":
            continue
        rows.append([f"{name}({sizes[name]:,})", ms(row["sharedwasm"]),
                     ms(row.get("wasmtime-py")),
                     ratio_cell(row["sharedwasm"], row.get("wasmtime-py"))])
    thread_rows = []
    load = results["threads"]["load"]
    for name in THREAD_KERNELS:
        row = results["threads"][name]
        ours = row["sharedwasm"]
        for n in (1, 2):
            theirs = row.get("wasmtime-py", {}).get(n)
            rows.append([f"{name}({row['size']:,}) x{n}", ms(ours[n]), ms(theirs),
                         ratio_cell(ours[n], theirs)])
        speedup = ours[1] / ours[2]
        peer = row.get("wasmtime-py")
        cpu = row["cpu"][1] / row["cpu"][2]
        thread_rows.append([name, f"{speedup:.2f}x" + goal(speedup >= SPEEDUP_GOAL,
                                                            f">= {SPEEDUP_GOAL:g}x"),
                            f"{cpu:.2f}x",
                            f"{peer[1] / peer[2]:.2f}x" if peer else "not installed"])
    call = results["exec"]["call"]
    ours_us = call["sharedwasm"] * 1e6
    call_rows = [["sharedwasm (`instance.exports.add`)",
                  f"{ours_us:.2f}" + goal(ours_us <= CALL_GOAL_US, f"<= {CALL_GOAL_US:g} µs")]]
    if "wasmtime-py" in call:
        call_rows.append(["wasmtime-py (`func(store, ...)`)", f"{call['wasmtime-py'] * 1e6:.2f}"])
    compile_rows = []
    total_kb = total_ours = total_theirs = 0.0
    for name, (kb, ours, theirs) in results["compile"].items():
        total_kb += kb
        total_ours += ours
        total_theirs += theirs or 0.0
        compile_rows.append([name, f"{kb:.1f}", f"{ours * 1e3:.0f}", f"{ours * 1e3 / kb:.1f}",
                             "" if theirs is None else f"{theirs * 1e3 / kb:.2f}"])
    compile_rows.append(["all", f"{total_kb:.1f}", f"{total_ours * 1e3:.0f}",
                         f"{total_ours * 1e3 / total_kb:.1f}",
                         f"{total_theirs * 1e3 / total_kb:.2f}" if total_theirs else ""])
    start_rows = []
    for label, what in (("sharedwasm", "`wasm.Worker(target, module)`: a process instantiates "
                                       "the module received, calls `add`"),
                        ("wasmtime-py", "a thread: `Store` + `Instance` of a compiled module, "
                                        "calls `add`")):
        s = results["startup"].get(label)
        if s:
            start_rows.append([label, what, ms(s["first"]), ms(s["median"])])
    lines = [
        "## Native tier next to wasmtime-py",
        "",
        f"Written by `bench/bench_native.py`: {machine_line()}"
        + (f"; wasmtime-py {version}" if version else "; wasmtime-py not installed") + ". "
        "sharedwasm with `SHAREDWASM_ENGINE=native` (this process and its workers; every "
        "instance checked to be native machine code). Medians of "
        f"{runs} runs after a checked warm-up; compilation untimed except in the compile "
        "table. WASI: the `large` cases of `wasi_cases.json`, instantiation + `_start`, "
        "stdout checked; kernels: `bench_exec.py`'s; psum/mandel: `bench_threads.py`'s "
        "(`large`; sharedwasm: worker processes, wasmtime-py: threads). Ratio = sharedwasm "
        "time / wasmtime-py time (below 1: sharedwasm is faster).",
        "",
        *table(["benchmark", "sharedwasm ms", "wasmtime-py ms", "ratio"], rows),
        "",
        "### Speed-up from 1 to 2 workers",
        "",
        *table(["kernel", "sharedwasm (wall)", "sharedwasm (CPU of the busiest worker)",
                "wasmtime-py (wall)"], thread_rows),
        "",
        "The wall-clock speed-up reaches the CPU one only when both cores are free; load "
        f"average (1 min) before -> after these kernels: {load[0]:.2f} -> {load[1]:.2f} "
        f"({os.cpu_count()} CPUs).",
        "",
        "### Trivial call",
        "",
        f"A `(i32, i32) -> i32` export called {bench_exec.CALLS:,} times from Python.",
        "",
        *table(["peer", "µs per call"], call_rows),
        "",
        "### Compile time",
        "",
        "Each module of `../shared/realworld/out` compiled once afresh (decoding and "
        "validation excluded): lowering to LLVM IR, optimization, machine code, linking.",
        "",
        *table(["module", "KB", "native ms", "native ms/KB", "wasmtime-py ms/KB"],
               compile_rows),
        "",
        "### Worker start-up to first result",
        "",
        f"First = the first of the process, warm = median of the next {STARTUP_RUNS}; the "
        "module is `bench_exec.py`'s kernels.",
        "",
        *table(["peer", "what", "first ms", "warm ms"], start_rows),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
