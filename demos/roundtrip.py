"""Text -> binary -> text with sharedwasm, then validation of real compiled modules.

Converts an embedded WAT program to the binary format, validates it, prints it back,
checks that the printed text gives the same bytes again, and shows its imports/exports.
When the real-world modules of ``../shared/realworld/out`` (or ``$SHAREDWASM_REALWORLD_DIR``)
are present, validates each and prints the decode+validate throughput. Exit status 0 means
every check held.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import sharedwasm as wasm

PROGRAM = r"""
(module $demo
  (import "env" "log" (func $log (param i32)))
  (memory (export "memory") 1 4)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 16) "hello, wasm\00")

  ;; n! by iteration, with a counter of calls in a global
  (func $factorial (export "factorial") (param $n i64) (result i64)
    (local $acc i64)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (local.set $acc (i64.const 1))
    (block $done
      (loop $next
        (br_if $done (i64.le_u (local.get $n) (i64.const 1)))
        (local.set $acc (i64.mul (local.get $acc) (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $acc))

  ;; the length of the zero-terminated string at $p
  (func (export "strlen") (param $p i32) (result i32)
    (local $q i32)
    (local.set $q (local.get $p))
    (block $end
      (loop $scan
        (br_if $end (i32.eqz (i32.load8_u (local.get $q))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $scan)))
    (call $log (i32.sub (local.get $q) (local.get $p)))
    (i32.sub (local.get $q) (local.get $p)))

  (func (export "dot2") (param v128 v128) (result f64)
    (f64x2.extract_lane 0
      (f64x2.add (f64x2.mul (local.get 0) (local.get 1))
                 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                   (f64x2.mul (local.get 0) (local.get 1)) (v128.const i64x2 0 0)))))

  (@custom "demo" "made by demos/roundtrip.py")
)
"""


def check(condition: bool, what: str) -> None:
    print(f"  {'ok ' if condition else 'FAIL'} {what}")
    if not condition:
        sys.exit(1)


def roundtrip() -> None:
    print("1. the embedded program")
    binary = wasm.wat2wasm(PROGRAM)
    check(binary[:4] == b"\0asm", f"wat2wasm gave a binary of {len(binary)} bytes")
    check(wasm.validate(binary), "wasm.validate accepts it")
    module = wasm.Module(binary)
    print("  imports:", ", ".join(f"{i.module}.{i.name} ({i.kind})" for i in module.imports()))
    print("  exports:", ", ".join(f"{e.name} ({e.kind})" for e in module.exports()))
    check([e.name for e in module.exports()] == ["memory", "factorial", "strlen", "dot2"],
          "exports are listed in module order")
    check(module.custom_sections("demo") == [b"made by demos/roundtrip.py"],
          "the custom section is kept")
    text = wasm.wasm2wat(binary)
    print("  wasm2wat printed it back:")
    for line in text.splitlines()[:12]:
        print("    " + line)
    print("    ...")
    check(wasm.wat2wasm(text) == binary, "the printed text encodes to the same bytes")
    broken = binary[:-3]
    check(not wasm.validate(broken), "a truncated binary is rejected")
    for wrong in ("(module (func (result i32) (i32.add (i32.const 1)))",
                  "(module (func (result i32) (i32.add (i32.const 1))))"):
        try:
            wasm.Module(wasm.wat2wasm(wrong))
        except wasm.CompileError as err:
            check(True, f"{type(err).__name__}: {err}")
        else:
            check(False, f"a wrong program is reported: {wrong}")


def realworld() -> None:
    folder = Path(os.environ.get("SHAREDWASM_REALWORLD_DIR",
                                 Path(__file__).resolve().parents[2] / "shared" / "realworld"))
    files = sorted((folder / "out").glob("*.wasm"))
    print(f"2. real compiled modules ({folder / 'out'})")
    if not files:
        print("  (not present: skipped)")
        return
    total_bytes = total_time = 0.0
    for path in files:
        data = path.read_bytes()
        start = time.perf_counter()
        module = wasm.Module(data)
        took = time.perf_counter() - start
        total_bytes += len(data)
        total_time += took
        print(f"  ok  {path.name:16} {len(data):7,} bytes {len(module.ast.funcs):4} functions "
              f"{took * 1000:7.1f} ms  {len(data) / took / 1e6:5.2f} MB/s")
        text = wasm.wasm2wat(data)
        again = wasm.wat2wasm(text)
        # compilers pad some LEB128 numbers, so compare modules through their canonical text
        check(wasm.validate(again) and wasm.wasm2wat(again) == text,
              f"{path.name} survives a text round trip ({len(text.splitlines()):,} lines)")
    print(f"  total: {total_bytes / 1e3:,.0f} kB in {total_time:.2f} s = "
          f"{total_bytes / total_time / 1e6:.2f} MB/s decode+validate")


def main() -> None:
    roundtrip()
    realworld()
    print("all checks passed")


if __name__ == "__main__":
    main()
