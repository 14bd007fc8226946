"""Script threads: ``(thread $T (shared (module $M))* cmd*)`` and ``(wait $T)``.

A thread's commands run in their own worker process (``concurrency.parallel.start_thread``)
by a fresh ``ScriptRunner`` with the same features and timeout, so they really run in
parallel with the script and with each other. The thread starts with a fresh registry (only
``spectest``): what it sees of the script are the modules named in ``shared``. Instances
cannot travel between processes, so each shared module is passed as a ``SharedStandIn``: an
instance whose exports are the module's shared memories, which pickle by name and map the
same bytes in the thread. ``(register "mem" $M)`` inside the thread registers the stand-in.
Each command in a thread has the script's timeout (``THREAD_TIMEOUT`` when it has none); a
``wait`` gives up a little later, so a command that hangs is reported by its own thread.

``(wait $T)`` joins the worker with a timeout and adds the thread's counts to the script's;
each failure inside the thread is reported with the thread's name and command line
(``thread $T (line 6): assert_return 'run'``). Threads nest: a thread's runner starts and
joins its own threads the same way. Whatever happens (a failure, a timeout, an interrupt),
a thread's worker is terminated before the script's runner is done with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import multiprocess

from ..api.objects import Memory
from ..concurrency.parallel import start_thread
from ..concurrency.worker import Worker

if TYPE_CHECKING:
    from .runner import ScriptResult

__all__ = ["SharedStandIn", "stand_in", "ScriptThread", "THREAD_TIMEOUT", "thread_main"]

#: seconds a ``wait`` (and each command inside a thread) may take when the run has no timeout
THREAD_TIMEOUT = 60.0


@dataclass
class SharedStandIn:
    """What a thread sees of a shared module: an instance with only its shared memories."""

    exports: dict[str, Memory]

    def __repr__(self) -> str:
        return f"<shared module stand-in exports: {', '.join(self.exports)}>"


def stand_in(instance: Any) -> SharedStandIn:
    """The stand-in of an instance (or of another stand-in, for nested threads)."""
    return SharedStandIn({name: value for name, value in instance.exports.items()
                          if isinstance(value, Memory) and value.shared})


@dataclass
class ScriptThread:
    """A running thread of a script (parent side)."""

    name: str
    line: int
    worker: Worker

    @property
    def label(self) -> str:
        return f"thread ${self.name} (line {self.line})"

    def join(self, timeout: float) -> "ScriptResult":
        """The thread's result; raises its runner's error, ``WorkerDied`` or
        ``TimeoutError``. The worker is terminated in every case."""
        try:
            return self.worker.result(timeout)
        finally:
            self.worker.terminate()


def start(name: str, line: int, source: str, features: frozenset[str], timeout: float,
          shared: dict[str, SharedStandIn], commands: tuple) -> ScriptThread:
    """Start a thread's commands in a worker process."""
    worker = start_thread(thread_main, source, features, timeout, shared, commands,
                          name=f"sharedwasm-thread-{name}")
    return ScriptThread(name, line, worker)


def thread_main(source: str, features: frozenset[str], timeout: float,
                shared: dict[str, SharedStandIn], commands: tuple) -> "ScriptResult":
    """Runs in the worker: the thread's commands, with the shared modules bound by name."""
    from .runner import ScriptRunner
    # a daemonic process may not start processes: this one ends its threads' workers itself
    multiprocess.current_process().daemon = False
    runner = ScriptRunner(source, features, timeout)
    runner.instances.update(shared)
    try:
        runner.run(list(commands))
    finally:
        runner.close()
    return runner.result
