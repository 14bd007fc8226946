"""The command line: wat2wasm, wasm2wat, validate; clear one-line errors, exit statuses."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sharedwasm.cli import main

from test_api import INVALID, SMALL

WAT = '(module (func (export "one") (result i32) (i32.const 1)))\n'


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sharedwasm", *args], input=stdin,
                          capture_output=True, timeout=120)


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and lines[0].startswith("sharedwasm: error: ")
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "ok.wat").write_text(WAT)
    (tmp_path / "small.wasm").write_bytes(SMALL)
    (tmp_path / "invalid.wasm").write_bytes(INVALID)
    (tmp_path / "short.wasm").write_bytes(SMALL[:-3])
    (tmp_path / "bad.wat").write_text("(module\n  (func (i32.nonsense)))\n")
    (tmp_path / "invalid.wat").write_text("(module (func (result i32)))")
    return tmp_path


def test_help_lists_the_commands():
    out = run("--help")
    assert out.returncode == 0
    for command in ("wat2wasm", "wasm2wat", "validate"):
        assert command in out.stdout.decode()


def test_no_command_is_a_usage_error():
    out = run()
    assert out.returncode == 2 and b"Traceback" not in out.stderr


def test_wat2wasm_to_file_then_back(files: Path, capsys):
    out = files / "ok.wasm"
    assert main(["wat2wasm", str(files / "ok.wat"), "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"\0asm")
    assert main(["wasm2wat", str(out)]) == 0
    text = capsys.readouterr().out
    assert "i32.const 1" in text
    assert main(["wasm2wat", str(out), "-o", str(files / "back.wat")]) == 0
    assert main(["wat2wasm", str(files / "back.wat"), "-o", str(files / "again.wasm")]) == 0
    assert (files / "again.wasm").read_bytes() == out.read_bytes()


def test_wat2wasm_to_stdout_when_piped(files: Path):
    out = run("wat2wasm", str(files / "ok.wat"))
    assert out.returncode == 0 and out.stdout.startswith(b"\0asm")
    piped = run("wat2wasm", "-", stdin=WAT.encode())
    assert piped.stdout == out.stdout


def test_wat2wasm_bad_text(files: Path, capsys):
    assert main(["wat2wasm", str(files / "bad.wat"), "-o", str(files / "x.wasm")]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert "bad.wat" in line and "2:" in line
    assert not (files / "x.wasm").exists()


def test_wat2wasm_validates_unless_told(files: Path, capsys):
    target = str(files / "x.wasm")
    assert main(["wat2wasm", str(files / "invalid.wat"), "-o", target]) == 1
    assert "type mismatch" in one_line_error(capsys.readouterr().err)
    assert main(["wat2wasm", "--no-validate", str(files / "invalid.wat"), "-o", target]) == 0


def test_validate_many(files: Path, capsys):
    assert main(["validate", str(files / "small.wasm"), str(files / "ok.wat")]) == 0
    assert capsys.readouterr().out.count(": valid") == 2
    status = main(["validate", str(files / "small.wasm"), str(files / "invalid.wasm"),
                   str(files / "short.wasm"), str(files / "bad.wat")])
    assert status == 1
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 3 and "Traceback" not in captured.err
    assert "invalid.wasm" in errors[0] and "type mismatch" in errors[0]
    assert "short.wasm" in errors[1] and ("unexpected end" in errors[1]
                                          or "length out of bounds" in errors[1])
    assert "bad.wat" in errors[2]
    assert "small.wasm: valid" in captured.out


@pytest.mark.parametrize("command", ["wat2wasm", "wasm2wat", "validate"])
def test_missing_file(command: str, tmp_path: Path):
    out = run(command, str(tmp_path / "nope"))
    assert out.returncode == 1
    line = one_line_error(out.stderr.decode())
    assert "nope" in line and "No such file" in line


def test_wasm2wat_bad_binary(files: Path):
    out = run("wasm2wat", str(files / "short.wasm"))
    assert out.returncode == 1
    line = one_line_error(out.stderr.decode())
    assert "unexpected end" in line or "length out of bounds" in line


def test_unknown_feature(files: Path, capsys):
    assert main(["validate", "--features", "gc", str(files / "small.wasm")]) == 1
    assert "unknown feature" in one_line_error(capsys.readouterr().err)


def test_features_narrow_what_is_valid(files: Path, capsys):
    threads = files / "shared.wat"
    threads.write_text("(module (memory 1 1 shared))")
    assert main(["validate", str(threads)]) == 0
    assert main(["validate", "--features", "wasm2", str(threads)]) == 1
    capsys.readouterr()


def test_console_script_is_declared():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'sharedwasm = "sharedwasm.__main__:main"' in text
    exe = shutil.which("sharedwasm", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("the package is not installed in this interpreter's environment")
    out = subprocess.run([exe, "--help"], capture_output=True, timeout=60)
    assert out.returncode == 0 and b"wat2wasm" in out.stdout


def test_a_damaged_wasm_file_gets_the_decoders_message(tmp_path):
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"garbage\n")
    proc = subprocess.run([sys.executable, "-m", "sharedwasm", "validate", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "magic header not detected" in proc.stderr
    assert "Traceback" not in proc.stderr
