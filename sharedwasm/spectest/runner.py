"""Runs the commands of one ``.wast`` script against the engine, through the public API.

The runner is an embedder like any user: it compiles modules with ``Module``, links them with
``Instance`` and an imports mapping (the ``spectest`` host module plus registered
instances' ``exports``), and calls exported functions with Python values. Only the script
format itself comes from inside the package (``text.script``, and the text parser and
encoder for the modules written in the text format).

Every command is one check: it passes, fails (with a reason) or is skipped (with a reason).
An engine defect never stops the script: unexpected Python errors become failures.
``thread``/``wait`` run commands in worker processes (``threads.py``); ``close()`` joins
threads never waited for, ends every worker and releases the script's shared memories.
"""
from __future__ import annotations

import signal
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..api.instance import Instance
from ..api.module import Module, wat2wasm
from ..api.objects import Exception as WasmException, Memory
from ..binary.encode import encode_module
from ..errors import (ALL_FEATURES, WASM2_FEATURES, CompileError, LinkError, MalformedError,
                      ValidationError)
from ..errors import RuntimeError as Trap
from ..text import script
from . import values, watchdog
from .host import spectest_module
from .threads import THREAD_TIMEOUT, ScriptThread, SharedStandIn, stand_in
from .threads import start as start_thread

SIMD_REASON = "SIMD instructions not supported by the portable tier"
#: the portable tier's message for a function it cannot compile
SIMD_MESSAGE = "SIMD is not supported"

#: suite folder name -> the features its proposal enables
SUITE_FEATURES: dict[str, frozenset[str]] = {
    "core": WASM2_FEATURES,
    # the threads proposal's copy of imports.wast predates reference types: it expects
    # "multiple tables" to be invalid (no other threads script needs reference types)
    "threads": (WASM2_FEATURES - {"reference-types"}) | {"threads"},
    # the exception-handling proposal builds on tail calls (try_table.wast uses return_call)
    "exceptions": WASM2_FEATURES | {"exceptions", "tail-call"},
    "tail-call": WASM2_FEATURES | {"tail-call"},
}


def features_for(path: str | Path) -> frozenset[str]:
    """The features of the nearest enclosing suite folder, else everything."""
    for part in reversed(Path(path).resolve().parent.parts):
        if part in SUITE_FEATURES:
            return SUITE_FEATURES[part]
    return ALL_FEATURES


@dataclass
class Failure:
    line: int
    command: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.command}: {self.reason}"


@dataclass
class ScriptResult:
    """The outcome of one script: counts, failures in order, skip reasons with counts.

    ``observed`` counts the values that ``assert_return`` with ``either`` alternatives saw
    (the outcomes of litmus tests), keyed ``"line N: value..."``.
    """

    path: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    skips: Counter = field(default_factory=Counter)
    observed: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def merge(self, other: "ScriptResult", label: str) -> None:
        """Add a thread's counts; its failures and observations are prefixed with ``label``."""
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.failures += [Failure(f.line, f"{label}: {f.command}", f.reason)
                          for f in other.failures]
        self.skips.update(other.skips)
        self.observed.update({f"{label}: {k}": n for k, n in other.observed.items()})

    def to_json(self) -> dict:
        return {"path": self.path, "passed": self.passed, "failed": self.failed,
                "skipped": self.skipped, "seconds": round(self.seconds, 3),
                "failures": [{"line": f.line, "command": f.command, "reason": f.reason}
                             for f in self.failures],
                "skips": dict(self.skips), "observed": dict(self.observed)}


class Skip(Exception):
    """The command cannot run on this engine; ``args[0]`` says why."""


class Fail(Exception):
    """The command's check did not hold; ``args[0]`` says how."""


class Timeout(BaseException):
    """A command ran longer than allowed (a BaseException so engine code cannot swallow it)."""


@dataclass
class _Unavailable:
    """Stands for a module that could not be loaded, so later commands report why."""

    line: int
    reason: str
    skip: bool


def _is_simd_error(err: BaseException) -> bool:
    return isinstance(err, CompileError) and SIMD_MESSAGE in err.message


def _describe(err: BaseException) -> str:
    if isinstance(err, WasmException):
        return f"uncaught wasm exception {err!r}"
    if isinstance(err, (CompileError, LinkError, Trap)):
        return f"{type(err).__name__}: {err.message}"
    where = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
    at = f" (at {Path(where[0].filename).name}:{where[0].lineno})" if where else ""
    return f"unexpected {type(err).__name__}: {err}{at}"


class ScriptRunner:
    """The state of one script run: named instances, registrations, the current module."""

    def __init__(self, source: str, features: frozenset[str] = ALL_FEATURES,
                 timeout: float | None = None):
        self.source = source
        self.features = frozenset(features)
        self.timeout = timeout
        self.result = ScriptResult(source)
        self.instances: dict[str, Any] = {}
        self.definitions: dict[str, Any] = {}
        self.current: Any = None
        self.registry: dict[str, Any] = {"spectest": spectest_module()}
        #: running threads by name, and every thread started (all ended by ``close``)
        self.threads: dict[str, ScriptThread] = {}
        self.started: list[ScriptThread] = []
        self._handlers: dict[type, Callable[[Any], None]] = {
            script.ModuleCommand: self.module,
            script.ModuleInstance: self.module_instance,
            script.Register: self.register,
            script.ActionCommand: self.action,
            script.AssertReturn: self.assert_return,
            script.AssertTrap: self.assert_trap,
            script.AssertExhaustion: self.assert_exhaustion,
            script.AssertException: self.assert_exception,
            script.AssertMalformed: self.assert_malformed,
            script.AssertInvalid: self.assert_invalid,
            script.AssertUnlinkable: self.assert_unlinkable,
            script.AssertUninstantiable: self.assert_uninstantiable,
            script.Thread: self.thread,
            script.Wait: self.wait,
        }

    # -- driving ---------------------------------------------------------------------------
    def run(self, commands: list[script.Command]) -> ScriptResult:
        for cmd in commands:
            self.run_command(cmd)
        return self.result

    def run_command(self, cmd: script.Command) -> None:
        name = _command_name(cmd)
        try:
            # a wait bounds its join itself, a little longer than the thread's commands
            with _deadline(None if isinstance(cmd, script.Wait) else self.timeout):
                self._handlers[type(cmd)](cmd)
        except Skip as why:
            self.skip(str(why.args[0]))
        except Fail as why:
            self.fail(cmd.line, name, str(why.args[0]))
        except Timeout:
            self.fail(cmd.line, name, f"timed out after {self.timeout:g} s")
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:        # an engine defect: report it, keep going
            self.fail(cmd.line, name, _describe(err))
        else:
            self.result.passed += 1

    def fail(self, line: int, command: str, reason: str) -> None:
        self.result.failed += 1
        self.result.failures.append(Failure(line, command, reason))

    def skip(self, reason: str, count: int = 1) -> None:
        self.result.skipped += count
        self.result.skips[reason] += count

    # -- modules ---------------------------------------------------------------------------
    def compile(self, cmd: script.ModuleCommand) -> Module:
        """The module of a script command, through the text or binary format as written."""
        if cmd.kind == "binary":
            data = cmd.binary
        elif cmd.kind == "quote":
            data = wat2wasm(cmd.quote, features=self.features, source=self.source)
        else:
            data = encode_module(cmd.parse(self.features))
        return Module(data, features=self.features)

    def instantiate(self, module: Module) -> Instance:
        return Instance(module, self.registry)

    def _bind(self, name: str | None, value: Any) -> None:
        self.current = value
        if name is not None:
            self.instances[name] = value

    def module(self, cmd: script.ModuleCommand) -> None:
        try:
            module = self.compile(cmd)
            if cmd.definition:
                self.definitions[cmd.name] = module
                return
            self._bind(cmd.name, self.instantiate(module))
        except BaseException as err:
            self._module_failed(cmd.name, cmd.line, err)

    def module_instance(self, cmd: script.ModuleInstance) -> None:
        module = self.definitions.get(cmd.definition)
        if module is None:
            raise Fail(f"unknown module definition {cmd.definition}")
        try:
            self._bind(cmd.name, self.instantiate(module))
        except BaseException as err:
            self._module_failed(cmd.name, cmd.line, err)

    def _module_failed(self, name: str | None, line: int, err: BaseException) -> None:
        if isinstance(err, (KeyboardInterrupt, SystemExit, Timeout)):
            raise err
        if _is_simd_error(err):
            self._bind(name, _Unavailable(line, SIMD_REASON, True))
            raise Skip(SIMD_REASON) from None
        self._bind(name, _Unavailable(line, f"the module of line {line} failed to load",
                                      False))
        raise Fail(f"module failed to load: {_describe(err)}") from None

    def register(self, cmd: script.Register) -> None:
        inst = self._instance(cmd.module)
        self.registry[cmd.as_name] = inst.exports

    # -- actions ---------------------------------------------------------------------------
    def _instance(self, name: str | None) -> Instance:
        inst = self.current if name is None else self.instances.get(name)
        if inst is None:
            raise Fail("no module to act on" if name is None else f"unknown module {name}")
        if isinstance(inst, _Unavailable):
            if inst.skip:
                raise Skip(inst.reason)
            raise Fail(inst.reason)
        return inst

    def perform(self, action: script.Action) -> Any:
        """Run an action; returns the API value (``None``, one value or a tuple)."""
        inst = self._instance(action.module)
        try:
            export = inst.exports[action.field]
        except KeyError:
            raise Fail(f"no export {action.field!r}") from None
        if isinstance(action, script.Get):
            return export.value
        args = [values.argument(a) for a in action.args]
        try:
            return export(*args)
        except CompileError as err:
            if _is_simd_error(err):
                raise Skip(SIMD_REASON) from None
            raise

    def action(self, cmd: script.ActionCommand) -> None:
        self.perform(cmd.action)

    def assert_return(self, cmd: script.AssertReturn) -> None:
        value = self.perform(cmd.action)
        got = values.as_results(value, len(cmd.results))
        if len(got) != len(cmd.results) or not all(
                values.matches(e, a) for e, a in zip(cmd.results, got)):
            expected = " ".join(values.show_expected(e) for e in cmd.results)
            actual = " ".join(values.show_actual(a, e) for a, e in
                              zip(got, cmd.results + (None,) * len(got)))
            raise Fail(f"expected {expected or '()'}, got {actual or '()'}")
        if any(isinstance(e, script.Either) for e in cmd.results):
            hints = [e.values[0] if isinstance(e, script.Either) else e for e in cmd.results]
            seen = " ".join(values.show_actual(a, h) for a, h in zip(got, hints))
            self.result.observed[f"line {cmd.line}: {seen}"] += 1

    def _expect_trap(self, action: script.Action, expected: str) -> None:
        try:
            value = self.perform(action)
        except Trap as err:
            if expected not in err.message:
                raise Fail(f"trapped with {err.message!r}, expected {expected!r}") from None
            return
        raise Fail(f"returned {values.show_actual(value)}, expected trap {expected!r}")

    def assert_trap(self, cmd: script.AssertTrap) -> None:
        self._expect_trap(cmd.action, cmd.message)

    def assert_exhaustion(self, cmd: script.AssertExhaustion) -> None:
        self._expect_trap(cmd.action, cmd.message)

    def assert_exception(self, cmd: script.AssertException) -> None:
        try:
            value = self.perform(cmd.action)
        except WasmException:
            return
        raise Fail(f"returned {values.show_actual(value)}, expected an exception")

    # -- module assertions -----------------------------------------------------------------
    def _expect_rejection(self, cmd: script.ModuleCommand, cls: type, expected: str) -> None:
        try:
            self.compile(cmd)
        except cls as err:
            if expected not in err.message:
                raise Fail(f"rejected with {err.message!r}, expected {expected!r}") from None
            return
        except CompileError as err:
            raise Fail(f"{type(err).__name__}: {err.message!r}, expected {cls.__name__} "
                       f"{expected!r}") from None
        raise Fail(f"accepted, expected {cls.__name__} {expected!r}")

    def assert_malformed(self, cmd: script.AssertMalformed) -> None:
        self._expect_rejection(cmd.module, MalformedError, cmd.message)

    def assert_invalid(self, cmd: script.AssertInvalid) -> None:
        self._expect_rejection(cmd.module, ValidationError, cmd.message)

    def _expect_instantiation_error(self, cmd: script.ModuleCommand, cls: type,
                                    expected: str) -> None:
        try:
            module = self.compile(cmd)
        except CompileError as err:
            if _is_simd_error(err):
                raise Skip(SIMD_REASON) from None
            raise Fail(f"module failed to compile: {_describe(err)}") from None
        try:
            self.instantiate(module)
        except cls as err:
            if expected not in err.message:
                raise Fail(f"{cls.__name__} {err.message!r}, expected {expected!r}") from None
            return
        except CompileError as err:
            if _is_simd_error(err):
                raise Skip(SIMD_REASON) from None
            raise
        raise Fail(f"instantiated, expected {cls.__name__} {expected!r}")

    def assert_unlinkable(self, cmd: script.AssertUnlinkable) -> None:
        self._expect_instantiation_error(cmd.module, LinkError, cmd.message)

    def assert_uninstantiable(self, cmd: script.AssertUninstantiable) -> None:
        self._expect_instantiation_error(cmd.module, Trap, cmd.message)

    # -- threads ---------------------------------------------------------------------------
    @property
    def thread_timeout(self) -> float:
        return self.timeout or THREAD_TIMEOUT

    def thread(self, cmd: script.Thread) -> None:
        name = cmd.name or f"line {cmd.line}"
        if name in self.threads:
            raise Fail(f"thread ${name} is already running")
        shared: dict[str, SharedStandIn] = {}
        for module in cmd.shared:
            shared[module] = stand_in(self._instance(module))
        thread = start_thread(name, cmd.line, self.source, self.features,
                              self.thread_timeout, shared, cmd.commands)
        self.started.append(thread)
        self.threads[name] = thread

    def wait(self, cmd: script.Wait) -> None:
        thread = self.threads.get(cmd.thread)
        if thread is None:
            raise Fail(f"unknown thread ${cmd.thread}")
        try:
            self._join(thread)
        finally:
            del self.threads[cmd.thread]

    def _join(self, thread: ScriptThread) -> None:
        """Wait for a thread and add its counts (its failures carry its label)."""
        timeout = self.thread_timeout + max(1.0, self.thread_timeout / 10)
        try:
            result = thread.join(timeout)
        except TimeoutError:
            raise Fail(f"{thread.label} did not finish within {timeout:g} s") from None
        except (KeyboardInterrupt, SystemExit, Timeout):
            raise
        except BaseException as err:
            raise Fail(f"{thread.label} failed: {_describe(err)}") from None
        self.result.merge(result, thread.label)

    def close(self, join: bool = True) -> None:
        """End the script: join the threads never waited for (``join``; else just end
        them), end every worker, and release the shared memories the script made."""
        try:
            while join and self.threads:
                name, thread = next(iter(self.threads.items()))
                try:
                    self._join(thread)
                except Fail as why:
                    self.fail(thread.line, "thread", str(why.args[0]))
                finally:
                    del self.threads[name]
        finally:
            self.threads.clear()
            for thread in self.started:
                thread.worker.terminate()
            self.started.clear()
            self._release_memories()

    def _release_memories(self) -> None:
        """Close the shared memories of this script's instances (unlinked by the owner)."""
        holders = [*self.instances.values(), self.current]
        exports = [h.exports for h in holders if isinstance(h, (Instance, SharedStandIn))]
        exports += list(self.registry.values())
        memories = {id(v): v for mapping in exports for v in mapping.values()
                    if isinstance(v, Memory)}
        for memory in memories.values():
            try:
                if memory.shared:
                    memory.close()
            except (BufferError, ValueError, OSError):
                pass            # already closed, or still viewed: released when collected


_NAMES = {
    script.ModuleCommand: "module", script.ModuleInstance: "module instance",
    script.Register: "register", script.AssertReturn: "assert_return",
    script.AssertTrap: "assert_trap", script.AssertExhaustion: "assert_exhaustion",
    script.AssertException: "assert_exception", script.AssertMalformed: "assert_malformed",
    script.AssertInvalid: "assert_invalid", script.AssertUnlinkable: "assert_unlinkable",
    script.AssertUninstantiable: "assert_uninstantiable", script.Thread: "thread",
    script.Wait: "wait",
}


def _command_name(cmd: script.Command) -> str:
    if isinstance(cmd, script.ActionCommand):
        act = cmd.action
        return f"{'invoke' if isinstance(act, script.Invoke) else 'get'} {act.field!r}"
    name = _NAMES.get(type(cmd), type(cmd).__name__)
    action = getattr(cmd, "action", None)
    if action is not None:
        name += f" {action.field!r}"
    return name


class _deadline:
    """Raises ``Timeout`` after ``seconds`` (no-op if None): in native code of any thread
    through the watchdog's interrupt, in Python code of the main thread through an alarm.

    An alarm already pending (a test harness's own timeout) is re-armed afterwards with
    the time it had left.
    """

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.armed = False
        self.token: int | None = None

    def __enter__(self) -> None:
        if not self.seconds:
            return
        self.token = watchdog.arm(self.seconds, Timeout)
        if threading.current_thread() is not threading.main_thread() \
                or not hasattr(signal, "setitimer"):
            return
        self.previous = signal.signal(signal.SIGALRM, self._expired)
        self.pending = signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self.start = time.monotonic()
        self.armed = True

    def __exit__(self, *exc) -> None:
        watchdog.disarm(self.token)
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
            delay, interval = self.pending
            if delay > 0:
                left = max(delay - (time.monotonic() - self.start), 0.001)
                signal.setitimer(signal.ITIMER_REAL, left, interval)

    @staticmethod
    def _expired(signum, frame) -> None:
        raise Timeout()


def run_script(text: str | bytes, source: str = "<script>",
               features: frozenset[str] = ALL_FEATURES,
               timeout: float | None = None) -> ScriptResult:
    """Parse and run one script; a script that does not parse is one failure."""
    start = time.perf_counter()
    runner = ScriptRunner(source, features, timeout)
    try:
        commands = script.parse_script(text, source)
    except CompileError as err:
        runner.fail(getattr(err, "line", 0) or 0, "script", f"does not parse: {err}")
    else:
        try:
            runner.run(commands)
        except BaseException:
            runner.close(join=False)
            raise
        runner.close()
    runner.result.seconds = time.perf_counter() - start
    return runner.result


def run_file(path: str | Path, features: frozenset[str] | None = None,
             timeout: float | None = None, name: str | None = None) -> ScriptResult:
    """Run one ``.wast`` file, with the features of its suite folder unless given."""
    path = Path(path)
    chosen = features_for(path) if features is None else features
    return run_script(path.read_bytes(), name or str(path), chosen, timeout)
