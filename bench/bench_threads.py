"""Threads: parallel kernels, wait/notify hand-offs, worker start-up and cross-agent atomics
of sharedwasm next to wasmtime-py (Python threads) and Node.js (worker_threads).

    python bench/bench_threads.py [--size large|small] [--runs N] [--no-write]

In the same run, on the shared-memory kernels of ``../shared/realworld`` (README part B):

- psum and mandel with 1 and 2 workers: the median time of ``kernel_run`` over all workers
  (instances ready, ``kernel_setup`` untimed) and the speed-up 1 -> 2 (sharedwasm's goal:
  >= 1.85x). sharedwasm runs ``wasm.WorkerPool`` (what ``wasm.run_parallel`` uses, kept
  across repetitions) over processes;
- pingpong with 2 workers: time per token hand-off (goal <= 20 µs);
- worker start-up to its first result: ``wasm.Worker`` against Node's ``new Worker`` (goal:
  below Node's), cold (the first in the process) and warm (median of the next ones);
- atomic increments per second: two agents running ``i32.atomic.rmw.add`` in a wasm loop on
  one word of a shared memory.

Every run's ``kernel_result()`` is checked against ``expected/kernels.json`` and the
kernel's own full verification (``kernel_check() == 0``) runs after the timed runs: run
between them, its tens of milliseconds of single-threaded work leave the other CPU idle
and, on a virtual machine, waking it again costs the next run milliseconds. wasmtime-py
needs a workaround for its shared memories (see ``patch_wasmtime``). Node.js runs a driver
that this script writes to a temporary directory. Missing peers are reported as "not
installed". Writes its section of ``docs/performance.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import (REALWORLD, Progress, machine_line, median_time,  # noqa: E402
                     goal, optional_module, peer_version, settle, table, write_section)
import sharedwasm as wasm  # noqa: E402
from sharedwasm.tiers import engine as sharedwasm_engine  # noqa: E402

SPEEDUP_KERNELS = ("psum", "mandel")
WORKER_COUNTS = (1, 2)
SPEEDUP_GOAL = 1.85
HANDOFF_GOAL_US = 20.0
STARTUP_RUNS = 7
PEER_RUNS = 7
WARMUP = 1          # untimed first run of every kernel series (first touches of the pages)
INCREMENTS = {"sharedwasm": 100_000, "wasmtime-py": 5_000_000, "Node.js": 5_000_000}
#: the native engine runs as many increments as the peers, and more runs of its
#: millisecond kernels than the portable tier's seconds-long ones
NATIVE_INCREMENTS = 5_000_000
RUNS = {"native": 7, "python": 3}

INCR_WAT = r"""
(module
  (memory (import "env" "memory") 1 1 shared)
  (func (export "incr") (param $n i32) (result i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (i32.const 0))
  (func (export "reset") (i32.atomic.store (i32.const 0) (i32.const 0)))
  (func (export "get") (result i32) (i32.atomic.load (i32.const 0))))
"""

#: Node.js driver (an ES module): the same measurements with worker_threads; reads a JSON
#: config (argv[2]) and prints JSON results (milliseconds).
NODE_DRIVER = r"""import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

function instanceWorker(module, memory, w, init) {
  const worker = new Worker(new URL(import.meta.url), { workerData: { module, memory, w, init } });
  const queue = [];
  let waiting = null;
  worker.on('message', (m) => { if (waiting) { const r = waiting; waiting = null; r(m); } else queue.push(m); });
  worker.on('error', (e) => { console.error(e); process.exit(3); });
  const next = () => queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => { waiting = r; });
  return { worker, next };
}

async function kernel(spec, n) {
  const module = new WebAssembly.Module(readFileSync(spec.path));
  const memory = new WebAssembly.Memory({ initial: spec.min, maximum: spec.max, shared: true });
  const control = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const workers = [];
  for (let w = 0; w < n; w++) workers.push(instanceWorker(module, memory, w, true));
  for (const x of workers) if ((await x.next()) !== 'ready') throw new Error('init failed');
  const times = [];
  for (let rep = 0; rep < spec.warmup + spec.runs; rep++) {
    if (control.kernel_setup(n, spec.size) !== 0) throw new Error('kernel_setup failed');
    const t0 = performance.now();
    workers.forEach((x, w) => x.worker.postMessage(['kernel_run', w, n, spec.size]));
    await Promise.all(workers.map((x) => x.next()));
    if (rep >= spec.warmup) times.push(performance.now() - t0);
    const got = BigInt.asUintN(64, control.kernel_result()).toString(16).padStart(16, '0');
    if (spec.expected && got !== spec.expected)
      throw new Error(`${spec.name}: wrong result ${got}`);
  }
  if (control.kernel_check() !== 0) throw new Error(`${spec.name}: kernel_check failed`);
  for (const x of workers) await x.worker.terminate();
  return median(times);
}

async function increments(spec) {
  const module = new WebAssembly.Module(readFileSync(spec.path));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const workers = [0, 1].map((w) => instanceWorker(module, memory, w, false));
  for (const x of workers) await x.next();
  const times = [];
  for (let rep = 0; rep < spec.runs; rep++) {
    new Int32Array(memory.buffer)[0] = 0;
    const t0 = performance.now();
    workers.forEach((x) => x.worker.postMessage(['incr', spec.count]));
    await Promise.all(workers.map((x) => x.next()));
    times.push(performance.now() - t0);
    if (Atomics.load(new Int32Array(memory.buffer), 0) !== 2 * spec.count) throw new Error('lost increments');
  }
  for (const x of workers) await x.worker.terminate();
  return median(times);
}

async function startup(runs) {
  const times = [];
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    const worker = new Worker("require('node:worker_threads').parentPort.postMessage(1)", { eval: true });
    await new Promise((r) => worker.once('message', r));
    times.push(performance.now() - t0);
    await worker.terminate();
  }
  return { first: times[0], median: median(times.slice(1)) };
}

if (isMainThread) {
  const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const out = { kernels: {}, startup: await startup(config.startup_runs) };
  for (const spec of config.kernels) {
    out.kernels[spec.name] = {};
    for (const n of spec.workers) out.kernels[spec.name][n] = await kernel(spec, n);
  }
  out.increments = await increments(config.increments);
  process.stdout.write(JSON.stringify(out));
} else {
  const { module, memory, w, init } = workerData;
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
  if (init && exports.wrt_thread_init(w) !== 0) throw new Error('wrt_thread_init failed');
  parentPort.on('message', ([fn, ...args]) => parentPort.postMessage(exports[fn](...args)));
  parentPort.postMessage('ready');
}
"""


def u64_hex(value: int) -> str:
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


def kernel_specs(size_class: str, runs: int) -> list[dict]:
    """psum, mandel (1 and 2 workers) and pingpong (2 workers) at ``size_class``."""
    cases = json.loads((REALWORLD / "kernel_cases.json").read_text())["kernels"]
    expected = json.loads((REALWORLD / "expected" / "kernels.json").read_text())
    specs = []
    for name, counts in [*((k, WORKER_COUNTS) for k in SPEEDUP_KERNELS), ("pingpong", (2,))]:
        path = REALWORLD / "out" / f"{name}.wasm"
        limits = wasm.Module(path.read_bytes()).imports()[0].type.limits
        size = cases[name][size_class]
        specs.append({"name": name, "path": str(path), "min": limits.min, "max": limits.max,
                      "size": size, "size_class": size_class, "workers": list(counts),
                      "expected": expected[name].get(str(size)), "runs": runs,
                      "warmup": WARMUP})
    return specs


def check_result(spec: dict, result: int) -> None:
    if spec["expected"] and u64_hex(result) != spec["expected"]:
        raise AssertionError(f"{spec['name']}({spec['size']}): result {u64_hex(result)}, "
                             f"expected {spec['expected']}")


def check_kernel(spec: dict, check: int, result: int) -> None:
    if check != 0 or (spec["expected"] and u64_hex(result) != spec["expected"]):
        raise AssertionError(f"{spec['name']}({spec['size']}): kernel_check {check}, "
                             f"result {u64_hex(result)}, expected {spec['expected']}")


# --- sharedwasm: worker processes over a shared wasm.Memory ----------------------------------

def thread_init(instance: Any, index: int) -> None:
    """Each pool worker's instance gets its own stack and TLS slot."""
    if instance.exports.wrt_thread_init(index) != 0:
        raise RuntimeError(f"wrt_thread_init({index}) failed")


def timed_kernel_run(instance: Any, w: int, n: int, size: int) -> tuple[int, float]:
    """``kernel_run`` in a pool worker, with the CPU time the worker spent in it."""
    start = time.process_time()
    result = instance.exports.kernel_run(w, n, size)
    return result, time.process_time() - start


def sharedwasm_kernel(spec: dict, n: int) -> tuple[float, float]:
    """Median wall time of a run and median CPU time of the busiest worker."""
    module = wasm.Module(Path(spec["path"]).read_bytes())
    size, times, cpu = spec["size"], [], []
    with wasm.Memory(spec["min"], spec["max"], shared=True) as memory:
        control = wasm.Instance(module, {"env": {"memory": memory}}).exports
        with wasm.WorkerPool(module, memory=memory, workers=n, init=thread_init,
                             timeout=120) as pool:
            settle()
            for run in range(WARMUP + spec["runs"]):
                if control.kernel_setup(n, size) != 0:
                    raise AssertionError(f"{spec['name']}: kernel_setup failed")
                start = time.perf_counter()
                out = pool.map(timed_kernel_run, [(w, n, size) for w in range(n)],
                               timeout=900)
                if run >= WARMUP:
                    times.append(time.perf_counter() - start)
                    cpu.append(max(c for _, c in out))
                check_result(spec, control.kernel_result())
            check_kernel(spec, control.kernel_check(), control.kernel_result())
    return statistics.median(times), statistics.median(cpu)


def sharedwasm_increments(count: int, runs: int) -> float:
    module = wasm.Module(wasm.wat2wasm(INCR_WAT))
    with wasm.Memory(1, 1, shared=True) as memory:
        control = wasm.Instance(module, {"env": {"memory": memory}}).exports
        with wasm.WorkerPool(module, memory=memory, workers=2, timeout=120) as pool:
            def run() -> None:
                control.reset()
                pool.map("incr", [(count,), (count,)], timeout=600)
                if control.get() != 2 * count:
                    raise AssertionError("lost atomic increments")
            return median_time(run, runs)


def sharedwasm_startup(runs: int) -> dict:
    """A worker running a one-line script that posts one message, as Node's below does."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "first_result.py")
        script.write_text("post_message(1)\n")
        for _ in range(runs + 1):
            start = time.perf_counter()
            worker = wasm.Worker(str(script))
            if worker.receive(timeout=60) != 1:
                raise AssertionError("the worker posted a wrong message")
            times.append(time.perf_counter() - start)
            worker.close()
    return {"first": times[0], "median": statistics.median(times[1:])}


# --- wasmtime-py: Python threads, one Store per thread, over a wasmtime.SharedMemory ---------

def patch_wasmtime(wasmtime: Any) -> str:
    """Make a ``SharedMemory`` linkable; returns what was done.

    wasmtime-py (50 here) wraps a SharedMemory in an extern as a pointer *to* its pointer,
    so linking one fails with "incompatible types, LP_LP_wasmtime_sharedmemory instance
    instead of LP_wasmtime_sharedmemory instance" (bytecodealliance/wasmtime-py#318). The
    fix is to hand over the pointer itself; applied only when the probe fails."""
    def probe() -> None:
        engine = threaded_engine(wasmtime)
        module = wasmtime.Module(engine, wasm.wat2wasm(INCR_WAT))
        memory = wasmtime.SharedMemory(engine, module.imports[0].type)
        wasmtime.Instance(wasmtime.Store(engine), module, [memory])
    try:
        probe()
        return "none needed"
    except TypeError:
        pass
    from wasmtime import _ffi as ffi

    def as_extern(self: Any) -> Any:
        return ffi.wasmtime_extern_t(ffi.WASMTIME_EXTERN_SHAREDMEMORY,
                                     ffi.wasmtime_extern_union(sharedmemory=self.ptr()))
    wasmtime.SharedMemory._as_extern = as_extern
    probe()
    return "patched `SharedMemory._as_extern` (wasmtime-py#318)"


def threaded_engine(wasmtime: Any) -> Any:
    config = wasmtime.Config()
    config.wasm_threads = True
    config.shared_memory = True
    return wasmtime.Engine(config)


class WasmtimeAgents:
    """One engine, module and shared memory; ``agent()`` = a new Store with an instance."""

    def __init__(self, wasmtime: Any, data: bytes):
        self.wasmtime = wasmtime
        self.engine = threaded_engine(wasmtime)
        self.module = wasmtime.Module(self.engine, data)
        self.memory = wasmtime.SharedMemory(self.engine, self.module.imports[0].type)

    def agent(self) -> tuple[Any, Any]:
        store = self.wasmtime.Store(self.engine)
        instance = self.wasmtime.Instance(store, self.module, [self.memory])
        exports = instance.exports(store)
        return store, (lambda name, *args: exports[name](store, *args))


def run_threads(calls: list) -> float:
    """Start one thread per ``(call, args)``, wait for all; seconds from start to last end."""
    errors: list[BaseException] = []

    def body(call: Any, args: tuple) -> None:
        try:
            call(*args)
        except BaseException as exc:
            errors.append(exc)
    threads = [threading.Thread(target=body, args=item) for item in calls]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


def wasmtime_kernel(wasmtime: Any, spec: dict, n: int) -> float:
    agents = WasmtimeAgents(wasmtime, Path(spec["path"]).read_bytes())
    _, control = agents.agent()
    workers = [agents.agent()[1] for _ in range(n)]
    for w, call in enumerate(workers):
        if call("wrt_thread_init", w) != 0:
            raise AssertionError("wrt_thread_init failed")
    size, times = spec["size"], []
    for run in range(WARMUP + spec["runs"]):
        if control("kernel_setup", n, size) != 0:
            raise AssertionError(f"{spec['name']}: kernel_setup failed")
        elapsed = run_threads([(call, ("kernel_run", w, n, size))
                               for w, call in enumerate(workers)])
        if run >= WARMUP:
            times.append(elapsed)
        check_result(spec, control("kernel_result"))
    check_kernel(spec, control("kernel_check"), control("kernel_result"))
    return statistics.median(times)


def wasmtime_increments(wasmtime: Any, count: int, runs: int) -> float:
    agents = WasmtimeAgents(wasmtime, wasm.wat2wasm(INCR_WAT))
    _, control = agents.agent()
    workers = [agents.agent()[1] for _ in range(2)]
    times = []
    for _ in range(runs):
        control("reset")
        times.append(run_threads([(call, ("incr", count)) for call in workers]))
        if control("get") != 2 * count:
            raise AssertionError("lost atomic increments")
    return statistics.median(times)


def thread_startup(runs: int) -> dict:
    """A Python thread's start to its first result (what wasmtime-py agents are)."""
    import queue
    times = []
    for _ in range(runs + 1):
        answers: queue.Queue = queue.Queue()
        start = time.perf_counter()
        t = threading.Thread(target=answers.put, args=(1,))
        t.start()
        answers.get()
        times.append(time.perf_counter() - start)
        t.join()
    return {"first": times[0], "median": statistics.median(times[1:])}


# --- Node.js: worker_threads over WebAssembly.Memory({shared: true}) -------------------------

def run_node(node: str, specs: list[dict], count: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        driver, config, incr = Path(tmp, "driver.mjs"), Path(tmp, "config.json"), Path(tmp, "incr.wasm")
        driver.write_text(NODE_DRIVER)
        incr.write_bytes(wasm.wat2wasm(INCR_WAT))
        config.write_text(json.dumps({"kernels": specs, "startup_runs": STARTUP_RUNS,
                                      "increments": {"path": str(incr), "count": count,
                                                     "runs": runs}}))
        proc = subprocess.run([node, str(driver), str(config)], capture_output=True,
                              text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"node failed: {proc.stderr.strip()[-400:]}")
    out = json.loads(proc.stdout)
    ms = 1e-3
    return {"kernels": {k: {int(n): t * ms for n, t in v.items()}
                        for k, v in out["kernels"].items()},
            "startup": {k: v * ms for k, v in out["startup"].items()},
            "increments": out["increments"] * ms}


def node_version(node: str) -> str:
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


def measure_sharedwasm(specs: list[dict], runs: int, progress: Progress) -> dict:
    progress.step("sharedwasm worker start-up")
    out: dict = {"startup": sharedwasm_startup(STARTUP_RUNS), "kernels": {},
                 "load": [os.getloadavg()[0]]}
    for spec in specs:
        out["kernels"][spec["name"]] = {}
        for n in spec["workers"]:
            progress.step(f"sharedwasm {spec['name']}({spec['size']}) x{n}")
            wall, cpu = sharedwasm_kernel(spec, n)
            out["kernels"][spec["name"]][n] = wall
            out.setdefault("cpu", {}).setdefault(spec["name"], {})[n] = cpu
    out["load"].append(os.getloadavg()[0])
    progress.step("sharedwasm atomic increments")
    out["increments"] = sharedwasm_increments(sharedwasm_increment_count(), runs)
    return out


def sharedwasm_increment_count() -> int:
    return NATIVE_INCREMENTS if sharedwasm_engine() == "native" else INCREMENTS["sharedwasm"]


def measure_wasmtime(wasmtime: Any, specs: list[dict], runs: int, progress: Progress) -> dict:
    out: dict = {"workaround": patch_wasmtime(wasmtime), "kernels": {},
                 "startup": thread_startup(STARTUP_RUNS)}
    for spec in specs:
        out["kernels"][spec["name"]] = {}
        for n in spec["workers"]:
            progress.step(f"wasmtime-py {spec['name']}({spec['size']}) x{n}")
            out["kernels"][spec["name"]][n] = wasmtime_kernel(wasmtime, spec, n)
    progress.step("wasmtime-py atomic increments")
    out["increments"] = wasmtime_increments(wasmtime, INCREMENTS["wasmtime-py"], runs)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=("large", "small"), default="large",
                    help="kernel size for sharedwasm (the peers always run 'large')")
    ap.add_argument("--runs", type=int, default=None,
                    help="sharedwasm's runs (default: 7 on the native engine, 3 on python)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    args = ap.parse_args()
    if args.runs is None:
        args.runs = RUNS[sharedwasm_engine()]
    if not (REALWORLD / "out" / "psum.wasm").exists():
        print(f"no kernels in {REALWORLD / 'out'}", file=sys.stderr)
        return 1
    ours_specs = kernel_specs(args.size, args.runs)
    peer_specs = kernel_specs("large", PEER_RUNS)
    steps = sum(len(s["workers"]) for s in ours_specs) + 2
    wasmtime, node = optional_module("wasmtime"), shutil.which("node")
    steps += (sum(len(s["workers"]) for s in peer_specs) + 1) * bool(wasmtime) + bool(node)
    progress = Progress(steps)
    results: dict[str, dict] = {"sharedwasm": measure_sharedwasm(ours_specs, args.runs, progress)}
    results["sharedwasm"]["specs"] = ours_specs
    peers = {"wasmtime-py": (lambda: measure_wasmtime(wasmtime, peer_specs, PEER_RUNS, progress))
             if wasmtime else None,
             "Node.js": (lambda: run_node(node, peer_specs, INCREMENTS["Node.js"], PEER_RUNS))
             if node else None}
    for label, measure in peers.items():
        if measure is None:
            results[label] = {"missing": "not installed"}
            continue
        if label == "Node.js":
            progress.step("Node.js worker_threads")
        try:
            load = os.getloadavg()[0]
            results[label] = measure()
            results[label]["specs"] = peer_specs
            results[label]["load"] = [load, os.getloadavg()[0]]
        except Exception as exc:             # a peer's failure is reported, not fatal
            results[label] = {"missing": f"failed: {exc}"}
    progress.close()
    versions = {"wasmtime-py": f"wasmtime-py {peer_version('wasmtime')}" if wasmtime else "",
                "Node.js": f"Node.js {node_version(node)}" if node else ""}
    text = render(results, versions, args.runs)
    print(text)
    if not args.no_write:
        write_section("threads", text)
    return 0


def cpu_lines(r: dict) -> list[str]:
    """What the wall-clock speed-up cannot show on a shared machine: whether the work
    divides (CPU time of the busiest worker) and how loaded the machine was."""
    if "cpu" not in r:
        return []
    parts = []
    for name in SPEEDUP_KERNELS:
        one, two = r["cpu"][name][1], r["cpu"][name][2]
        parts.append(f"{name} {one * 1e3:.2f} ms -> {two * 1e3:.2f} ms ({one / two:.2f}x)")
    load = ", ".join(f"{x:.2f}" for x in r.get("load", ()))
    return ["sharedwasm, CPU time of the busiest worker per run (1 -> 2 workers): "
            + "; ".join(parts) + ". The wall-clock speed-up reaches this only when both "
            f"cores are free; load average (1 min) before/after the kernels: {load}.", ""]


def load_line(results: dict) -> list[str]:
    """The machine's load around each peer's measurement (a 2-agent speed-up needs two
    idle cores; other jobs on a shared machine take them)."""
    parts = [f"{label} {r['load'][0]:.2f} -> {r['load'][1]:.2f}"
             for label, r in results.items() if label != "sharedwasm" and "load" in r]
    if not parts:
        return []
    return ["Load average (1 min) before -> after each peer's measurements: "
            + "; ".join(parts) + f" (this machine has {os.cpu_count()} CPUs).", ""]


def render(results: dict, versions: dict, runs: int) -> str:
    peers = list(results)
    speed_rows, pong_rows, start_rows, incr_rows = [], [], [], []
    cpu_notes = cpu_lines(results.get("sharedwasm", {}))
    node_start = results.get("Node.js", {}).get("startup", {}).get("median")
    for label in peers:
        r = results[label]
        if "missing" in r:
            speed_rows.append(["psum, mandel", label, "", "", "", r["missing"]])
            for rows in (pong_rows, start_rows, incr_rows):
                rows.append([label, "", "", r["missing"]])
            continue
        specs = {s["name"]: s for s in r["specs"]}
        for name in SPEEDUP_KERNELS:
            one, two = r["kernels"][name][1], r["kernels"][name][2]
            speed = f"{one / two:.2f}x"
            if label == "sharedwasm":
                speed += goal(one / two >= SPEEDUP_GOAL, f">= {SPEEDUP_GOAL}x")
            spec = specs[name]
            speed_rows.append([name, label, f"{spec['size']:,} ({spec['size_class']})",
                               f"{one * 1e3:.1f}", f"{two * 1e3:.1f}", speed])
        spec, t = specs["pingpong"], r["kernels"]["pingpong"][2]
        per = t / spec["size"] * 1e6
        note = goal(per <= HANDOFF_GOAL_US, f"<= {HANDOFF_GOAL_US:g} µs") \
            if label == "sharedwasm" else ""
        pong_rows.append([label, f"{spec['size']:,} ({spec['size_class']})",
                          f"{t * 1e3:.1f}", f"{per:.1f}{note}"])
        how = {"sharedwasm": "`wasm.Worker(script)` -> first message (a process)",
               "wasmtime-py": "`threading.Thread` -> queue (a thread; no isolate)",
               "Node.js": "`new Worker(code, {eval: true})` -> first message"}[label]
        s = r["startup"]
        warm = f"{s['median'] * 1e3:.2f}"
        if label == "sharedwasm" and node_start:
            warm += goal(s["median"] < node_start, "below Node's")
        start_rows.append([label, how, f"{s['first'] * 1e3:.2f}", warm])
        count = (sharedwasm_increment_count() if label == "sharedwasm"
                 else INCREMENTS[label]) * 2
        incr_rows.append([label, f"{count:,}", f"{r['increments'] * 1e3:.1f}",
                          f"{count / r['increments'] / 1e6:.2f}"])
    installed = [v for v in versions.values() if v]
    workaround = results.get("wasmtime-py", {}).get("workaround")
    lines = [
        "## Threads: shared memory, workers, atomics",
        "",
        f"Written by `bench/bench_threads.py`: {machine_line()}"
        + (f"; {', '.join(installed)}" if installed else "") + ". "
        f"sharedwasm agents are worker processes ({sharedwasm_engine()} engine) over one "
        "`wasm.Memory(..., "
        "shared=True)`; wasmtime-py agents are Python threads, each with its own Store and "
        "instance over one `wasmtime.SharedMemory` (wasm calls release the GIL); Node.js "
        "agents are `worker_threads` over `WebAssembly.Memory({shared: true})`. Times are "
        f"medians (sharedwasm: {runs} runs, peers: {PEER_RUNS}), instances ready and "
        "`kernel_setup` untimed, after one untimed run; every run's `kernel_result()` is "
        "checked against `expected/kernels.json`, "
        "`kernel_check()` after the timed runs (between them its single-threaded work "
        "leaves a CPU idle, and waking an idle virtual CPU costs the next run "
        "milliseconds).",
        "",
        "### psum and mandel: 1 -> 2 workers",
        "",
        *table(["kernel", "peer", "size", "1 worker ms", "2 workers ms", "speed-up"],
               speed_rows),
        "",
        *cpu_notes,
        *load_line(results),
        "### pingpong: wait/notify hand-offs between 2 workers",
        "",
        *table(["peer", "hand-offs", "ms", "µs per hand-off"], pong_rows),
        "",
        "### Worker start-up to first result",
        "",
        "First = the first worker of the process (sharedwasm: a spawned process, the "
        "forkserver boots meanwhile in the background); warm = median of the next "
        f"{STARTUP_RUNS}, back to back (sharedwasm: the target handed to the idle spare "
        "process, replenished after each hand-out).",
        "",
        *table(["peer", "what", "first ms", "warm ms"], start_rows),
        "",
        "### Atomic increments across 2 agents",
        "",
        "Two agents each run a wasm loop of `i32.atomic.rmw.add` on the same word (processes "
        "for sharedwasm, threads for the peers); the final count is checked.",
        "",
        *table(["peer", "increments", "ms", "M increments/s"], incr_rows),
        "",
    ]
    if workaround:
        lines += [f"wasmtime-py shared memory workaround: {workaround}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
