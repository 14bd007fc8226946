"""The worker side of ``run_parallel`` / ``WorkerPool``: instantiate once, run many tasks.

``task_server`` is a worker target: it instantiates the module (with the shared memory for
its memory import), optionally runs an ``init`` callable, reports ``("ready", index)`` and
then answers ``("task", i, fn, args)`` messages with ``("result", i, value)`` or
``("error", i, exc, traceback)``. A task's ``fn`` is an export name (called with
``*args``) or a callable called as ``fn(instance, *args)``.

After each task the worker keeps polling its pipe for ``poll_time`` seconds before it
blocks (as OpenMP runtimes spin before they sleep): a program that maps one batch after
another gets the next task at once, while a worker that sleeps may leave its CPU idle,
and waking an idle CPU (on a virtual machine, a halted virtual CPU) can take
milliseconds, as long as a whole parallel step of a fast kernel.
"""
from __future__ import annotations

from typing import Any, Callable

from . import wire
from .child import WorkerScope, apply_engine, pack_error

__all__ = ["task_server", "link_imports", "call_task", "run_standalone"]


def link_imports(module: Any, memory: Any, imports: Any) -> dict:
    """``imports`` plus ``memory`` under the module's (first) memory import."""
    merged: dict = {name: dict(fields) for name, fields in (imports or {}).items()}
    if memory is not None:
        for desc in module.imports():
            if desc.kind == "memory":
                merged.setdefault(desc.module, {})[desc.name] = memory
                break
        else:
            raise ValueError("memory= given but the module imports no memory")
    return merged


def call_task(instance: Any, fn: str | bytes | Callable, args: tuple) -> Any:
    """``fn``: an export name, a callable, or a callable ``wire.pack_callable`` pickled."""
    if isinstance(fn, str):
        return instance.exports[fn](*args)
    if isinstance(fn, bytes):
        fn = wire.load_callable(fn)
    return fn(instance, *args)


def task_server(scope: WorkerScope, module: Any, memory: Any, imports: Any,
                init: Callable | None, index: int, poll_time: float = 0.0) -> None:
    from ..api.instance import Instance
    instance = Instance(module, link_imports(module, memory, imports))
    if init is not None:
        init(instance, index)
    scope.post_message(("ready", index))
    while True:
        if poll_time > 0:
            scope.poll(poll_time)
        message = scope.receive()
        _kind, i, fn, args = message
        try:
            value = call_task(instance, fn, args)
        except BaseException as exc:     # every failure is the task's result
            scope.post_message(("error", i, *pack_error(exc)[1:]))
        else:
            scope.post_message(("result", i, value))


_standalone: dict[tuple, Any] = {}


def run_standalone(module: Any, fn: str | Callable, args: tuple, imports: Any,
                   engine: str | None = None) -> Any:
    """One task in a foreign executor's process (no shared memory), with the submitting
    process's ``engine`` setting; the instance is reused by later tasks of the same module
    and engine in that process when there are no imports."""
    from ..api.instance import Instance
    apply_engine(engine)
    if imports:
        return call_task(Instance(module, imports), fn, args)
    key = (module.binary, engine)
    instance = _standalone.get(key)
    if instance is None:
        instance = _standalone[key] = Instance(module)
    return call_task(instance, fn, args)
