"""The native tier end to end: the WASI programs and the parallel kernels of
../shared/realworld run with ``SHAREDWASM_ENGINE=native`` (in a child process, so the whole
process tree, workers included, uses it), each asserting that its code really ran natively;
workers of both tiers share one memory (atomic adds, wait/notify hand-offs); traps in a
native worker reach the parent as ``wasm.RuntimeError`` and leave the worker alive.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("llvmlite", reason="the native tier needs llvmlite (extra 'native')")

import sharedwasm as wasm  # noqa: E402
from leaks import no_leaks  # noqa: E402,F401
from sharedwasm.tiers import native  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REALWORLD = ROOT.parent / "shared" / "realworld"
needs_realworld = pytest.mark.skipif(not (REALWORLD / "out").is_dir(),
                                     reason=f"{REALWORLD} is absent")


def runs_natively(instance: wasm.Instance) -> bool:
    """Every function ``instance`` defines is native machine code."""
    info = instance.module.info
    defined = instance._inst.funcs[len(info.func_types) - len(info.funcs):]
    return (native.fallback_reason(instance.module.ast) is None
            and all(hasattr(f, "native_ref") for f in defined))


def in_native_child(code: str, timeout: int) -> object:
    """Run ``code`` in a child Python with the native engine; it prints one JSON value."""
    env = dict(os.environ, SHAREDWASM_ENGINE="native",
               PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- WASI programs ------------------------------------------------------------------------------

#: child side: runs the named cases as tests/test_wasi_realworld.py does, checking each
#: instance is native; prints the names of the cases that passed
WASI_CHILD = """
    import json, tempfile
    from pathlib import Path
    import sharedwasm as wasm
    import test_wasi_realworld as rw
    from test_native_e2e import runs_natively

    made = []

    class Recorded(wasm.Instance):
        __slots__ = ()

        def __init__(self, *args):
            super().__init__(*args)
            made.append(self)

    wasm.Instance = Recorded
    passed = []
    for case in rw.CASES:
        if case["name"] in {names!r}:
            made.clear()
            with tempfile.TemporaryDirectory() as scratch:
                rw._check(case, rw._run_api(case, Path(scratch)))
            assert made and all(runs_natively(i) for i in made), case["name"]
            passed.append(case["name"])
    print(json.dumps(passed))
"""


def _wasi_cases(kind: str) -> dict[str, list[str]]:
    """module -> the names of its cases of class ``kind``."""
    path = REALWORLD / "wasi_cases.json"
    by_module: dict[str, list[str]] = {}
    if path.is_file():
        for c in json.loads(path.read_text())["cases"]:
            if c["class"] == kind:
                by_module.setdefault(c["module"], []).append(c["name"])
    return by_module


@needs_realworld
@pytest.mark.timeout(300)
@pytest.mark.parametrize("names", [pytest.param(names, id=module) for module, names
                                   in _wasi_cases("small").items()] or [[]])
def test_wasi_small_cases_run_natively(names):
    assert in_native_child(WASI_CHILD.format(names=names), 280) == names


@needs_realworld
@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("name", [n for names in _wasi_cases("large").values() for n in names]
                         or ["absent"])
def test_wasi_large_case_runs_natively(name):
    assert in_native_child(WASI_CHILD.format(names=[name]), 1180) == [name]


# -- the parallel kernels -----------------------------------------------------------------------

def native_thread_init(instance: wasm.Instance, index: int) -> None:
    """Pool init: the worker's instance must be native; then its stack and TLS slot."""
    assert runs_natively(instance), native.fallback_reason(instance.module.ast)
    assert instance.exports.wrt_thread_init(index) == 0


def kernel_sums(name: str, size: int, counts: list[int]) -> dict:
    """workers -> checksum of ``name`` (realworld/README.md part B), all native."""
    module = wasm.Module((REALWORLD / "out" / f"{name}.wasm").read_bytes())
    limits = module.ast.imports[0].desc.limits
    sums = {}
    with wasm.Memory(limits.min, limits.max, shared=True) as mem:
        control = wasm.Instance(module, {"env": {"memory": mem}})
        assert runs_natively(control)
        for n in counts:
            with wasm.WorkerPool(module, memory=mem, workers=n, init=native_thread_init,
                                 timeout=300) as pool:
                assert control.exports.kernel_setup(n, size) == 0
                pool.map("kernel_run", [(w, n, size) for w in range(n)], timeout=300)
                assert control.exports.kernel_check() == 0
                sums[n] = f"{control.exports.kernel_result() & (1 << 64) - 1:016x}"
    return sums


@needs_realworld
@pytest.mark.timeout(600)
@pytest.mark.parametrize("kernel", ["psum", "mandel", "mutex", "pingpong"])
def test_realworld_kernel_runs_natively(kernel):
    size = json.loads((REALWORLD / "kernel_cases.json").read_text())["kernels"][kernel]["small"]
    expected = json.loads((REALWORLD / "expected" / "kernels.json").read_text())
    got = in_native_child(f"""
        import json
        from test_native_e2e import kernel_sums
        print(json.dumps(kernel_sums({kernel!r}, {size}, [1, 2, 4])))
    """, 580)
    assert got == {str(n): expected[kernel][str(size)] for n in (1, 2, 4)}


# -- both tiers on one shared memory -------------------------------------------------------------

MIXED_WAT = r"""(module (memory (import "env" "memory") 1 1 shared)
  ;; both agents meet at word 8 so that their loops overlap
  (func $meet
    (drop (i32.atomic.rmw.add (i32.const 8) (i32.const 1)))
    (block $go (loop $spin
      (br_if $go (i32.ge_u (i32.atomic.load (i32.const 8)) (i32.const 2)))
      (br $spin))))
  ;; adds 1 to word 0 until word 4 is set; returns how many it added
  (func (export "add_until_done") (result i32) (local $n i32)
    (call $meet)
    (loop $next
      (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $next (i32.eqz (i32.atomic.load (i32.const 4)))))
    (local.get $n))
  ;; adds 1 to word 0 $n times, then sets word 4
  (func (export "add_n") (param $n i32) (result i32) (local $i i32)
    (call $meet)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.atomic.store (i32.const 4) (i32.const 1))
    (local.get $n))
  ;; $rounds turns of a token at word 16 between agents 0 and 1 (agent 0 starts): wait
  ;; while the other one holds it, count the turn at word 20 (word 24 counts turns taken
  ;; out of order), pass it on and notify
  (func (export "turns") (param $me i32) (param $rounds i32) (result i32) (local $i i32)
    (block $done (loop $round
      (br_if $done (i32.ge_u (local.get $i) (local.get $rounds)))
      (block $mine (loop $wait
        (br_if $mine (i32.eq (i32.atomic.load (i32.const 16)) (local.get $me)))
        (drop (memory.atomic.wait32 (i32.const 16) (i32.xor (local.get $me) (i32.const 1))
                                    (i64.const -1)))
        (br $wait)))
      (if (i32.ne (i32.and (i32.atomic.rmw.add (i32.const 20) (i32.const 1)) (i32.const 1))
                  (local.get $me))
        (then (drop (i32.atomic.rmw.add (i32.const 24) (i32.const 1)))))
      (i32.atomic.store (i32.const 16) (i32.xor (local.get $me) (i32.const 1)))
      (drop (memory.atomic.notify (i32.const 16) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $round)))
    (local.get $i)))"""


def _agent(scope, engine: str, module: wasm.Module, memory: wasm.Memory, export: str,
           *args: int) -> tuple[bool, int]:
    """A worker on tier ``engine`` (chosen before it instantiates): (native?, result)."""
    os.environ["SHAREDWASM_ENGINE"] = engine
    instance = wasm.Instance(module, {"env": {"memory": memory}})
    return runs_natively(instance), instance.exports[export](*args)


@pytest.fixture(scope="module")
def mixed_module():
    return wasm.Module(wasm.wat2wasm(MIXED_WAT))


@pytest.mark.timeout(120)
def test_native_and_portable_workers_add_to_one_word(mixed_module):
    portable_adds = 20_000
    with wasm.Memory(1, 1, shared=True) as mem:
        with wasm.Worker(_agent, "native", mixed_module, mem, "add_until_done") as fast, \
                wasm.Worker(_agent, "python", mixed_module, mem, "add_n", portable_adds) as slow:
            fast_native, fast_adds = fast.result(timeout=100)
            slow_native, _ = slow.result(timeout=100)
        assert fast_native and not slow_native
        assert fast_adds >= 1
        assert wasm.atomics.load(mem, 0) == fast_adds + portable_adds


@pytest.mark.timeout(120)
@pytest.mark.parametrize("first", ["native", "python"])
def test_wait_notify_hand_offs_between_tiers(mixed_module, first):
    rounds = 300
    second = "python" if first == "native" else "native"
    with wasm.Memory(1, 1, shared=True) as mem:
        with wasm.Worker(_agent, first, mixed_module, mem, "turns", 0, rounds) as a, \
                wasm.Worker(_agent, second, mixed_module, mem, "turns", 1, rounds) as b:
            got = [a.result(timeout=100), b.result(timeout=100)]
        assert got == [(first == "native", rounds), (second == "native", rounds)]
        assert wasm.atomics.load(mem, 20) == 2 * rounds
        assert wasm.atomics.load(mem, 24) == 0, "a turn was taken out of order"


# -- traps in native workers ---------------------------------------------------------------------

TRAPS_WAT = r"""(module (memory (import "env" "memory") 1 1 shared)
  (func $deep (export "deep") (param i64) (result i64)
    (i64.add (call $deep (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
  (func (export "peek") (param i32) (result i32) (i32.load offset=8 (local.get 0)))
  (func (export "poke") (param i32 i64) (i64.store (local.get 0) (local.get 1))))"""


def _trapping_agent(scope, module: wasm.Module, memory: wasm.Memory) -> list:
    """Native: each trap is caught here, then the instance still answers."""
    os.environ["SHAREDWASM_ENGINE"] = "native"
    instance = wasm.Instance(module, {"env": {"memory": memory}})
    seen: list = [runs_natively(instance)]
    for name, args in (("deep", (0,)), ("peek", (65536 - 11,)), ("peek", (0xFFFF_FFFF,)),
                       ("poke", (65536 - 7, 1)), ("deep", (5,))):
        try:
            instance.exports[name](*args)
            seen.append("no trap")
        except wasm.RuntimeError as err:
            seen.append(err.message)
    instance.exports.poke(65536 - 8, 7)
    seen.append(instance.exports.peek(65536 - 16))
    return seen


@pytest.mark.timeout(120)
def test_native_worker_survives_deep_recursion_and_out_of_bounds():
    module = wasm.Module(wasm.wat2wasm(TRAPS_WAT))
    with wasm.Memory(1, 1, shared=True) as mem, \
            wasm.Worker(_trapping_agent, module, mem) as worker:
        seen = worker.result(timeout=100)
    oob = "out of bounds memory access"
    assert seen == [True, "call stack exhausted", oob, oob, oob, "call stack exhausted", 7]


def native_task(instance: wasm.Instance, name: str, arg: int) -> int:
    assert runs_natively(instance)
    return instance.exports[name](arg)


@pytest.mark.timeout(120)
def test_trap_in_a_native_pool_worker_raises_in_the_parent():
    got = in_native_child("""
        import json
        import sharedwasm as wasm
        from test_native_e2e import TRAPS_WAT, native_task

        module = wasm.Module(wasm.wat2wasm(TRAPS_WAT))
        out = []
        with wasm.Memory(1, 1, shared=True) as mem:
            for name, arg in (("deep", 0), ("peek", 65536)):
                try:
                    wasm.run_parallel(module, native_task, [(name, arg)], memory=mem, timeout=100)
                except wasm.RuntimeError as err:
                    out.append(err.message)
        print(json.dumps(out))
    """, 110)
    assert got == ["call stack exhausted", "out of bounds memory access"]
