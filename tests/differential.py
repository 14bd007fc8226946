"""Differential runs of the portable and native tiers on modules from ``wasm-tools smith``.

A module comes from a counter: its seed bytes are a SHA-256 stream of ``profile:index``,
so every failure is reproducible from its name. Smith is told to add a fuel counter
(``--ensure-termination``, so every run ends), to export everything, to import nothing
and to keep memories and tables small with declared maxima (so ``memory.grow`` never
allocates much on the portable tier). Profiles pick the feature sets:

- ``canon``: 2.0 without SIMD and reference types, plus threads; NaNs canonicalized after
  every float operation, so every bit is deterministic and compared exactly.
- ``notrap``: ``canon`` with smith's guards around trapping instructions, so more code
  runs to the end.
- ``nan``: ``canon`` without canonicalization: NaN results whose sign and payload the
  spec leaves open may differ between the tiers, see ``run_module``.
- ``full``: ``nan`` plus reference types, exceptions and tail calls.

Each argument set gets fresh instances on both tiers; every exported function is called
in export order (with the fuel refilled, see ``fuel_global``), results, trap messages and
thrown exceptions compared after each call, and memories, globals and tables afterwards.
"""
from __future__ import annotations

import copy
import hashlib
import math
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sharedwasm.binary.decode import decode_module
from sharedwasm.errors import ALL_FEATURES, CompileError
from sharedwasm.errors import RuntimeError as Trap
from sharedwasm.runtime.exceptions import WasmThrow
from sharedwasm.runtime.instance import instantiate as runtime_instantiate
from sharedwasm.runtime.instance import invoke
from sharedwasm.runtime.numerics import f32_from_bits, f32_to_bits, f64_from_bits, f64_to_bits
from sharedwasm.spec.ast import Instr
from sharedwasm.tiers import native
from sharedwasm.tiers.pygen import compile_module as portable_compile
from sharedwasm.valid.validate import validate_module

WASM_TOOLS = (shutil.which("wasm-tools", path=str(Path(sys.executable).parent))
              or shutil.which("wasm-tools"))

FUEL = 200
_COMMON = [
    "--ensure-termination", "--fuel", str(FUEL), "--export-everything", "true",
    "--min-imports", "0", "--max-imports", "0", "--allow-start-export", "true",
    "--min-funcs", "3", "--max-funcs", "8", "--max-instructions", "100",
    "--max-nesting-depth", "6",
    "--max-memories", "1", "--max-memory32-bytes", str(1 << 20),
    "--memory-max-size-required", "true", "--max-tables", "2",
    "--max-table-elements", "64", "--table-max-size-required", "true",
    "--max-data-segments", "4", "--max-element-segments", "4", "--max-globals", "8",
    "--max-values", "100",
    "--simd-enabled", "false", "--relaxed-simd-enabled", "false", "--gc-enabled", "false",
    "--custom-descriptors-enabled", "false", "--memory64-enabled", "false",
    "--wide-arithmetic-enabled", "false", "--extended-const-enabled", "false",
    "--shared-everything-threads-enabled", "false", "--compact-imports-enabled", "false",
    "--custom-page-sizes-enabled", "false",
]
_NATIVE_SET = ["--reference-types-enabled", "false", "--exceptions-enabled", "false",
               "--tail-call-enabled", "false", "--threads-enabled", "true"]
PROFILES = {
    "canon": _COMMON + _NATIVE_SET + ["--canonicalize-nans", "true"],
    "notrap": _COMMON + _NATIVE_SET + ["--canonicalize-nans", "true",
                                       "--disallow-traps", "true"],
    "nan": _COMMON + _NATIVE_SET + ["--canonicalize-nans", "false"],
    "full": _COMMON + ["--reference-types-enabled", "true", "--exceptions-enabled", "true",
                       "--tail-call-enabled", "true", "--threads-enabled", "true",
                       "--canonicalize-nans", "false"],
}

M64 = (1 << 64) - 1
SEED_BYTES = 3000


def exact(profile: str) -> bool:
    """Whether every bit of the profile's runs is determined (NaNs canonicalized)."""
    opts = PROFILES[profile]
    return opts[opts.index("--canonicalize-nans") + 1] == "true"


def seed_bytes(profile: str, index: int, size: int = SEED_BYTES) -> bytes:
    """Smith's input for module ``index`` of ``profile``: SHA-256 blocks of a counter."""
    out = bytearray()
    block = 0
    while len(out) < size:
        out += hashlib.sha256(f"{profile}:{index}:{block}".encode()).digest()
        block += 1
    return bytes(out[:size])


def smith(profile: str, index: int) -> bytes | None:
    """The module of ``profile:index``, or None when smith cannot build one from the seed."""
    proc = subprocess.run([WASM_TOOLS, "smith", *PROFILES[profile], "-o", "/dev/stdout"],
                          input=seed_bytes(profile, index), capture_output=True, timeout=60)
    if proc.returncode == 2:
        return None
    if proc.returncode != 0:
        raise AssertionError(f"wasm-tools smith failed: {proc.stderr.decode()}")
    return proc.stdout


# ---------------------------------------------------------------------------------------
# arguments

_I32 = [0, 1, 2, 7, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 65536, 0xFFFF0000, 12345]
_I64 = [0, 1, 3, 0xFFFFFFFFFFFFFFFF, 0x8000000000000000, 0x7FFFFFFFFFFFFFFF, 1 << 32,
        0xFFFFFFFF, 0xDEADBEEFCAFE]
_F32_BITS = [0, 0x3F800000, 0x40490FDB, 0x7FC00000, 0x80000000, 0x7F800000, 0xFF800000,
             0x7FA00001, 0xCF000000, 0x4F800000, 0x00000001, 0xBF000000]
_F64_BITS = [0, 0x3FF0000000000000, 0x400921FB54442D18, 0x7FF8000000000000,
             0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
             0x7FF4000000000001, 0xC1E0000000000000, 0x43F0000000000000, 1,
             0xBFE0000000000000]
_POOLS = {"i32": _I32, "i64": _I64,
          "f32": [f32_from_bits(b) for b in _F32_BITS],
          "f64": [f64_from_bits(b) for b in _F64_BITS]}
ARG_SETS = 4


def arguments(params, which: int) -> tuple:
    """Argument set ``which`` for ``params``: 0 all zeros, 1 small values, 2+ boundaries
    (NaNs, infinities, -0, INT_MIN, -1, ...) in rotating combinations."""
    args = []
    for i, t in enumerate(params):
        pool = _POOLS.get(t)
        if pool is None:
            args.append(None)                  # references: null
        elif which == 0:
            args.append(pool[0])
        elif which == 1:
            args.append(pool[1 + i % 2])
        else:
            args.append(pool[3 + (i + which) % (len(pool) - 3)])
    return tuple(args)


# ---------------------------------------------------------------------------------------
# observations


def _canonical_value(t: str, v, inst) -> object:
    """A comparable form: ints as is, floats as bit patterns, references by index."""
    if t == "f32":
        return ("f32", f32_to_bits(v))
    if t == "f64":
        return ("f64", f64_to_bits(v))
    if t in ("i32", "i64"):
        return int(v)
    return _ref(v, inst)


def _ref(v, inst) -> object:
    if v is None:
        return None
    for i, f in enumerate(inst.funcs):
        if f is v:
            return ("func", i)
    return ("ref", type(v).__name__)


def _is_arithmetic_nan(kv) -> bool:
    if not isinstance(kv, tuple) or kv[0] not in ("f32", "f64"):
        return False
    bits = kv[1]
    if kv[0] == "f32":
        return bits & 0x7FC00000 == 0x7FC00000
    return bits & 0x7FF8000000000000 == 0x7FF8000000000000


def same_value(a, b, exact: bool) -> bool:
    """Bit equality; without ``exact``, two arithmetic (quiet) NaNs also match, as far as
    the results themselves go: a float operation may return any arithmetic NaN."""
    return a == b or (not exact and _is_arithmetic_nan(a) and _is_arithmetic_nan(b))


def outcome(inst, func, args) -> tuple:
    """("ok", results), ("trap", message) or ("throw", tag index, payload)."""
    try:
        results = invoke(func, args)
    except Trap as trap:
        return ("trap", trap.message)
    except WasmThrow as thrown:
        exn = thrown.exn
        tag = next((i for i, t in enumerate(inst.tags) if t is exn.tag), None)
        return ("throw", tag, tuple(_canonical_value(t, v, inst)
                                    for t, v in zip(exn.tag.type.params, exn.payload)))
    return ("ok", tuple(_canonical_value(t, v, inst) for t, v in zip(func.type.results, results)))


def state(inst) -> dict:
    """Memories' bytes (as a hash), globals' values, tables' sizes and entries."""
    return {
        "mems": [(m.pages, hashlib.sha1(bytes(m.data)).hexdigest()) for m in inst.mems],
        "globals": [_canonical_value(g.type.type, g.value, inst) for g in inst.globals],
        "tables": [(t.size, [_ref(e, inst) for e in t.elements]) for t in inst.tables],
    }


# ---------------------------------------------------------------------------------------
# the comparison


@dataclass
class Stats:
    generated: int = 0
    no_module: int = 0
    validated: int = 0
    rejected: list = field(default_factory=list)
    native: int = 0
    fallback: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    calls: int = 0
    traps: int = 0
    nan_tolerated: int = 0
    mismatches: list = field(default_factory=list)

    def summary(self) -> str:
        return (f"modules generated {self.generated} (+{self.no_module} seeds without one), "
                f"validated {self.validated}, rejected {len(self.rejected)}, "
                f"native {self.native}, fallback {sum(self.fallback.values())} "
                f"{dict(sorted(self.fallback.items()))}, skipped {self.skipped}, "
                f"calls {self.calls} ({self.traps} traps), {self.nan_tolerated} argument "
                f"sets differing only by NaNs the spec leaves open, "
                f"mismatches {len(self.mismatches)}")


_WAITS = ("memory.atomic.wait32", "memory.atomic.wait64")


def _skip_reason(module) -> str | None:
    """A wait on a shared memory with a matching value and no timeout blocks forever."""
    for f in module.funcs:
        for ins in f.body:
            if ins.name in _WAITS:
                return "atomic wait"
    return None


def _fallback_kind(reason: str) -> str:
    return re.sub(r"\d+", "N", reason)[:40]


#: float operations whose NaN results the spec leaves open (any arithmetic NaN, either sign)
_NAN_OPEN = frozenset(f"{t}.{op}" for t in ("f32", "f64") for op in (
    "add", "sub", "mul", "div", "sqrt", "min", "max", "ceil", "floor", "trunc", "nearest")) | {
    "f32.demote_f64", "f64.promote_f32"}
_CANONICAL = {"f32": 0x7FC00000, "f64": 0x7FF8000000000000}


def canonicalize_nans(module):
    """A copy of ``module`` in which every NaN result the spec leaves open is replaced by
    the positive canonical NaN (as ``wasm-tools smith --canonicalize-nans``), through two
    scratch locals appended to each function."""
    module = copy.deepcopy(module)
    for f in module.funcs:
        ft = module.types[f.type_index]
        base = len(ft.params) + len(f.local_types())
        scratch = {"f32": base, "f64": base + 1}
        f.locals = [*f.locals, (1, "f32"), (1, "f64")]
        body = []
        for ins in f.body:
            body.append(ins)
            if ins.name in _NAN_OPEN:
                t = ins.name[:3]
                x = scratch[t]
                body += [Instr("local.tee", (x,)), Instr(f"{t}.const", (_CANONICAL[t],)),
                         Instr("local.get", (x,)), Instr("local.get", (x,)),
                         Instr(f"{t}.eq"), Instr("select")]
        f.body = body
        f.body_hint = None
    return module


def run_module(name: str, data: bytes, stats: Stats, exact: bool) -> None:
    """Compare both tiers on ``data``; appends findings to ``stats.mismatches``.

    Without ``exact``, differences are put down to NaNs the spec leaves open when they are
    only in results that are arithmetic NaNs on both tiers, or in memories and globals
    (where such NaNs' bits may have been stored), and the tiers agree exactly on the module
    with those NaNs canonicalized (``canonicalize_nans``)."""
    stats.generated += 1
    try:
        module = decode_module(data, ALL_FEATURES)
        info = validate_module(module)
    except CompileError as err:
        stats.rejected.append((name, str(err)))
        return
    stats.validated += 1
    skip = _skip_reason(module)
    if skip:
        stats.skipped[skip] = stats.skipped.get(skip, 0) + 1
        return
    code = native.compile_module(module, info)
    if isinstance(code, str):
        kind = _fallback_kind(code)
        stats.fallback[kind] = stats.fallback.get(kind, 0) + 1
        return
    stats.native += 1
    portable = portable_compile(module, info)
    for which in range(ARG_SETS):
        findings = _compare_instances(module, info, portable, exact, which, stats)
        if findings and all(f.startswith(_OPEN) for f in findings):
            twin = _compare_instances(*_canonical_twin(module), True, which, Stats())
            if not twin:
                stats.nan_tolerated += 1
                continue
            findings += [f"with open NaNs canonicalized: {f}" for f in twin]
        stats.mismatches.extend(f"{name} args#{which}: {f}" for f in findings)
        if findings:
            return


#: marks a difference that open NaNs may explain (only without ``exact``)
_OPEN = "NaN? "


def _canonical_twin(module) -> tuple:
    twin = canonicalize_nans(module)
    info = validate_module(twin)
    return twin, info, portable_compile(twin, info)


def fuel_global(module) -> int | None:
    """The index of the fuel counter smith adds (the last global: a mutable i32 starting
    at ``FUEL``, not exported), refilled before each call so that every function gets to
    run even after an earlier one used the fuel up."""
    if not module.globals:
        return None
    g = module.globals[-1]
    index = len(module.globals) - 1 + sum(i.kind == "global" for i in module.imports)
    exported = any(x.kind == "global" and x.index == index for x in module.exports)
    if (g.type.type == "i32" and g.type.mutable and not exported
            and [(i.name, i.args) for i in g.init] == [("i32.const", (FUEL,))]):
        return index
    return None


def portable_instance(module, info, portable):
    """An instance on the portable tier whatever ``SHAREDWASM_ENGINE`` says."""
    return runtime_instantiate(module, info, [], portable.create)


def _instantiate_both(module, info, portable):
    out = []
    for tier in ("native", "portable"):
        try:
            if tier == "native":
                inst = native.instantiate(module, info, [])
            else:
                inst = portable_instance(module, info, portable)
        except Trap as trap:
            out.append(("trap", trap.message))
        except WasmThrow:
            out.append(("throw",))
        else:
            out.append(inst)
    return out


def is_native(inst) -> bool:
    """Every defined function of ``inst`` runs machine code."""
    return all(hasattr(f, "native_ref") for f in inst.funcs)


def _compare_instances(module, info, portable, exact, which, stats) -> list[str]:
    nat, por = _instantiate_both(module, info, portable)
    if isinstance(nat, tuple) or isinstance(por, tuple):
        if not (isinstance(nat, tuple) and isinstance(por, tuple) and nat == por):
            return [f"instantiation: native {_short(nat)} portable {_short(por)}"]
        return []
    if not is_native(nat) or is_native(por) and por.funcs:
        return ["the instances do not run on the tiers they should"]
    findings = []
    fuel = fuel_global(module)
    for x in module.exports:
        if x.kind != "func":
            continue
        if fuel is not None:
            nat.globals[fuel].value = por.globals[fuel].value = FUEL
        fn, fp = nat.exports[x.name], por.exports[x.name]
        args = arguments(fp.type.params, which)
        rn, rp = outcome(nat, fn, args), outcome(por, fp, args)
        stats.calls += 1
        stats.traps += rp[0] == "trap"
        if rn != rp:
            nan_only = (rn[0] == rp[0] == "ok" and len(rn[1]) == len(rp[1])
                        and all(same_value(a, b, exact) for a, b in zip(rn[1], rp[1])))
            prefix = _OPEN if nan_only else ""
            findings.append(f"{prefix}call {x.name!r}{_fmt_args(args)}: "
                            f"native {rn} portable {rp}")
            if not nan_only:
                break
    sn, sp = state(nat), state(por)
    for key in sn:
        if sn[key] != sp[key]:
            pairs = [(a, b) for a, b in zip(sn[key], sp[key]) if a != b]
            prefix = "" if exact else _OPEN
            findings.append(f"{prefix}{key} differ: (native, portable) {pairs[:3]}")
    return findings


def _short(x) -> str:
    return repr(x) if isinstance(x, tuple) else "instance"


def _fmt_args(args) -> str:
    return "(" + ", ".join(f"{a!r}" if not isinstance(a, float) or not math.isnan(a)
                           else f"nan:{struct.pack('<d', a).hex()}" for a in args) + ")"


# ---------------------------------------------------------------------------------------
# the referee

#: wasmtime's trap texts -> the spec's
_WASMTIME_TRAPS = {
    "integer divide by zero": "integer divide by zero", "integer overflow": "integer overflow",
    "invalid conversion to integer": "invalid conversion to integer",
    "out of bounds memory access": "out of bounds memory access",
    "unreachable": "unreachable", "undefined element": "undefined element",
    "uninitialized element": "uninitialized element",
    "indirect call type mismatch": "indirect call type mismatch",
    "unaligned atomic": "unaligned atomic", "call stack exhausted": "call stack exhausted",
}


def _wasmtime_trap(err) -> tuple:
    text = str(err)
    for key, message in _WASMTIME_TRAPS.items():
        if key in text:
            return ("trap", message)
    return ("trap", text.splitlines()[0] if text else type(err).__name__)


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def referee(data: bytes, which: int) -> list:
    """wasmtime's outcomes of argument set ``which`` for every exported function in export
    order (the list is one ``("trap", message)`` when instantiation traps). f32 values go
    through C floats there, so a signalling NaN argument arrives quieted."""
    import wasmtime
    config = wasmtime.Config()
    for flag in ("wasm_threads", "wasm_exceptions", "wasm_tail_call", "wasm_reference_types",
                 "wasm_bulk_memory", "wasm_multi_value"):
        setattr(config, flag, True)
    store = wasmtime.Store(wasmtime.Engine(config))
    module = decode_module(data, ALL_FEATURES)
    try:
        instance = wasmtime.Instance(store, wasmtime.Module(store.engine, data), [])
    except wasmtime.Trap as err:
        return [_wasmtime_trap(err)]
    exports = instance.exports(store)
    out = []
    for x in module.exports:
        if x.kind != "func":
            continue
        ft = module.types[_func_type_index(module, x.index)]
        args = arguments(ft.params, which)
        raw = [_signed(a, 32) if t == "i32" else _signed(a, 64) if t == "i64" else a
               for t, a in zip(ft.params, args)]
        try:
            result = exports[x.name](store, *raw)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as err:
            out.append(_wasmtime_trap(err))
            continue
        values = [] if result is None else list(result) if len(ft.results) > 1 else [result]
        out.append(("ok", tuple(
            v & 0xFFFFFFFF if t == "i32" else v & M64 if t == "i64"
            else ("f32", f32_to_bits(v)) if t == "f32" else ("f64", f64_to_bits(v))
            if t == "f64" else ("ref", type(v).__name__) for t, v in zip(ft.results, values))))
    return out


def _func_type_index(module, index: int) -> int:
    imported = [i for i in module.imports if i.kind == "func"]
    if index < len(imported):
        return imported[index].desc
    return module.funcs[index - len(imported)].type_index
