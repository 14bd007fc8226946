"""The layer order of docs/architecture.md: a module never imports from a higher layer.

Imports are read with ``ast`` (nothing is executed), relative ones resolved against the
importing module's package; imports inside functions count too, since lazy imports would
otherwise hide a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sharedwasm"

#: top-level part of the package -> layer (docs/architecture.md)
LAYERS = {
    "errors": 0, "spec": 0,
    "binary": 1, "text": 1,
    "valid": 2,
    "runtime": 3,
    "tiers": 4,
    "api": 5,
    "concurrency": 6,
    "wasi": 6,
    # the tools on top: the script runner drives the engine through the public API
    "spectest": 7, "cli": 7, "__main__": 7, "__init__": 7,
}
#: siblings of one layer that must not know each other (the two formats stay independent)
INDEPENDENT = {("binary", "text"), ("text", "binary")}


def _part(module: str) -> str | None:
    """``sharedwasm.binary.decode`` -> ``binary``; None outside the package."""
    pieces = module.split(".")
    if pieces[0] != "sharedwasm":
        return None
    return pieces[1] if len(pieces) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    return _imports_of(path.read_text(encoding="utf-8"), _module_name(path),
                       path.name == "__init__.py")


def _imports_of(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    here = module.split(".")
    package = here if is_package else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # ``from . import x`` may name a submodule: check it as well
            found += [(node.lineno, f"{name}.{a.name}") for a in node.names
                      if not node.module and a.name != "*"]
    return found


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_part_has_a_layer():
    parts = {_part(_module_name(p)) for p in _sources()}
    unknown = parts - set(LAYERS)
    assert not unknown, f"add these to docs/architecture.md and LAYERS: {sorted(unknown)}"


def _violations(imports: list[tuple[int, str]], mine: str) -> list[str]:
    wrong = []
    for line, name in imports:
        theirs = _part(name)
        if theirs is None or theirs == mine or theirs not in LAYERS:
            continue
        if LAYERS[theirs] > LAYERS[mine] or (mine, theirs) in INDEPENDENT:
            wrong.append(f"line {line}: {mine} (L{LAYERS[mine]}) imports {name} "
                         f"(L{LAYERS[theirs]})")
    return wrong


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_downward(path: Path):
    wrong = _violations(_imports(path), _part(_module_name(path)))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("source", [
    "from ..api.module import Module",
    "from .. import api",
    "import sharedwasm.valid.validate",
    "def late():\n    from ..text import parser",
])
def test_the_checker_sees_a_wrong_import(source: str):
    """Relative, absolute and function-level upward imports are all caught."""
    imports = _imports_of(source, "sharedwasm.binary.decode", False)
    assert _violations(imports, "binary"), imports


def test_the_checker_allows_downward_imports():
    source = "from ..spec import opcodes\nfrom ..errors import CompileError\nfrom . import leb128"
    imports = _imports_of(source, "sharedwasm.binary.decode", False)
    assert imports and not _violations(imports, "binary")
