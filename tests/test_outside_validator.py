"""Our binaries as an outside tool sees them, and round trips against the outside tool's.

- every module our pipeline encodes from the suites' text (module commands and the modules
  of assert_unlinkable/assert_uninstantiable) is valid for ``wasm-tools`` with the suite
  folder's features; they are checked in one ``wasm-tools wast`` process per suite (a
  generated script of ``(module binary ...)`` commands), not one process per module;
- ``wat2wasm(wasm2wat(b)) == b`` for each of those binaries;
- decode -> encode of wasm-tools' own binaries of text modules (valid and invalid ones)
  reproduces the bytes exactly.
"""
from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import pytest

from sharedwasm.api.module import wasm2wat, wat2wasm
from sharedwasm.binary.decode import decode_module
from sharedwasm.binary.encode import encode_module
from sharedwasm.text import script

from suites import SUITES, need_spec, reference_commands, wast_files, wasm_tools
from test_spec_static import out_of_scope, parsed_script

#: wasm-tools feature flags matching each suite folder's features
TOOL_FEATURES = {"core": "wasm2", "threads": "wasm2,threads", "exceptions": "wasm2,exceptions,tail-call",
                 "wasm3/tail-call": "wasm2,tail-call"}
TABLE = "outside checks: right outcome/total"


def _text_modules(commands):
    for cmd in commands:
        mod = cmd if isinstance(cmd, script.ModuleCommand) else getattr(cmd, "module", None)
        if not isinstance(cmd, (script.ModuleCommand, script.AssertUnlinkable,
                                script.AssertUninstantiable)):
            continue
        if isinstance(mod, script.ModuleCommand) and mod.kind in ("text", "quote"):
            yield cmd.line, mod


@functools.cache
def our_binaries(suite: str) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(label, binary) of every accepted text module of a suite, and the ones we failed on."""
    features = SUITES[suite]
    done, failed = [], []
    for wast in wast_files(suite):
        for line, mod in _text_modules(parsed_script(wast)):
            if out_of_scope(wast, line):
                continue
            label = f"{suite}/{wast.name}:{line}"
            try:
                done.append((label, encode_module(mod.parse(features))))
            except Exception as err:
                failed.append(f"{label}: {type(err).__name__}: {err}")
    return done, failed


def _binary_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b:02x}" for b in data) + '"'


@pytest.mark.parametrize("suite", list(SUITES))
def test_wasm_tools_accepts_our_binaries(suite: str, tmp_path: Path, report):
    need_spec()
    exe = wasm_tools()
    modules, failed = our_binaries(suite)
    if not modules:
        pytest.skip(f"no text modules in {suite}")
    script_path = tmp_path / f"{suite.replace('/', '_')}.wast"
    lines: list[str] = []
    label_at: dict[int, str] = {}
    for label, data in modules:
        label_at[len(lines) + 1] = label
        lines.append(f"(module binary {_binary_string(data)})")
    script_path.write_text("\n".join(lines) + "\n")
    out = subprocess.run([exe, "wast", "--features", TOOL_FEATURES[suite], str(script_path)],
                         capture_output=True, text=True, timeout=300)
    rejected = []
    for match in re.finditer(r"failed directive on [^\n]*?:(\d+):\d+\s*\n\s*\nCaused by:"
                             r"((?:\n +\d+: [^\n]*)+)", out.stderr):
        line = int(match.group(1))
        reason = " / ".join(s.strip() for s in match.group(2).strip().splitlines()[-2:])
        rejected.append(f"{label_at.get(line, f'line {line}')}: {reason}")
    report.count(TABLE, suite, "wasm-tools accepts ours", len(modules))
    report.count(TABLE, suite, "wasm-tools accepts ours ok", len(modules) - len(rejected))
    assert out.returncode == 0 or rejected, out.stderr[-3000:]
    assert not rejected, f"{len(rejected)} of {len(modules)} rejected:\n" + \
        "\n".join(rejected[:25])
    assert not failed, f"{len(failed)} text modules failed to encode:\n" + "\n".join(failed[:25])


@pytest.mark.parametrize("suite", list(SUITES))
def test_text_round_trip_of_our_binaries(suite: str, report):
    need_spec()
    modules, _ = our_binaries(suite)
    features = SUITES[suite]
    wrong = []
    for label, data in modules:
        try:
            again = wat2wasm(wasm2wat(data, features=features), features=features)
        except Exception as err:
            wrong.append(f"{label}: {type(err).__name__}: {err}")
            continue
        if again != data:
            wrong.append(f"{label}: {_first_difference(data, again)}")
    report.count(TABLE, suite, "wat2wasm(wasm2wat(b)) == b", len(modules))
    report.count(TABLE, suite, "wat2wasm(wasm2wat(b)) == b ok", len(modules) - len(wrong))
    assert not wrong, f"{len(wrong)} of {len(modules)} differ:\n" + "\n".join(wrong[:25])


@pytest.mark.parametrize("suite", list(SUITES))
def test_decode_encode_of_outside_binaries(suite: str, report):
    need_spec()
    features = SUITES[suite]
    wrong, total = [], 0
    for wast in wast_files(suite):
        for cmd in reference_commands(wast):
            data = cmd.module_bytes()
            if data is None or cmd.type == "assert_malformed" or cmd.is_binary_form \
                    or out_of_scope(wast, cmd.line):
                continue
            total += 1
            label = f"{suite}/{wast.name}:{cmd.line}"
            try:
                again = encode_module(decode_module(data, features))
            except Exception as err:
                wrong.append(f"{label}: {type(err).__name__}: {err}")
                continue
            if again != data:
                wrong.append(f"{label}: {_first_difference(data, again)}")
    report.count(TABLE, suite, "encode(decode(theirs)) == theirs", total)
    report.count(TABLE, suite, "encode(decode(theirs)) == theirs ok", total - len(wrong))
    assert not wrong, f"{len(wrong)} of {total} differ:\n" + "\n".join(wrong[:25])


def _first_difference(a: bytes, b: bytes) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return (f"{len(a)} vs {len(b)} bytes, first difference at 0x{at:x}: "
            f"{a[at:at + 8].hex()} vs {b[at:at + 8].hex()}")
