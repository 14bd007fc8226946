"""WASI command modules on sharedwasm next to wasmtime-py, pywasm, pwasm and Node's node:wasi.

    python bench/bench_wasi.py [--runs N] [--no-write]

Runs the ``small`` cases of the nbody and sha256 benchmarks of ``../shared/realworld``
(``wasi_cases.json``: compiled C, f64 physics and integer hashing) on every peer in the
same run. Timed: instantiation (with the WASI imports) plus ``_start``, the module being
compiled once beforehand; the median of N runs. Every run's stdout must equal
``expected/wasi/<case>.stdout`` byte for byte and the exit code 0. Peers:

- sharedwasm: ``wasm.WASI`` + ``wasm.Instance`` (the portable tier);
- wasmtime-py: ``Linker.define_wasi`` with a ``WasiConfig``;
- pywasm: its ``wasi.Preview1`` (stdout captured through its pipe hook);
- pwasm: ``WasiLite`` with ``instantiate(..., mode="compile")``;
- Node.js: ``node:wasi`` (preview1), driven by a script written to a temporary directory.

Missing peers are reported as "not installed", failing ones with their error. Writes its
section of ``docs/performance.md``.
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import (REALWORLD, Progress, machine_line, optional_module,  # noqa: E402
                     peer_version, table, write_section)
import sharedwasm as wasm  # noqa: E402

CASES = ("nbody_small", "sha256_small")

#: Node.js driver: argv[2] = JSON [{name, path, args, runs, stdout}]; prints JSON {name: [ms]}.
NODE_DRIVER = r"""
import { WASI } from 'node:wasi';
import { readFileSync, openSync, closeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = {};
for (const c of cases) {
  const module = new WebAssembly.Module(readFileSync(c.path));
  out[c.name] = [];
  for (let i = 0; i < c.runs; i++) {
    const fd = openSync(c.stdout, 'w');
    const t0 = performance.now();
    const wasi = new WASI({ version: 'preview1', args: c.args, env: {}, stdout: fd,
                            returnOnExit: true });
    const instance = new WebAssembly.Instance(module, wasi.getImportObject());
    const code = wasi.start(instance);
    out[c.name].push(performance.now() - t0);
    closeSync(fd);
    if (code !== 0) throw new Error(`${c.name}: exit ${code}`);
  }
}
process.stdout.write(JSON.stringify(out));
"""

# A runner takes (module bytes, args) and returns a callable run() -> (exit code, stdout).

def sharedwasm_runner(data: bytes, args: list[str]) -> Callable[[], tuple[int, bytes]]:
    module = wasm.Module(data)

    def run() -> tuple[int, bytes]:
        out = io.BytesIO()
        with wasm.WASI(args=args, env=[], stdout=out, stderr=io.BytesIO()) as wasi:
            code = wasi.start(wasm.Instance(module, wasi.imports))
        return code, out.getvalue()
    return run


def wasmtime_runner(data: bytes, args: list[str]) -> Callable[[], tuple[int, bytes]]:
    wasmtime = optional_module("wasmtime")
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, data)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()

    def run() -> tuple[int, bytes]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "stdout")
            config = wasmtime.WasiConfig()
            config.argv = args
            config.stdout_file = str(path)
            store = wasmtime.Store(engine)
            store.set_wasi(config)
            instance = linker.instantiate(store, module)
            try:
                instance.exports(store)["_start"](store)
                code = 0
            except wasmtime.ExitTrap as exit_:
                code = exit_.code
            return code, path.read_bytes()
    return run


def pywasm_runner(data: bytes, args: list[str]) -> Callable[[], tuple[int, bytes]]:
    pywasm = optional_module("pywasm")
    desc = pywasm.core.ModuleDesc.from_reader(io.BytesIO(data))

    def run() -> tuple[int, bytes]:
        runtime = pywasm.core.Runtime()
        wasi = pywasm.wasi.Preview1(args, {}, {})
        out = io.BytesIO()
        wasi.fd[1].pipe = out
        wasi.fd[2].pipe = io.BytesIO()
        wasi.bind(runtime)
        code = wasi.main(runtime, runtime.instance(desc))
        return code, out.getvalue()
    return run


def pwasm_runner(data: bytes, args: list[str]) -> Callable[[], tuple[int, bytes]]:
    pwasm = optional_module("pwasm")
    from pwasm.wasi import Exit, WasiLite
    module = pwasm.decode_module(data)

    def run() -> tuple[int, bytes]:
        wasi = WasiLite(args=args)
        instance = pwasm.instantiate(module, {"wasi_snapshot_preview1": wasi.imports(module)},
                                     mode="compile")
        wasi.bind(instance)
        try:
            instance.exports._start()
            code = 0
        except Exit as exit_:
            code = exit_.code
        if wasi.unsupported_calls:
            raise RuntimeError(f"unsupported WASI calls: {wasi.unsupported_calls}")
        return code, bytes(wasi.stdout)
    return run


#: label -> (import name, distribution, runner)
PEERS: dict[str, tuple[str, str, Any]] = {
    "sharedwasm": ("sharedwasm", "sharedwasm", sharedwasm_runner),
    "wasmtime-py": ("wasmtime", "wasmtime", wasmtime_runner),
    "pywasm": ("pywasm", "pywasm", pywasm_runner),
    "pwasm (compile)": ("pwasm", "pwasm", pwasm_runner),
}


def load_cases() -> list[dict]:
    cases = json.loads((REALWORLD / "wasi_cases.json").read_text())["cases"]
    chosen = [c for c in cases if c["name"] in CASES]
    for c in chosen:
        c["path"] = str(REALWORLD / "out" / c["module"])
        c["expected"] = (REALWORLD / "expected" / "wasi" / f"{c['name']}.stdout").read_bytes()
    return chosen


def time_python(runner: Callable, case: dict, runs: int) -> tuple[float, float]:
    """(first run, median of runs) in seconds; each run prepared afresh, untimed (pywasm's
    decoded module cannot be instantiated twice)."""
    data = Path(case["path"]).read_bytes()
    times = []
    for _ in range(runs):
        run = runner(data, case["args"])
        start = time.perf_counter()
        code, out = run()
        times.append(time.perf_counter() - start)
        if code != case["expect_exit"] or out != case["expected"]:
            raise AssertionError(f"exit {code}, stdout {out[:80]!r}... differs from expected")
    return times[0], sorted(times)[len(times) // 2]


def time_node(node: str, cases: list[dict], runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        driver, config = Path(tmp, "wasi.mjs"), Path(tmp, "cases.json")
        driver.write_text(NODE_DRIVER)
        items = [{"name": c["name"], "path": c["path"], "args": c["args"], "runs": runs,
                  "stdout": str(Path(tmp, c["name"] + ".stdout"))} for c in cases]
        config.write_text(json.dumps(items))
        proc = subprocess.run([node, "--no-warnings", str(driver), str(config)],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip()[-300:])
        for c, item in zip(cases, items):
            if Path(item["stdout"]).read_bytes() != c["expected"]:
                raise AssertionError(f"{c['name']}: stdout differs from expected")
    times = json.loads(proc.stdout)
    return {name: (ts[0] / 1e3, sorted(ts)[len(ts) // 2] / 1e3) for name, ts in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    args = ap.parse_args()
    cases = load_cases()
    node = shutil.which("node")
    available = {label: spec for label, spec in PEERS.items()
                 if optional_module(spec[0]) is not None}
    progress = Progress(len(available) * len(cases) + bool(node))
    results: dict[str, dict[str, Any]] = {}
    for label, (module_name, _, runner) in PEERS.items():
        results[label] = {}
        for case in cases:
            if label not in available:
                results[label][case["name"]] = "not installed"
                continue
            progress.step(f"{label} {case['name']}")
            try:
                results[label][case["name"]] = time_python(runner, case, args.runs)
            except Exception as exc:             # a peer that cannot run it is reported
                if label == "sharedwasm":
                    raise
                results[label][case["name"]] = f"failed: {type(exc).__name__}: {exc}"[:160]
    if node:
        progress.step("Node.js node:wasi")
        try:
            results["Node.js"] = time_node(node, cases, args.runs)
        except Exception as exc:
            results["Node.js"] = {c["name"]: f"failed: {exc}"[:160] for c in cases}
    else:
        results["Node.js"] = {c["name"]: "not installed" for c in cases}
    progress.close()
    node_version = (subprocess.run([node, "--version"], capture_output=True, text=True)
                    .stdout.strip() if node else "")
    text = render(results, cases, args.runs, available, node_version)
    print(text)
    if not args.no_write:
        write_section("wasi", text)
    return 0


def render(results: dict, cases: list[dict], runs: int, available: dict,
           node_version: str) -> str:
    head = ["case", "args", "peer", "first run ms", "median ms", "sharedwasm speed-up"]
    rows = []
    for case in cases:
        ours = results["sharedwasm"][case["name"]]
        for label, per_case in results.items():
            value = per_case[case["name"]]
            if isinstance(value, str):
                rows.append([case["name"], " ".join(case["args"][1:]), label, "", value, ""])
                continue
            speed = ""
            if label != "sharedwasm":
                x = value[1] / ours[1]
                speed = f"{x:.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 1 else f"{x:.2g}x"
            rows.append([case["name"], " ".join(case["args"][1:]), label,
                         f"{value[0] * 1e3:.1f}", f"{value[1] * 1e3:.1f}", speed])
    versions = [f"{label} {peer_version(dist)}" for label, (_, dist, _) in PEERS.items()
                if label in available and label != "sharedwasm"]
    if node_version:
        versions.append(f"Node.js {node_version}")
    lines = [
        "## WASI: compiled C programs",
        "",
        f"Written by `bench/bench_wasi.py`: {machine_line()}; {', '.join(versions)}. "
        "The `small` cases of `wasi_cases.json` (at most ~1.5 million wasm instructions "
        "each); time = instantiation with the WASI imports + `_start` (module compiled "
        f"beforehand, untimed), first run and median of {runs} runs (later instantiations may "
        "reuse code a peer compiled at the first); every run's stdout is compared byte for "
        "byte with the expected output. Speed-up = peer median / sharedwasm median (above 1: "
        "sharedwasm is faster).",
        "",
        *table(head, rows),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
