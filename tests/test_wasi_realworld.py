"""WASI end to end: the compiled C programs of /work/shared/realworld (README part A) run
through the API and through ``python -m sharedwasm run``, with exact stdout (and stderr
where the case compares it), exit codes and written files; plus small text-format
programs for the command line's exit statuses, stdio passing and ``--invoke``.

The ``large`` cases (0.04 to 5.5 billion wasm instructions) are marked slow and run only
when SHAREDWASM_WASI_LARGE=1 is set.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sharedwasm as wasm
from sharedwasm.wasi import WASI

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld"
if not REALWORLD.is_dir():
    REALWORLD = Path("/work/shared/realworld")
LARGE_ENV = "SHAREDWASM_WASI_LARGE"
ROOT = Path(__file__).resolve().parents[1]


def _cases() -> list[dict]:
    path = REALWORLD / "wasi_cases.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text())["cases"]


CASES = _cases()
needs_realworld = pytest.mark.skipif(not CASES, reason=f"{REALWORLD} is absent")


def _params(kind: str) -> list:
    out = []
    for case in CASES:
        if case["class"] != kind:
            continue
        marks = []
        if kind == "large":
            marks = [pytest.mark.slow, pytest.mark.skipif(
                not os.environ.get(LARGE_ENV),
                reason=f"billions of wasm instructions: too slow for the portable tier "
                       f"(set {LARGE_ENV}=1 to run)")]
        out.append(pytest.param(case, id=case["name"], marks=marks))
    return out or [pytest.param(None, marks=needs_realworld)]


_modules: dict[str, wasm.Module] = {}


def _module(name: str) -> wasm.Module:
    if name not in _modules:
        _modules[name] = wasm.Module((REALWORLD / "out" / name).read_bytes())
    return _modules[name]


def _preopens(case: dict, scratch: Path) -> list[tuple[str, Path]]:
    dirs = []
    for host, guest in case.get("dirs", []):
        dirs.append((guest, scratch if host == "@scratch" else REALWORLD / host))
    return dirs


def _expected(case: dict, stream: str) -> bytes:
    return (REALWORLD / "expected" / "wasi" / f"{case['name']}.{stream}").read_bytes()


def _check_files(case: dict, preopens: list[tuple[str, Path]]) -> None:
    for guest_path, expected in case.get("expect_files", {}).items():
        for guest, host in preopens:
            prefix = guest.rstrip("/") + "/"
            if guest_path.startswith(prefix):
                written = (host / guest_path[len(prefix):]).read_bytes()
                assert written == (REALWORLD / "expected" / "wasi" / expected).read_bytes()
                break
        else:
            raise AssertionError(f"no preopen holds {guest_path}")


def _run_api(case: dict, scratch: Path) -> tuple[int, bytes, bytes, list]:
    preopens = _preopens(case, scratch)
    stdout, stderr = io.BytesIO(), io.BytesIO()
    stdin = (open(REALWORLD / case["stdin"], "rb") if case.get("stdin")
             else io.BytesIO(b""))
    with stdin, WASI(args=case["args"], env=case.get("env", []), preopens=preopens,
                     stdin=stdin, stdout=stdout, stderr=stderr) as wasi:
        instance = wasm.Instance(_module(case["module"]), wasi.imports)
        code = wasi.start(instance)
    return code, stdout.getvalue(), stderr.getvalue(), preopens


def _run_cli(case: dict, scratch: Path) -> tuple[int, bytes, bytes, list]:
    preopens = _preopens(case, scratch)
    command = [sys.executable, "-m", "sharedwasm", "run", "--argv0", case["args"][0]]
    for guest, host in preopens:
        command += ["--dir", f"{host}::{guest}"]
    for name, value in case.get("env", []):
        command += ["--env", f"{name}={value}"]
    command += [str(REALWORLD / "out" / case["module"]), *case["args"][1:]]
    stdin = (open(REALWORLD / case["stdin"], "rb") if case.get("stdin")
             else subprocess.DEVNULL)
    try:
        done = subprocess.run(command, stdin=stdin, capture_output=True, timeout=600,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        if stdin is not subprocess.DEVNULL:
            stdin.close()
    return done.returncode, done.stdout, done.stderr, preopens


def _check(case: dict, result: tuple[int, bytes, bytes, list]) -> None:
    code, out, err, preopens = result
    assert out == _expected(case, "stdout")
    if case.get("compare_stderr"):
        assert err == _expected(case, "stderr")
    assert code == case["expect_exit"], err.decode(errors="replace")[-2000:]
    _check_files(case, preopens)


@pytest.mark.parametrize("case", _params("small"))
def test_small_case_api(case, tmp_path):
    _check(case, _run_api(case, tmp_path))


@pytest.mark.parametrize("case", _params("small"))
def test_small_case_cli(case, tmp_path):
    _check(case, _run_cli(case, tmp_path))


@pytest.mark.parametrize("case", _params("large"))
def test_large_case_api(case, tmp_path):
    _check(case, _run_api(case, tmp_path))


@pytest.mark.parametrize("case", _params("large"))
def test_large_case_cli(case, tmp_path):
    _check(case, _run_cli(case, tmp_path))


# -- the command line on small text-format programs ------------------------------------------

IMPORTS = """
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))"""
WRITER = """
  (memory (export "memory") 1)
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
"""
HEADER = IMPORTS + WRITER

PROGRAMS = {
    # out / err / out interleaved, then proc_exit(5)
    "exit5": HEADER + """
  (data (i32.const 16) "one\\ntwo\\nthree\\n")
  (func (export "_start")
    (call $write (i32.const 1) (i32.const 16) (i32.const 4))
    (call $write (i32.const 2) (i32.const 20) (i32.const 4))
    (call $write (i32.const 1) (i32.const 24) (i32.const 6))
    (call $exit (i32.const 5)))""",
    # copies stdin to stdout until end of input
    "cat": HEADER + """
  (func (export "_start")
    (loop $next
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 4096))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (i32.load (i32.const 8))
        (then (call $write (i32.const 1) (i32.const 1024) (i32.load (i32.const 8)))
              (br $next)))))""",
    "trap": HEADER + """
  (data (i32.const 16) "before\\n")
  (func (export "_start")
    (call $write (i32.const 1) (i32.const 16) (i32.const 7))
    unreachable)""",
    "returns": HEADER + """
  (func (export "_start"))
  (func (export "add") (param i32 i64) (result i64)
    (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1)))
  (func (export "pair") (result i32 f64) (i32.const -1) (f64.const 1.5))""",
    "needs_more": """
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "env" "missing" (func))
  (memory (export "memory") 1)
  (func (export "_start"))""",
}


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("wat")
    paths = {}
    for name, body in PROGRAMS.items():
        paths[name] = folder / f"{name}.wat"
        paths[name].write_text(f"(module {body})\n")
    return paths


def _cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sharedwasm", "run", *args], input=stdin,
                          capture_output=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_cli_exit_code_and_streams(programs):
    done = _cli(str(programs["exit5"]))
    assert (done.returncode, done.stdout, done.stderr) == (5, b"one\nthree\n", b"two\n")


def test_cli_output_order_on_one_pipe(programs):
    done = subprocess.run([sys.executable, "-m", "sharedwasm", "run", str(programs["exit5"])],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout == b"one\ntwo\nthree\n"


def test_cli_stdin_is_binary_safe(programs):
    data = bytes(range(256)) * 40 + b"\r\n\x00end"
    done = _cli(str(programs["cat"]), stdin=data)
    assert (done.returncode, done.stdout) == (0, data)


def test_cli_trap_status(programs):
    done = _cli(str(programs["trap"]))
    assert done.returncode == 134
    assert done.stdout == b"before\n"
    assert b"wasm trap: unreachable" in done.stderr and b"Traceback" not in done.stderr


def test_cli_invoke(programs):
    done = _cli("--invoke", "add", str(programs["returns"]), "-2", "5")
    assert (done.returncode, done.stdout) == (0, b"3\n")
    done = _cli("--invoke", "pair", str(programs["returns"]))
    assert (done.returncode, done.stdout) == (0, b"-1\n1.5\n")
    done = _cli("--invoke", "add", str(programs["returns"]), "1")
    assert done.returncode == 1 and b"takes 2 argument" in done.stderr
    done = _cli("--invoke", "nope", str(programs["returns"]))
    assert done.returncode == 1 and b"no exported function" in done.stderr


def test_cli_load_errors(programs, tmp_path):
    done = _cli(str(tmp_path / "absent.wasm"))
    assert done.returncode == 1 and done.stderr.startswith(b"sharedwasm: error: cannot read")
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x01\0\0\0\x05")
    done = _cli(str(bad))
    assert done.returncode == 1 and b"sharedwasm: error:" in done.stderr
    done = _cli(str(programs["needs_more"]))
    assert done.returncode == 1 and b"unknown import" in done.stderr
    assert b"Traceback" not in done.stderr
    done = _cli("--dir", str(tmp_path / "nodir"), str(programs["returns"]))
    assert done.returncode == 1 and b"not a directory" in done.stderr


def test_api_trap_propagates_and_exit_code(programs):
    module = wasm.Module(wasm.wat2wasm(programs["trap"].read_text()))
    out = io.BytesIO()
    wasi = WASI(stdout=out)
    with pytest.raises(wasm.RuntimeError, match="unreachable"):
        wasi.start(wasm.Instance(module, wasi.imports))
    assert out.getvalue() == b"before\n"
    module = wasm.Module(wasm.wat2wasm(programs["exit5"].read_text()))
    out, err = io.BytesIO(), io.BytesIO()
    wasi = WASI(stdout=out, stderr=err)
    assert wasi.start(wasm.Instance(module, wasi.imports)) == 5
    assert (out.getvalue(), err.getvalue()) == (b"one\nthree\n", b"two\n")


ENV_AND_FILE = IMPORTS + """
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))""" + WRITER + """
  (data (i32.const 100) "f.txt")
  (func (export "_start")
    (drop (call $env_sizes (i32.const 200) (i32.const 204)))
    (drop (call $env_get (i32.const 300) (i32.const 400)))
    (call $write (i32.const 1) (i32.const 400) (i32.load (i32.const 204)))
    (if (call $open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 5) (i32.const 0)
                    (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 208))
      (then (call $exit (i32.const 9))))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 100))
    (drop (call $fd_read (i32.load (i32.const 208)) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $write (i32.const 1) (i32.const 1024) (i32.load (i32.const 8))))"""


def test_cli_preopen_and_env_flags(tmp_path, monkeypatch):
    """``--env`` (in order, ``NAME`` alone copying the host's value) and ``--dir``."""
    program = tmp_path / "prog.wat"
    program.write_text(f"(module {ENV_AND_FILE})")
    data = tmp_path / "data"
    data.mkdir()
    (data / "f.txt").write_bytes(b"file body")
    monkeypatch.setenv("SHAREDWASM_TEST_HOST", "copied")
    done = _cli("--env", "B=2", "--env", "A=x=y", "--env", "SHAREDWASM_TEST_HOST",
                "--env", "SHAREDWASM_TEST_UNSET_VAR", "--dir", f"{data}::/d", str(program))
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"B=2\0A=x=y\0SHAREDWASM_TEST_HOST=copied\0file body"
    done = _cli(str(program))
    assert (done.returncode, done.stdout) == (9, b"")
