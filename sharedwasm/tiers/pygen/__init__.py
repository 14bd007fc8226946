"""The portable tier: each wasm function compiled to Python source and exec'd."""
from .module import LOWERINGS, CompiledModule, compile_module

__all__ = ["CompiledModule", "compile_module", "LOWERINGS"]
