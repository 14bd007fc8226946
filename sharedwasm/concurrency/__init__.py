"""L6: the Web Worker + SharedArrayBuffer model over processes.

``Worker`` (worker.py) runs a script or a callable in its own process and exchanges
messages with it; ``run_parallel`` and ``WorkerPool`` (parallel.py) run tasks over an
instantiated module in several workers; ``atomics`` is the host-side ``Atomics``; the
child side lives in child.py and tasks.py, process start-up in context.py.
"""
from __future__ import annotations

from . import atomics
from .worker import RemoteTraceback, Worker, WorkerDied, WorkerError

__all__ = ["atomics", "Worker", "WorkerError", "WorkerDied", "RemoteTraceback",
           "run_parallel", "WorkerPool", "run_in_worker", "start_thread"]


def __getattr__(name: str):
    if name in ("run_parallel", "WorkerPool", "run_in_worker", "start_thread"):
        from . import parallel
        return getattr(parallel, name)
    raise AttributeError(name)
