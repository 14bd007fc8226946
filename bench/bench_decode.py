"""Decode+validate throughput of sharedwasm next to wasm-tools and wasmtime-py.

    python bench/bench_decode.py [--dir DIR] [--runs N] [--no-write]

For every module of ``DIR`` (default ``../shared/realworld/out``) it times, in the same
run, the median of N repetitions of:

- sharedwasm: ``decode_module`` + ``validate_module`` (what ``wasm.Module`` does);
- ``wasm-tools validate FILE`` as a subprocess (process start included), and its start-up
  cost alone (the same on an empty module);
- wasmtime-py's ``Module.validate`` (threads enabled), when ``wasmtime`` is installed
  (``pip install -e '.[bench]'``).

Prints a table with MB/s and ratios and writes its section of ``docs/performance.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import Progress, median_time, write_section  # noqa: E402
from sharedwasm.binary.decode import decode_module  # noqa: E402
from sharedwasm.errors import ALL_FEATURES  # noqa: E402
from sharedwasm.valid.validate import validate_module  # noqa: E402

DEFAULT_DIR = Path(os.environ.get("SHAREDWASM_REALWORLD_DIR",
                                  ROOT.parent / "shared" / "realworld")) / "out"




def ours(data: bytes) -> None:
    validate_module(decode_module(data, ALL_FEATURES), ALL_FEATURES)


def wasm_tools_process(exe: str, path: Path) -> None:
    subprocess.run([exe, "validate", str(path)], check=True, capture_output=True)


def wasm_tools_start(exe: str, runs: int) -> float:
    """Seconds ``wasm-tools validate`` needs for an empty module: its process start cost."""
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.wasm"
        empty.write_bytes(b"\0asm\1\0\0\0")
        return median_time(lambda: wasm_tools_process(exe, empty), runs)


def wasmtime_validator():
    try:
        import wasmtime
    except ImportError:
        return None
    config = wasmtime.Config()
    config.wasm_threads = True
    config.wasm_bulk_memory = True
    config.wasm_simd = True
    engine = wasmtime.Engine(config)
    return lambda data: wasmtime.Module.validate(engine, data)



def mbps(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e6:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    args = ap.parse_args()
    files = sorted(args.dir.glob("*.wasm"))
    if not files:
        print(f"no modules in {args.dir}", file=sys.stderr)
        return 1
    exe = shutil.which("wasm-tools", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                           os.environ.get("PATH", "")]))
    wasmtime_validate = wasmtime_validator()
    progress = Progress(len(files) * (1 + bool(exe) + bool(wasmtime_validate)) + bool(exe))
    rows = []
    for path in files:
        data = path.read_bytes()
        row = {"name": path.name, "size": len(data)}
        ours(data)                                   # warm the per-feature tables
        row["ours"] = median_time(lambda: ours(data), args.runs)
        progress.step(f"sharedwasm {path.name}")
        if exe:
            row["tool"] = median_time(lambda: wasm_tools_process(exe, path), args.runs)
            progress.step(f"wasm-tools {path.name}")
        if wasmtime_validate:
            wasmtime_validate(data)
            row["wasmtime"] = median_time(lambda: wasmtime_validate(data), args.runs)
            progress.step(f"wasmtime {path.name}")
        rows.append(row)
    start_cost = wasm_tools_start(exe, args.runs * 2) if exe else None
    if exe:
        progress.step("wasm-tools start-up")
    progress.close()
    text = render(rows, start_cost, args.runs, exe, wasmtime_validate is not None)
    print(text)
    if not args.no_write:
        write_section("decode", text)
    return 0


def render(rows: list[dict], start_cost: float | None, runs: int, tool: str | None,
           have_wasmtime: bool) -> str:
    head = ["module", "bytes", "sharedwasm ms", "MB/s"]
    if tool:
        head += ["wasm-tools ms (process)", "ratio"]
    if have_wasmtime:
        head += ["wasmtime-py ms", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    total = {"size": 0, "ours": 0.0, "tool": 0.0, "wasmtime": 0.0}
    for r in rows:
        cells = [r["name"], f"{r['size']:,}", f"{r['ours'] * 1e3:.1f}", mbps(r["size"], r["ours"])]
        if tool:
            cells += [f"{r['tool'] * 1e3:.1f}", f"{r['ours'] / r['tool']:.2f}x"]
        if have_wasmtime:
            cells += [f"{r['wasmtime'] * 1e3:.2f}", f"{r['ours'] / r['wasmtime']:.0f}x"]
        for k in total:
            total[k] += r.get(k, 0)
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["**all**", f"{total['size']:,}", f"{total['ours'] * 1e3:.1f}",
             mbps(total["size"], total["ours"])]
    if tool:
        cells += [f"{total['tool'] * 1e3:.1f}", f"{total['ours'] / total['tool']:.2f}x"]
    if have_wasmtime:
        cells += [f"{total['wasmtime'] * 1e3:.2f}", f"{total['ours'] / total['wasmtime']:.0f}x"]
    lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "## Decode + validate",
        "",
        f"Written by `bench/bench_decode.py` on {time.strftime('%Y-%m-%d')}: Python "
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; median "
        f"of {runs} runs per module; ratio = sharedwasm time / peer time (lower is better).",
        "",
        *lines,
        "",
    ]
    if start_cost is not None:
        work = total["tool"] - start_cost * len(rows)
        notes += [f"wasm-tools without process start: `wasm-tools validate` on an empty module "
                  f"takes {start_cost * 1e3:.1f} ms, so nearly all of its column is process "
                  f"start (all files minus {len(rows)} starts: {work * 1e3:.1f} ms, within "
                  "noise). Its validator (wasmparser) measured in-process is the wasmtime-py "
                  "column, which uses the same crate.", ""]
    notes += ["sharedwasm is pure Python and validates while it walks each function's "
              "instruction stream once; the peers are Rust (wasmparser).", ""]
    return "\n".join(notes)


if __name__ == "__main__":
    sys.exit(main())
