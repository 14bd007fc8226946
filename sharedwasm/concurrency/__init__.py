"""L6: the Web Worker + SharedArrayBuffer model over processes.

``Worker`` (worker.py) runs a script or a callable in its own process and exchanges
messages with it; ``run_parallel`` and ``WorkerPool`` (parallel.py) run tasks over an
instantiated module in several workers; ``atomics`` is the host-side ``Atomics``; the
child side lives in child.py and tasks.py, process start-up in context.py.
"""
from __future__ import annotations

import importlib

__all__ = ["atomics", "Worker", "WorkerError", "WorkerDied", "RemoteTraceback",
           "run_parallel", "WorkerPool", "run_in_worker", "start_thread"]

#: loaded on first use, so a worker process (which imports child.py) stays light
_LAZY = {"Worker": "worker", "WorkerError": "worker", "WorkerDied": "worker",
         "RemoteTraceback": "worker", "run_parallel": "parallel", "WorkerPool": "parallel",
         "run_in_worker": "parallel", "start_thread": "parallel"}


def __getattr__(name: str):
    if name == "atomics":
        return importlib.import_module(f"{__name__}.atomics")
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(name)
