"""The spec-script runner on small scripts written here: every command kind, the bit-exact
result checks, skip reasons, failure reports, and the ``spectest`` command line."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sharedwasm.errors import ALL_FEATURES, WASM2_FEATURES
from sharedwasm.spectest.runner import SIMD_REASON, features_for, run_script
from sharedwasm.spectest.values import f32_bits, f32_value

PASSING = r"""
(module $M
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "neg") (param f32) (result f32) (f32.neg (local.get 0)))
  (func (export "div") (param f64 f64) (result f64) (f64.div (local.get 0) (local.get 1)))
  (func (export "pair") (result i64 f64) (i64.const -1) (f64.const 0.5))
  (func (export "ext") (param externref) (result externref) (local.get 0))
  (func (export "null") (result funcref) (ref.null func))
  (func (export "fn") (result funcref) (ref.func 0))
  (func (export "trap") (unreachable))
  (func $r (export "rec") (call $r))
  (global (export "g") i32 (i32.const 666))
  (memory 1)
)
(register "m" $M)
(module (import "m" "add" (func $add (param i32 i32) (result i32)))
  (import "spectest" "global_i32" (global i32))
  (import "spectest" "print_i32" (func (param i32)))
  (import "spectest" "memory" (memory 1 2))
  (import "spectest" "table" (table 10 20 funcref))
  (func (export "twice") (param i32) (result i32) (call $add (local.get 0) (local.get 0)))
  (func (export "g") (result i32) (call 1 (i32.const 1)) (global.get 0)))
(assert_return (invoke "twice" (i32.const -3)) (i32.const -6))
(assert_return (invoke "g") (i32.const 666))
(assert_return (invoke $M "add" (i32.const 0xffffffff) (i32.const 1)) (i32.const 0))
(assert_return (invoke $M "neg" (f32.const nan:0x200001)) (f32.const -nan:0x200001))
(assert_return (invoke $M "div" (f64.const 0) (f64.const 0)) (f64.const nan:canonical))
(assert_return (invoke $M "div" (f64.const 1) (f64.const -0)) (f64.const -inf))
(assert_return (invoke $M "pair") (i64.const -1) (f64.const 0.5))
(assert_return (invoke $M "ext" (ref.extern 7)) (ref.extern 7))
(assert_return (invoke $M "ext" (ref.null extern)) (ref.null extern))
(assert_return (invoke $M "null") (ref.null func))
(assert_return (invoke $M "fn") (ref.func))
(assert_return (invoke $M "add" (i32.const 1) (i32.const 1)) (either (i32.const 3) (i32.const 2)))
(assert_return (get $M "g") (i32.const 666))
(invoke $M "add" (i32.const 1) (i32.const 2))
(assert_trap (invoke $M "trap") "unreachable")
(assert_exhaustion (invoke $M "rec") "call stack exhausted")
(assert_malformed (module quote "(func (i32.const 0x100000000) drop)") "constant out of range")
(assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
(assert_invalid (module (func (result i32))) "type mismatch")
(assert_unlinkable (module (import "m" "add" (func (param i64)))) "incompatible import type")
(assert_unlinkable (module (import "m" "nope" (func))) "unknown import")
(assert_trap (module (func $s unreachable) (start $s)) "unreachable")
(assert_uninstantiable (module (memory 1) (data (i32.const 65536) "x"))
  "out of bounds memory access")
"""


def test_every_command_kind_passes_on_a_correct_engine():
    result = run_script(PASSING, "passing.wast", WASM2_FEATURES)
    assert [str(f) for f in result.failures] == []
    assert (result.passed, result.failed, result.skipped) == (26, 0, 0)


FAILING = r"""
(module
  (func (export "one") (result i32) (i32.const 1))
  (func (export "nan") (result f32) (f32.const nan:0x400000))
  (func (export "snan") (result f32) (f32.const nan:0x000001))
  (func (export "nothing")))
(assert_return (invoke "one") (i32.const 2))
(assert_return (invoke "nan") (f32.const nan:0x400001))
(assert_return (invoke "snan") (f32.const nan:arithmetic))
(assert_return (invoke "nan") (f32.const nan:canonical))
(assert_trap (invoke "one") "unreachable")
(assert_trap (invoke "missing") "unreachable")
(assert_return (invoke "nothing") (i32.const 0))
(assert_malformed (module quote "(func)") "unexpected token")
(assert_invalid (module (func)) "type mismatch")
(assert_invalid (module quote "(func (i32.const))") "type mismatch")
(assert_unlinkable (module) "unknown import")
(assert_exception (invoke "one"))
(module (import "nowhere" "f" (func)))
(assert_return (invoke "one") (i32.const 1))
"""


def test_failures_are_reported_with_line_and_reason():
    result = run_script(FAILING, "failing.wast", WASM2_FEATURES)
    lines = {f.line: f.reason for f in result.failures}
    assert result.passed == 2                 # the first module and the canonical NaN
    assert result.failed == 13 and result.skipped == 0
    assert "expected (i32.const 2), got (i32.const 1)" in lines[7]
    assert "0x7fc00001" in lines[8] and "0x7fc00000" in lines[8]
    assert "0x7f800001" in lines[9]          # a signalling NaN is not arithmetic
    assert "expected trap 'unreachable'" in lines[11]
    assert "no export 'missing'" in lines[12]
    assert "accepted" in lines[14] and "MalformedError" in lines[14]
    assert "expected ValidationError" in lines[16]   # the wrong error class
    assert "instantiated" in lines[17]
    assert "expected an exception" in lines[18]
    assert "unknown import" in lines[19]
    assert "module of line 19 failed to load" in lines[20]


def test_v128_values_run_and_unlowered_simd_is_skipped_with_a_reason(monkeypatch):
    text = r"""
(module $V (func (export "v") (param v128) (result v128) (local.get 0))
  (func (export "n") (result v128) (f32x4.sqrt (v128.const f32x4 -1 4 nan 16))))
(assert_return (invoke "v" (v128.const i32x4 1 2 3 4)) (v128.const i32x4 1 2 3 4))
(assert_return (invoke "v" (v128.const i32x4 1 2 3 4)) (v128.const i32x4 1 2 3 5))
(assert_return (invoke "n") (v128.const f32x4 nan:canonical 2 nan:arithmetic 4))
(module (func (export "i") (result i32) (i32.const 1)))
(assert_return (invoke "i") (i32.const 1))
"""
    result = run_script(text, "v128.wast", WASM2_FEATURES)
    assert (result.passed, result.failed, result.skips) == (5, 1, {})
    assert "expected (v128.const 0x00000005" in result.failures[0].reason
    from sharedwasm.tiers.pygen import module as pygen_module
    monkeypatch.delitem(pygen_module.LOWERINGS, "f32x4.sqrt")
    result = run_script(text.replace("nan 16", "nan 25"), "skips.wast", WASM2_FEATURES)
    assert result.skips == {SIMD_REASON: 1} and result.failed == 1 and result.passed == 4


@pytest.mark.parametrize("engine", ["python", "native"])
def test_a_command_running_too_long_fails_and_the_script_goes_on(monkeypatch, engine):
    """The deadline stops a loop in Python code (alarm) and in machine code (interrupt)."""
    if engine == "native":
        pytest.importorskip("llvmlite", reason="the native tier needs llvmlite")
    monkeypatch.setenv("SHAREDWASM_ENGINE", engine)
    text = """(module (func (export "spin") (loop (br 0)))
                      (func (export "one") (result i32) (i32.const 1)))
              (invoke "spin")
              (assert_return (invoke "one") (i32.const 1))"""
    result = run_script(text, "spin.wast", WASM2_FEATURES, timeout=0.3)
    assert (result.passed, result.failed) == (2, 1)
    assert "timed out" in result.failures[0].reason


def test_a_script_that_does_not_parse_is_one_failure():
    result = run_script("(assert_return (invoke \"f\")", "bad.wast")
    assert result.failed == 1 and "does not parse" in result.failures[0].reason


def test_features_follow_the_suite_folder(tmp_path):
    assert features_for("/x/spec/core/i32.wast") == WASM2_FEATURES
    assert "threads" in features_for("/x/spec/threads/atomic.wast")
    assert "exceptions" in features_for("/x/exceptions/throw.wast")
    assert features_for(tmp_path / "mine.wast") == ALL_FEATURES
    # a tag import is malformed without exception handling, fine with it
    text = '(assert_malformed (module binary "\\00asm\\01\\00\\00\\00\\02\\06\\01' \
           '\\00\\00\\04\\00\\00\\00") "malformed import kind")'
    assert run_script(text, "t.wast", WASM2_FEATURES).passed == 1
    assert run_script(text, "t.wast", WASM2_FEATURES | {"exceptions"}).failed == 1


def test_f32_values_carry_nan_payloads():
    for bits in (0x7FA00001, 0xFFC00000, 0x7F800001, 0x3F800000, 0x80000000):
        assert f32_bits(f32_value(bits)) == bits


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sharedwasm", "spectest", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_command_line_counts_exit_status_and_json(tmp_path):
    good = tmp_path / "suite" / "good.wast"
    good.parent.mkdir()
    good.write_text('(module (func (export "f") (result i32) (i32.const 1)))\n'
                    '(assert_return (invoke "f") (i32.const 1))\n'
                    '(assert_return (invoke "f") (i32.const 1))\n')
    bad = tmp_path / "bad.wast"
    bad.write_text('(module (func (export "f") (result i32) (i32.const 1)))\n'
                   '(assert_return (invoke "f") (i32.const 2))\n')
    out = _cli(str(good.parent))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[-1] == "3 passed, 0 failed"
    assert f"{good}: 3 passed, 0 failed" in out.stdout
    report = tmp_path / "r.json"
    out = _cli(str(good.parent), str(bad), "--json", str(report))
    assert out.returncode == 1
    assert out.stdout.splitlines()[-1] == "4 passed, 1 failed"
    assert "line 2: assert_return 'f': expected (i32.const 2), got (i32.const 1)" in out.stdout
    data = json.loads(report.read_text())
    assert (data["passed"], data["failed"], data["skipped"]) == (4, 1, 0)
    assert [f["failed"] for f in data["files"]] == [0, 1]
    assert data["files"][1]["failures"][0]["line"] == 2
    missing = _cli(str(tmp_path / "nope.wast"))
    assert missing.returncode == 1 and "no such file" in missing.stderr


@pytest.mark.parametrize("features", ["wasm2", "wasm2,exceptions"])
def test_command_line_features_option(tmp_path, features):
    script = tmp_path / "t.wast"
    script.write_text('(module (tag))\n')
    out = _cli(str(script), "--features", features)
    assert out.stdout.splitlines()[-1] == ("0 passed, 1 failed" if features == "wasm2"
                                           else "1 passed, 0 failed")
