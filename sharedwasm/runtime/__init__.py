"""L3: runtime structures: numerics, traps, memories, tables, globals, tags, instances."""
from .exceptions import ExceptionInst, TagInst, WasmThrow
from .funcs import HostFunc, is_function
from .globals import GlobalInst, default_value
from .instance import ModuleInstance, invoke, results_of
from .memory import MemoryInst
from .table import TableInst
from .traps import Trap

__all__ = ["ExceptionInst", "TagInst", "WasmThrow", "HostFunc", "is_function", "GlobalInst",
           "default_value", "ModuleInstance", "invoke", "results_of", "MemoryInst",
           "TableInst", "Trap"]
