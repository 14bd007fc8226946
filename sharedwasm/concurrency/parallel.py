"""``run_parallel`` and ``WorkerPool``: tasks over one module in several worker processes.

A thin layer over ``Worker``: each pool worker runs ``tasks.task_server``, which
instantiates the module once (the shared ``memory`` supplied for its memory import) and
reuses that instance for every task it gets. ``map`` hands task ``i`` to worker ``i`` first
(so with as many workers as tasks every task runs concurrently, which kernels with barriers
need) and then each next task to whichever worker finishes first; results come back in
task order. Any failure breaks the pool: a task that raises or traps, a worker that dies
(seen through its process sentinel) or the timeout terminates every worker and raises, so
a caller never waits on a worker that cannot answer.
"""
from __future__ import annotations

import concurrent.futures
import os
import time
from typing import Any, Callable, Sequence

from . import tasks, wire
from .child import engine_setting
from .worker import Worker, WorkerDied, WorkerError, remote_error

__all__ = ["WorkerPool", "run_parallel", "run_in_worker", "start_thread", "call"]


def _as_module(module: Any) -> Any:
    from ..api.module import Module
    return module if isinstance(module, Module) else Module(module)


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class WorkerPool:
    """``workers`` processes, each holding one instance of ``module``.

    ``init(instance, worker_index)``, if given, runs once in each worker after
    instantiation (e.g. to give each instance its thread stack). ``map(fn, args)`` runs
    the tasks; the pool stays usable for more ``map`` calls until a failure or ``close()``.
    After a task a worker polls for the next one for ``poll_time`` seconds (default
    2 ms) before it sleeps, so back-to-back ``map`` calls start at once (see
    ``tasks.py``); 0 makes idle workers sleep at once.
    """

    def __init__(self, module: Any, *, memory: Any = None, imports: Any = None,
                 workers: int | None = None, init: Callable | None = None,
                 timeout: float | None = 60.0, poll_time: float = 0.002):
        self.module = _as_module(module)
        n = workers if workers is not None else (os.cpu_count() or 1)
        if n < 1:
            raise ValueError(f"workers must be at least 1, not {n}")
        if not 0 <= poll_time <= 1:
            raise ValueError(f"poll_time is between 0 and 1 second, not {poll_time}")
        self._workers: list[Worker] = []
        self._broken: BaseException | None = None
        try:
            for index in range(n):
                self._workers.append(Worker(tasks.task_server, self.module, memory, imports,
                                            init, index, poll_time,
                                            name=f"sharedwasm-pool-{index}"))
            deadline = _deadline(timeout)
            for w in self._workers:
                w.receive(_remaining(deadline))
        except BaseException:
            self.terminate()
            raise

    @property
    def size(self) -> int:
        return len(self._workers)

    def map(self, fn: str | Callable, args: Sequence[Any],
            timeout: float | None = None) -> list:
        """Run ``fn`` once per element of ``args`` (a tuple, or one argument); results in
        order. Raises the first task's exception (with the worker's traceback),
        ``WorkerDied``, or ``TimeoutError`` — after terminating every worker."""
        if self._broken is not None:
            raise WorkerError("the pool is broken by an earlier failure") from self._broken
        if not self._workers:
            raise WorkerError("the pool is closed")
        items = [a if isinstance(a, tuple) else (a,) for a in args]
        results: list = [None] * len(items)
        deadline = _deadline(timeout)
        try:
            self._run(fn, items, results, deadline, timeout)
        except BaseException as exc:
            self._broken = exc
            self.terminate()
            raise
        return results

    def _run(self, fn: Any, items: list, results: list, deadline: float | None,
             timeout: float | None) -> None:
        from multiprocess.connection import wait
        if not isinstance(fn, str):
            fn = wire.pack_callable(fn)
        pending = iter(range(len(items)))
        busy: dict[int, int] = {}           # worker position -> task index
        for pos, w in enumerate(self._workers):
            i = next(pending, None)
            if i is None:
                break
            w.post_message(("task", i, fn, items[i]))
            busy[pos] = i
        while busy:
            handles = {}
            for pos in busy:
                w = self._workers[pos]
                handles[w._conn] = pos
                handles[w._process.sentinel] = pos
            ready = wait(list(handles), _remaining(deadline))
            if not ready:
                raise TimeoutError(f"run_parallel: tasks {sorted(busy.values())} did not "
                                   f"finish within {timeout} s")
            for pos in {handles[h] for h in ready}:
                w = self._workers[pos]
                try:
                    message = w.receive(0)
                except TimeoutError:
                    continue                     # sentinel raced the data: read next round
                except WorkerDied as exc:
                    raise WorkerDied(f"{exc} while running task {busy[pos]}") from None
                kind, i = message[0], message[1]
                if kind == "error":
                    raise remote_error(message[2], message[3], f"task {i}")
                results[i] = message[2]
                del busy[pos]
                nxt = next(pending, None)
                if nxt is not None:
                    w.post_message(("task", nxt, fn, items[nxt]))
                    busy[pos] = nxt

    def close(self) -> None:
        """End every worker."""
        self.terminate()

    def terminate(self) -> None:
        workers, self._workers = self._workers, []
        for w in workers:
            try:
                w._process.terminate()
            except (ValueError, AttributeError):
                pass
        for w in workers:
            w.terminate()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()

    def __repr__(self) -> str:
        state = "broken" if self._broken else ("closed" if not self._workers else "ready")
        return f"<WorkerPool {self.size} workers {state}>"


def run_parallel(module: Any, fn: str | Callable, args: Sequence[Any], *,
                 memory: Any = None, imports: Any = None, workers: int | None = None,
                 timeout: float | None = None, executor: Any = None) -> list:
    """Run ``len(args)`` tasks of ``module`` in worker processes; results in order.

    ``fn`` is an export name (called with ``*args[i]``) or a dill-able callable called
    as ``fn(instance, *args[i])``. ``memory`` (a shared Memory) is supplied for the
    module's memory import and ``imports`` adds the rest. Up to ``workers`` run at once
    (default: one per task); each instantiates the module once. ``executor`` may be a
    ``WorkerPool`` (reused instances) or any ``concurrent.futures.Executor`` (tasks that
    need no shared memory; each executor process instantiates the module once).
    """
    args = list(args)
    if isinstance(executor, WorkerPool):
        return executor.map(fn, args, timeout)
    module = _as_module(module)
    if executor is not None:
        return _run_on_executor(executor, module, fn, args, memory, imports, timeout)
    if not args:
        return []
    n = min(workers or len(args), len(args))
    deadline = _deadline(timeout)
    with WorkerPool(module, memory=memory, imports=imports, workers=n,
                    timeout=timeout if timeout is not None else 60.0) as pool:
        return pool.map(fn, args, _remaining(deadline))


def _run_on_executor(executor: Any, module: Any, fn: Any, args: list, memory: Any,
                     imports: Any, timeout: float | None) -> list:
    if memory is not None:
        raise ValueError("executor= runs tasks that need no shared memory; "
                         "use the default workers (or a WorkerPool) with memory=")
    items = [a if isinstance(a, tuple) else (a,) for a in args]
    engine = engine_setting()
    futures = [executor.submit(tasks.run_standalone, module, fn, item, imports, engine)
               for item in items]
    done, not_done = concurrent.futures.wait(futures, timeout)
    if not_done:
        for f in not_done:
            f.cancel()
        raise TimeoutError(f"run_parallel: {len(not_done)} tasks did not finish within "
                           f"{timeout} s")
    return [f.result() for f in futures]


def run_in_worker(fn: Callable, *args: Any, timeout: float | None = None) -> Any:
    """Call ``fn(*args)`` in a fresh worker process and return its result (its exception,
    with the worker's traceback, if it raises). Shared Memories among ``args`` travel by
    name, so the call sees the same bytes. For running a script's ``thread`` blocks: start
    ``Worker(call, fn, *args)`` for each and take ``result(timeout)`` at ``wait``."""
    with Worker(call, fn, *args) as w:
        return w.result(timeout)


def start_thread(fn: Callable, *args: Any, name: str | None = None) -> Worker:
    """Start ``fn(*args)`` in a fresh worker process and return the ``Worker``; its
    ``result(timeout)`` gives ``fn``'s return value or raises its exception. This is what
    a script's ``(thread $T ...)`` needs (``(wait $T)`` is ``result``): pass the commands
    and the shared Memories the thread may import; they travel by name."""
    return Worker(call, fn, *args, name=name)


def call(scope: Any, fn: Callable, *args: Any) -> Any:
    """A worker target calling ``fn(*args)`` (without the scope)."""
    return fn(*args)

