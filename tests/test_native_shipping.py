"""Native machine code outside the process that compiled it: process-independent objects,
code shipped to workers with a pickled module, the on-disk cache, and which engine a
process (and its workers) instantiate with."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

pytest.importorskip("llvmlite", reason="the native tier needs llvmlite")

import sharedwasm as wasm  # noqa: E402
from sharedwasm import tiers  # noqa: E402
from sharedwasm.concurrency import Worker  # noqa: E402
from sharedwasm.tiers import native  # noqa: E402
from sharedwasm.tiers.native import cache, jit, vm  # noqa: E402

from leaks import no_leaks  # noqa: E402,F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WAT = """(module
  (type $t (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $square $next)
  (func $square (type $t) (i32.mul (local.get 0) (local.get 0)))
  (func $next (type $t) (i32.add (local.get 0) (i32.const 1)))
  (func (export "pick") (param i32 i32) (result i32)
    (call_indirect (type $t) (local.get 1) (local.get 0))))"""
BINARY = wasm.wat2wasm(WAT)


@pytest.fixture
def engine_native(monkeypatch, tmp_path):
    monkeypatch.setenv("SHAREDWASM_ENGINE", "native")
    monkeypatch.setenv("SHAREDWASM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fresh_module() -> wasm.Module:
    """A Module with its own decoded AST, so nothing compiled for another one is reused."""
    return wasm.Module(BINARY)


def origin(module: wasm.Module) -> str:
    return native.compile_module(module.ast, module.info).origin


def run_python(code: str, **env: str) -> str:
    full = {**os.environ, "PYTHONPATH": ROOT, **env}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, timeout=120, check=True)
    return done.stdout.strip()


# -- process-independent code --------------------------------------------------------------

OBJECT_DIGEST = """
import hashlib
import sharedwasm as wasm
from sharedwasm.spec.types import FuncType
from sharedwasm.tiers import native
from sharedwasm.tiers.native import vm
for n in range({n}):
    vm.type_id(FuncType(("i64",) * n, ("f64",)))
m = wasm.Module(wasm.wat2wasm({wat!r}))
code = native.compile_module(m.ast, m.info).library.object_code
print(vm.type_id(FuncType(("i32",), ("i32",))), hashlib.sha256(code).hexdigest())
"""


def test_type_ids_and_object_code_are_the_same_in_every_process():
    """Other types numbered first, another hash seed: the same type id, the same object."""
    one = run_python(OBJECT_DIGEST.format(n=0, wat=WAT), PYTHONHASHSEED="1",
                     SHAREDWASM_CACHE="0")
    two = run_python(OBJECT_DIGEST.format(n=5, wat=WAT), PYTHONHASHSEED="2",
                     SHAREDWASM_CACHE="0")
    assert one == two


def test_type_ids_differ_between_types():
    from sharedwasm.spec.types import FuncType
    types = [FuncType(p, r) for p in [(), ("i32",), ("i64",), ("i32", "i32")]
             for r in [(), ("i32",), ("f32",)]]
    ids = {vm.type_id(t) for t in types}
    assert len(ids) == len(types) and all(0 < i < 2**63 for i in ids)


# -- shipping code with a pickled module ----------------------------------------------------

def _report(scope, module, engine=None):
    if engine is not None:
        os.environ["SHAREDWASM_ENGINE"] = engine
    from sharedwasm.tiers import engine as current, native as tier
    inst = wasm.Instance(module)
    used = tier.compile_module(module.ast, module.info) if current() == "native" else None
    return (current(), getattr(used, "origin", None), inst.exports["pick"](0, 7),
            inst.exports["pick"](1, 7))


@pytest.mark.timeout(120)
def test_a_worker_links_the_code_the_parent_compiled(engine_native, monkeypatch):
    monkeypatch.setenv("SHAREDWASM_CACHE", "0")
    m = fresh_module()
    with Worker(_report, m) as w:
        assert w.result(60) == ("native", "shipped", 49, 8)


def test_pickling_with_the_native_engine_compiles_first(engine_native):
    m = fresh_module()
    restored_args = m.__reduce__()[1]
    assert len(restored_args) == 3
    key, obj = restored_args[2]
    assert key == jit.compat_key()
    assert obj == native.compile_module(m.ast, m.info).library.object_code


def test_pickling_with_the_python_engine_carries_bytes_only(monkeypatch):
    monkeypatch.setenv("SHAREDWASM_ENGINE", "python")
    m = fresh_module()
    assert m.__reduce__()[1] == (BINARY, m.features)


def test_code_with_another_key_is_compiled_again(engine_native, monkeypatch):
    monkeypatch.setenv("SHAREDWASM_CACHE", "0")
    m = fresh_module()
    _fn, args = m.__reduce__()
    data, features, (key, obj) = args
    native._CACHE.clear()
    other = wasm.Module(data, features=features)
    tiers.receive_code(other.ast, ("another-key", obj))
    assert origin(other) == "compiled"
    assert wasm.Instance(other).exports["pick"](1, 41) == 42


def test_a_restored_module_uses_the_shipped_code(engine_native, monkeypatch):
    monkeypatch.setenv("SHAREDWASM_CACHE", "0")
    m = fresh_module()
    data = pickle.dumps(m)
    native._CACHE.clear()
    from sharedwasm.api import module as api_module
    monkeypatch.setattr(api_module, "_CACHE", api_module._ModuleCache())
    restored = pickle.loads(data)
    assert restored.ast is not m.ast
    assert origin(restored) == "shipped"
    assert wasm.Instance(restored).exports["pick"](0, 9) == 81


# -- the on-disk cache ------------------------------------------------------------------------

def test_a_second_module_of_the_same_bytes_comes_from_the_disk(engine_native):
    first = fresh_module()
    assert origin(first) == "compiled"
    assert len(list(engine_native.glob("*.o"))) == 1
    second = fresh_module()
    assert origin(second) == "cache"
    assert wasm.Instance(second).exports["pick"](1, 1) == 2


def test_a_damaged_entry_is_ignored_and_rewritten(engine_native):
    origin(fresh_module())
    (entry,) = engine_native.glob("*.o")
    good = entry.read_bytes()
    for damaged in (good[:40], good[:-1] + bytes([good[-1] ^ 1]), b"", b"x" * len(good)):
        entry.write_bytes(damaged)
        m = fresh_module()
        assert origin(m) == "compiled"
        assert wasm.Instance(m).exports["pick"](0, 5) == 25
        assert entry.read_bytes() == good


def test_an_unwritable_cache_directory_only_means_no_cache(engine_native, monkeypatch,
                                                           tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("SHAREDWASM_CACHE_DIR", str(blocker / "cache"))
    m = fresh_module()
    assert wasm.Instance(m).exports["pick"](1, 2) == 3
    assert origin(m) == "compiled" and origin(fresh_module()) == "compiled"


def test_the_cache_can_be_turned_off(engine_native, monkeypatch):
    monkeypatch.setenv("SHAREDWASM_CACHE", "0")
    assert cache.cache_dir() is None
    origin(fresh_module())
    assert not engine_native.exists()


def test_the_default_cache_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("SHAREDWASM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "sharedwasm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / ".cache" / "sharedwasm"


def test_the_key_covers_features_and_compatibility():
    keys = {cache.entry_key(b"a", "k1"), cache.entry_key(b"b", "k1"),
            cache.entry_key(b"a", "k2")}
    assert len(keys) == 3


# -- engine selection -------------------------------------------------------------------------

def test_the_default_engine_is_native_when_llvmlite_imports(monkeypatch):
    monkeypatch.delenv("SHAREDWASM_ENGINE", raising=False)
    assert tiers.engine() == "native"
    monkeypatch.setattr(native, "available", lambda: False)
    assert tiers.engine() == "python"


def test_an_unknown_engine_is_an_error_naming_the_choices(monkeypatch):
    monkeypatch.setenv("SHAREDWASM_ENGINE", "jit")
    with pytest.raises(ValueError, match="python, native"):
        wasm.Instance(fresh_module())


def test_native_without_llvmlite_is_an_error(monkeypatch):
    monkeypatch.setenv("SHAREDWASM_ENGINE", "native")
    monkeypatch.setattr(native, "available", lambda: False)
    with pytest.raises(ImportError, match="llvmlite"):
        wasm.Instance(fresh_module())


@pytest.mark.timeout(120)
def test_workers_take_the_engine_the_parent_has_now(monkeypatch):
    """The spare process was started before the parent's change; the worker still
    follows the parent, and a target may choose its own engine."""
    monkeypatch.setenv("SHAREDWASM_ENGINE", "native")
    with Worker(_report, fresh_module()) as w:
        assert w.result(60)[0] == "native"
    monkeypatch.setenv("SHAREDWASM_ENGINE", "python")
    with Worker(_report, fresh_module()) as w:
        assert w.result(60) == ("python", None, 49, 8)
    with Worker(_report, fresh_module(), "native") as w:
        assert w.result(60)[0] == "native"
    monkeypatch.delenv("SHAREDWASM_ENGINE")
    with Worker(_report, fresh_module()) as w:
        assert w.result(60)[0] == "native"


def test_code_that_does_not_link_is_compiled_again(engine_native, monkeypatch):
    monkeypatch.setenv("SHAREDWASM_CACHE", "0")
    m = fresh_module()
    tiers.receive_code(m.ast, (jit.compat_key(), b"\x7fELF" + b"not an object" * 8))
    assert wasm.Instance(m).exports["pick"](0, 3) == 9
    assert origin(m) == "compiled"
