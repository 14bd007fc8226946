"""The LLVM side of the native tier: one target machine, one ORC LLJIT per process.

``compile_ir`` parses the IR a module lowering produced, optimizes it with the new pass
manager at ``SHAREDWASM_NATIVE_OPT`` (LLVM's speed level: 0 no passes, 1 the default, 2,
3), emits an object and links it into a fresh JIT library. LLVM's inliner is off at every
level: a wasm producer has inlined already, and on the real-world modules inlining again
only cost compile time (and made code slower at level 1). Level 1 then compiles 22 %
faster than level 2 for code that runs as fast (within 3 % on the benchmarks); level 0
takes a third of that time for code 2-3x slower. The target machine always generates code
at its highest level: lower ones take as long, except 0, whose code is twice as slow. Code
is generated for this machine's CPU, its name and features (AVX-512 lets the vectorizer
turn 64-bit multiplications into vector code, for instance), which is why they are part of
``compat_key``. The returned ``Library`` owns llvmlite's resource tracker: the machine
code stays mapped exactly as long as the ``Library`` lives, so every object holding one of
its function pointers keeps a reference to it. Nothing is ever disposed explicitly
(disposing an engine whose code may still run crashes the process).

``load_object`` links an object emitted earlier (by another process, or read from the disk
cache) without lowering or optimizing again; it is only valid where ``compat_key()`` equals
the key of the process that emitted it: same llvmlite and LLVM, target, host CPU, optimizer
level and native compiler sources.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import threading
from pathlib import Path

__all__ = ["Library", "compile_ir", "load_object", "compat_key", "available",
           "unavailable_reason", "OPT_LEVEL"]

OPT_LEVEL = int(os.environ.get("SHAREDWASM_NATIVE_OPT", "1"))

_lock = threading.Lock()
_state: dict = {}
_names = itertools.count()

try:
    import llvmlite.binding as _llvm
    _IMPORT_ERROR = ""
except ImportError as err:          # the native tier is optional
    _llvm = None
    _IMPORT_ERROR = f"llvmlite is not importable ({err})"


def available() -> bool:
    return _llvm is not None


def unavailable_reason() -> str:
    return _IMPORT_ERROR


def _setup() -> dict:
    if not _state:
        _llvm.initialize_native_target()
        _llvm.initialize_native_asmprinter()
        target = _llvm.Target.from_default_triple()
        tm = target.create_target_machine(cpu=_llvm.get_host_cpu_name(),
                                          features=_llvm.get_host_cpu_features().flatten(),
                                          opt=3, codemodel="jitdefault")
        _state["tm"] = tm
        _state["triple"] = _llvm.get_process_triple()
        _state["layout"] = str(tm.target_data)
        _state["jit"] = _llvm.create_lljit_compiler(tm)
    return _state


def triple_and_layout() -> tuple[str, str]:
    """What every generated ``ir.Module`` declares (so the optimizer knows the target)."""
    with _lock:
        st = _setup()
    return st["triple"], st["layout"]


class Library:
    """Linked machine code: ``address(symbol)``; keep it alive while pointers are used."""

    __slots__ = ("name", "tracker", "addresses", "object_code")

    def __init__(self, name: str, tracker, addresses: dict[str, int], object_code: bytes):
        self.name = name
        self.tracker = tracker
        self.addresses = addresses
        self.object_code = object_code

    def address(self, symbol: str) -> int:
        return self.addresses[symbol]

    def __repr__(self) -> str:
        return f"<native Library {self.name} symbols={len(self.addresses)}>"


def compile_ir(ir_text: str, exports: list[str], opt: int | None = None) -> Library:
    """Optimize and link ``ir_text``; the addresses of ``exports`` are looked up."""
    level = OPT_LEVEL if opt is None else opt
    with _lock:
        st = _setup()
        mod = _llvm.parse_assembly(ir_text)
        mod.verify()
        _optimize(st["tm"], mod, level)
        obj = st["tm"].emit_object(mod)
        return _link(st, obj, exports)


def _optimize(tm, mod, level: int) -> None:
    if level > 0:
        pto = _llvm.create_pipeline_tuning_options(speed_level=min(level, 3))
        pto.inlining_threshold = 0
        pb = _llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)


def load_object(obj: bytes, exports: list[str]) -> Library:
    """Link an object ``compile_ir`` emitted (in a process with the same ``compat_key``)."""
    with _lock:
        return _link(_setup(), obj, exports)


def _link(st: dict, obj: bytes, exports: list[str]) -> Library:
    name = f"sharedwasm{next(_names)}"
    builder = _llvm.JITLibraryBuilder().add_object_img(obj)
    for sym in exports:
        builder.export_symbol(sym)
    tracker = builder.link(st["jit"], name)
    addresses = {sym: tracker[sym] for sym in exports}
    return Library(name, tracker, addresses, obj)


def compat_key() -> str:
    """What an object's validity depends on besides the module, as one short digest."""
    with _lock:
        st = _setup()
        key = st.get("key")
        if key is None:
            import llvmlite
            parts = [llvmlite.__version__, ".".join(map(str, _llvm.llvm_version_info)),
                     st["triple"], st["layout"], _llvm.get_host_cpu_name(),
                     _llvm.get_host_cpu_features().flatten(), str(OPT_LEVEL),
                     _compiler_digest()]
            key = st["key"] = hashlib.blake2b("\n".join(parts).encode(),
                                              digest_size=16).hexdigest()
    return key


def _compiler_digest() -> str:
    """A digest of this package's sources: any change to the lowering changes the key."""
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
