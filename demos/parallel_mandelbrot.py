"""Parallel Mandelbrot: worker processes render interleaved rows into one shared memory,
the parent writes the image as a PNG; prints the time with 1 worker and with N.

Usage: python demos/parallel_mandelbrot.py [OUT.png] [WORKERS]
"""
from __future__ import annotations

import struct
import sys
import zlib

import sharedwasm as wasm
from _parallel import default_workers, report, timed_runs
from sharedwasm.tiers import engine

#: image size and iterations per pixel: about a second of work for one worker on either tier
SIZES = {"native": (1800, 1200, 1000), "python": (360, 240, 100)}
WIDTH, HEIGHT, MAX_ITER = SIZES[engine()]
PAGES = -(-WIDTH * HEIGHT // 65536)

MANDEL_WAT = r"""
(module
  (memory (import "env" "memory") 1 65536 shared)
  ;; rows w, w+n, ... of a width x height grey image at address 0; returns rows done
  (func (export "rows") (param $w i32) (param $n i32) (param $width i32) (param $height i32)
                        (param $max i32) (result i32)
    (local $y i32) (local $x i32) (local $it i32) (local $rows i32)
    (local $cr f64) (local $ci f64) (local $zr f64) (local $zi f64) (local $t f64)
    (local.set $y (local.get $w))
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $y) (local.get $height)))
      (local.set $ci (f64.sub (f64.mul (f64.div (f64.convert_i32_u (local.get $y))
                                                (f64.convert_i32_u (local.get $height)))
                                       (f64.const 2.4)) (f64.const 1.2)))
      (local.set $x (i32.const 0))
      (block $row_done (loop $col
        (br_if $row_done (i32.ge_u (local.get $x) (local.get $width)))
        (local.set $cr (f64.sub (f64.mul (f64.div (f64.convert_i32_u (local.get $x))
                                                  (f64.convert_i32_u (local.get $width)))
                                         (f64.const 3.2)) (f64.const 2.2)))
        (local.set $zr (f64.const 0)) (local.set $zi (f64.const 0))
        (local.set $it (i32.const 0))
        (block $escaped (loop $iter
          (br_if $escaped (i32.ge_u (local.get $it) (local.get $max)))
          (br_if $escaped (f64.gt (f64.add (f64.mul (local.get $zr) (local.get $zr))
                                           (f64.mul (local.get $zi) (local.get $zi)))
                                  (f64.const 4)))
          (local.set $t (f64.add (f64.sub (f64.mul (local.get $zr) (local.get $zr))
                                          (f64.mul (local.get $zi) (local.get $zi)))
                                 (local.get $cr)))
          (local.set $zi (f64.add (f64.mul (f64.mul (f64.const 2) (local.get $zr))
                                           (local.get $zi)) (local.get $ci)))
          (local.set $zr (local.get $t))
          (local.set $it (i32.add (local.get $it) (i32.const 1)))
          (br $iter)))
        (i32.store8 (i32.add (i32.mul (local.get $y) (local.get $width)) (local.get $x))
          (select (i32.const 0)
                  (i32.sub (i32.const 255) (i32.div_u (i32.mul (local.get $it) (i32.const 255))
                                                      (local.get $max)))
                  (i32.eq (local.get $it) (local.get $max))))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $col)))
      (local.set $rows (i32.add (local.get $rows) (i32.const 1)))
      (local.set $y (i32.add (local.get $y) (local.get $n)))
      (br $row)))
    (local.get $rows)))
"""


def write_png(path: str, pixels: bytes, width: int, height: int) -> None:
    """An 8-bit greyscale PNG (filter 0 on every row)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(rows, 9)))
        f.write(chunk(b"IEND", b""))


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else "mandelbrot.png"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else default_workers()
    module = wasm.Module(wasm.wat2wasm(MANDEL_WAT))
    with wasm.Memory(PAGES, PAGES, shared=True) as mem:
        images = []

        def reset() -> None:
            mem.buffer[:WIDTH * HEIGHT] = bytes(WIDTH * HEIGHT)

        def check(rows: list) -> None:
            assert sum(rows) == HEIGHT, rows
            images.append(bytes(mem.buffer[:WIDTH * HEIGHT]))

        times = timed_runs(module, mem, "rows",
                           lambda k: [(w, k, WIDTH, HEIGHT, MAX_ITER) for w in range(k)],
                           reset, check, [1, n])
        assert images[0] == images[-1], "1-worker and N-worker images differ"
        write_png(out, images[-1], WIDTH, HEIGHT)
    report(f"mandelbrot {WIDTH}x{HEIGHT}", times)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
