"""``wasm.run_parallel`` and ``WorkerPool``: tasks over one module in worker processes.

Results in order, export names and callables, one instance per worker, the shared memory
supplied for the memory import, exact atomics under contention (4 processes x 10^5
``i32.atomic.rmw.add``), a message-passing litmus test repeated 200 times, traps and
worker deaths (kill -9) raised promptly, timeouts, foreign executors, and the real
compiled kernels of ../shared/realworld (psum, mandel, mutex, pingpong; 1, 2, 4 workers).
"""
from __future__ import annotations

import concurrent.futures
import json
import re
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import sharedwasm as wasm
from leaks import no_leaks, own_segments  # noqa: F401
from sharedwasm import atomics
from sharedwasm.concurrency import WorkerDied, WorkerError

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld"

COUNTER_WAT = '''(module (memory (import "env" "memory") 1 1 shared)
  (func (export "bump") (param $n i32) (result i32) (local $i i32)
    (block (loop
      (br_if 1 (i32.ge_u (local.get $i) (local.get $n)))
      (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br 0)))
    (local.get $n))
  (func (export "square") (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
  (func (export "div") (param i32) (result i32) (i32.div_u (i32.const 100) (local.get 0)))
  (func (export "park") (result i32)
    (memory.atomic.wait32 (i32.const 64) (i32.const 0) (i64.const -1)))
  (func (export "calls") (result i32)
    (i32.atomic.rmw.add (i32.const 128) (i32.const 1))))'''

# message passing: the writer stores data then releases a flag; a reader that sees the
# flag must see the data (forbidden outcome: flag 1, data 0). Both first meet at a spin
# barrier (word 8) so that their accesses overlap in time.
MP_WAT = '''(module (memory (import "env" "memory") 1 1 shared)
  (func $barrier
    (drop (i32.atomic.rmw.add (i32.const 8) (i32.const 1)))
    (block $go (loop $spin
      (br_if $go (i32.ge_u (i32.atomic.load (i32.const 8)) (i32.const 2)))
      (br $spin))))
  (func (export "writer")
    (call $barrier)
    (i32.store (i32.const 0) (i32.const 42))
    (i32.atomic.store (i32.const 4) (i32.const 1)))
  (func (export "reader") (result i64)
    (local $flag i32)
    (call $barrier)
    (local.set $flag (i32.atomic.load (i32.const 4)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $flag)) (i64.const 32))
            (i64.extend_i32_u (i32.load (i32.const 0))))))'''




@pytest.fixture(scope="module")
def counter_module():
    return wasm.Module(wasm.wat2wasm(COUNTER_WAT))


@pytest.fixture
def mem():
    with wasm.Memory(1, 1, shared=True) as m:
        yield m


def _square_plus(instance, x, y):
    return instance.exports.square(x) + y


def test_results_in_order_with_export_names_and_callables(counter_module, mem):
    args = [(i,) for i in range(7)]
    assert wasm.run_parallel(counter_module, "square", args, memory=mem, workers=3,
                             timeout=60) == [i * i for i in range(7)]
    assert wasm.run_parallel(counter_module, _square_plus, [(2, 1), (3, 1)], memory=mem,
                             timeout=60) == [5, 10]
    assert wasm.run_parallel(counter_module, "square", [], memory=mem) == []


def test_each_worker_instantiates_once(counter_module, mem):
    with wasm.WorkerPool(counter_module, memory=mem, workers=2, timeout=60) as pool:
        first = pool.map("calls", [()] * 6, timeout=60)
        second = pool.map("calls", [()] * 4, timeout=60)
    assert sorted(first + second) == list(range(10))
    assert atomics.load(mem, 128) == 10


@pytest.mark.parametrize("poll_time", [0.0, 0.5])
def test_workers_polling_or_sleeping_between_tasks_answer_and_close(counter_module, mem,
                                                                     poll_time):
    """Back-to-back maps are answered whether idle workers poll or sleep (the module's
    leak check after each test sees that polling ones end too)."""
    with wasm.WorkerPool(counter_module, memory=mem, workers=2, timeout=60,
                         poll_time=poll_time) as pool:
        for _ in range(20):
            assert pool.map("square", [(3,), (4,)], timeout=60) == [9, 16]
    with pytest.raises(ValueError, match="poll_time"):
        wasm.WorkerPool(counter_module, memory=mem, workers=1, poll_time=-1)


def test_four_processes_times_ten_to_the_fifth_atomic_adds(counter_module, mem, report):
    start = time.perf_counter()
    out = wasm.run_parallel(counter_module, "bump", [(100_000,)] * 4, memory=mem,
                            timeout=120)
    elapsed = time.perf_counter() - start
    assert out == [100_000] * 4
    assert atomics.load(mem, 0) == 400_000
    report.count("threads", "4 x 10^5 rmw.add", "checked")
    report.note("threads", f"4 processes x 10^5 i32.atomic.rmw.add: exact in {elapsed:.2f} s")


def test_message_passing_litmus_200_times(report):
    module = wasm.Module(wasm.wat2wasm(MP_WAT))
    outcomes: dict[tuple[int, int], int] = {}
    with wasm.Memory(1, 1, shared=True) as mem:
        with wasm.WorkerPool(module, memory=mem, workers=2, timeout=60) as pool:
            for _ in range(200):
                for address in (0, 4, 8):
                    atomics.store(mem, address, 0)
                _, seen = pool.map(lambda inst, role: getattr(inst.exports, role)(),
                                   ["writer", "reader"], timeout=30)
                seen &= (1 << 64) - 1
                key = (seen >> 32, seen & 0xFFFF_FFFF)
                outcomes[key] = outcomes.get(key, 0) + 1
    assert (1, 0) not in outcomes, f"forbidden outcome seen: {outcomes}"
    assert set(outcomes) <= {(0, 0), (0, 42), (1, 42)}
    report.count("threads", "MP litmus x200", "checked")
    report.note("threads", f"MP litmus x200 outcomes (flag, data): {outcomes}")


def test_a_trap_raises_with_the_worker_traceback(counter_module, mem):
    with pytest.raises(wasm.RuntimeError, match="integer divide by zero") as info:
        wasm.run_parallel(counter_module, "div", [(1,), (0,), (5,)], memory=mem, timeout=60)
    assert "Traceback" in info.value.__cause__.text


def _record_pid_and_park(instance, mem, slot):
    atomics.store(mem, 256 + 4 * slot, os.getpid())
    return instance.exports.park()


def test_kill_minus_9_of_a_worker_raises_within_5_s(counter_module, mem):
    def killer():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pid = atomics.load(mem, 256 + 4)
            if pid and mem._inst.parking.waiters(64) >= 2:
                os.kill(pid, signal.SIGKILL)
                killed.append(time.monotonic())
                return
            time.sleep(0.005)

    killed: list[float] = []
    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with pytest.raises(WorkerDied, match="died"):
            wasm.run_parallel(counter_module, _record_pid_and_park,
                              [(mem, 0), (mem, 1), (mem, 2)], memory=mem, timeout=60)
    finally:
        thread.join(30)
    assert killed and time.monotonic() - killed[0] < 5


def test_timeout_terminates_the_workers(counter_module, mem):
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        wasm.run_parallel(counter_module, "park", [()] * 2, memory=mem, timeout=2)
    assert time.monotonic() - start < 10


def test_a_broken_pool_refuses_more_work(counter_module, mem):
    with wasm.WorkerPool(counter_module, memory=mem, workers=1, timeout=60) as pool:
        with pytest.raises(wasm.RuntimeError):
            pool.map("div", [(0,)], timeout=30)
        with pytest.raises(WorkerError, match="broken"):
            pool.map("square", [(1,)], timeout=30)


def test_memory_without_a_memory_import_is_refused(mem):
    module = wasm.Module(wasm.wat2wasm('(module (func (export "f")))'))
    with pytest.raises(ValueError, match="imports no memory"):
        wasm.run_parallel(module, "f", [()], memory=mem, timeout=30)


PURE_WAT = '(module (func (export "add") (param i32 i32) (result i32) ' \
           '(i32.add (local.get 0) (local.get 1))))'


def test_foreign_executor():
    module = wasm.Module(wasm.wat2wasm(PURE_WAT))
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        assert wasm.run_parallel(module, "add", [(1, 2), (3, 4)], executor=ex,
                                 timeout=60) == [3, 7]
        with wasm.Memory(1, 1, shared=True) as m, pytest.raises(ValueError, match="executor"):
            wasm.run_parallel(module, "add", [(1, 2)], executor=ex, memory=m)


@pytest.mark.slow
def test_dask_executor():
    distributed = pytest.importorskip("distributed")
    module = wasm.Module(wasm.wat2wasm(PURE_WAT))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        ex = client.get_executor()
        assert wasm.run_parallel(module, "add", [(i, i) for i in range(6)], executor=ex,
                                 timeout=120) == [2 * i for i in range(6)]


# -- the real compiled kernels -----------------------------------------------------------------

def _thread_init(instance, worker_index):
    assert instance.exports.wrt_thread_init(worker_index) == 0


def run_kernel(name: str, size: int, n: int, repetitions: int = 1) -> list[str]:
    """The host protocol of realworld/README.md part B; the checksums of each repetition."""
    module = wasm.Module((REALWORLD / "out" / f"{name}.wasm").read_bytes())
    limits = module.ast.imports[0].desc.limits
    sums = []
    with wasm.Memory(limits.min, limits.max, shared=True) as mem:
        control = wasm.Instance(module, {"env": {"memory": mem}})
        with wasm.WorkerPool(module, memory=mem, workers=n, init=_thread_init,
                             timeout=120) as pool:
            for _ in range(repetitions):
                assert control.exports.kernel_setup(n, size) == 0
                pool.map("kernel_run", [(w, n, size) for w in range(n)], timeout=300)
                assert control.exports.kernel_check() == 0
                sums.append(f"{control.exports.kernel_result() & (1 << 64) - 1:016x}")
    return sums


@pytest.mark.skipif(not (REALWORLD / "out").is_dir(), reason="../shared/realworld is absent")
@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("kernel", ["psum", "mandel", "mutex", "pingpong"])
def test_realworld_kernel(kernel, workers, report):
    cases = json.loads((REALWORLD / "kernel_cases.json").read_text())["kernels"]
    expected = json.loads((REALWORLD / "expected" / "kernels.json").read_text())
    size = cases[kernel]["small"]
    reps = 2 if workers == 2 else 1
    report.count("realworld kernels (small)", kernel, f"{workers} workers")
    assert run_kernel(kernel, size, workers, reps) == [expected[kernel][str(size)]] * reps
    report.count("realworld kernels (small)", kernel, f"{workers} workers ok")


# -- the parallel demos ------------------------------------------------------------------------

DEMOS = Path(__file__).resolve().parent.parent / "demos"


@pytest.mark.parametrize("demo", ["parallel_mandelbrot", "parallel_reduction", "mutex_counter",
                                  "producer_consumer", "worker_pingpong"])
def test_parallel_demo_runs_within_10_s(demo, tmp_path):
    import subprocess
    import sys
    args = [str(tmp_path / "m.png")] if demo == "parallel_mandelbrot" else []
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(DEMOS / f"{demo}.py"), *args],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < 10
    assert "1 worker " in done.stdout and re.search(r"\b[2-9]\d* workers ", done.stdout)
    if demo == "parallel_mandelbrot":
        assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
