"""The imports obey the layers (``pipetune/_layers.py``): no module imports from a higher
layer, none joins an import cycle, every module is placed, and what the layers keep apart
stays apart. Every import counts: type-only ones, those inside functions, a package's
``__init__``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipetune import _layers

PACKAGE = Path(__file__).resolve().parent.parent / "pipetune"


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its ``__init__``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("pipetune",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported pipetune module, line) for every import statement of the module. ``from X
    import name`` imports the module ``X.name`` when there is one (a submodule), else ``X``
    (a name it defines); ``import X.Y`` imports ``X.Y``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "pipetune" or alias.name.startswith("pipetune."):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source != "pipetune" and not source.startswith("pipetune."):
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                yield (submodule if submodule in MODULES else source), node.lineno


def _graph() -> dict[str, dict[str, int]]:
    """module -> imported module -> the line of the first such import."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in MODULES.items():
        edges: dict[str, int] = {}
        for imported, line in _imports(module, path):
            assert imported in MODULES, f"{path}:{line} imports {imported}, which does not exist"
            if imported != module:
                edges.setdefault(imported, line)
        graph[module] = edges
    return graph


GRAPH = _graph()


def _unlayered(module: str) -> bool:
    return module == "pipetune" or any(
        module == name or module.startswith(name + ".") for name in _layers.UNLAYERED[1:])


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}"


def test_every_module_has_a_layer():
    unplaced = [module for module in MODULES
                if not _unlayered(module) and _layers.layer_of(module) is None]
    assert not unplaced, f"place these modules in pipetune/_layers.py: {unplaced}"


def test_no_module_imports_from_a_higher_layer():
    upward = []
    for module, edges in GRAPH.items():
        if _unlayered(module):
            continue
        layer = _layers.layer_of(module)
        for imported, line in edges.items():
            if _unlayered(imported):  # the root's re-exports or the contract suites
                upward.append(f"{_where(module, line)} imports {imported} (unlayered: import "
                              "the module that defines the name)")
            elif _layers.layer_of(imported) > layer:
                upward.append(f"{_where(module, line)} (layer {layer}) imports {imported} "
                              f"(layer {_layers.layer_of(imported)})")
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def _cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in GRAPH[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("importer, imported", _layers.SEPARATE)
def test_what_the_layers_keep_apart_stays_apart(importer: str, imported: str):
    crossing = [f"{_where(module, line)} imports {target}"
                for module, edges in GRAPH.items() if _covers(importer, module)
                for target, line in edges.items() if _covers(imported, target)]
    assert not crossing, f"{importer} must not import {imported}:\n" + "\n".join(crossing)


def _covers(name: str, module: str) -> bool:
    return module == name or module.startswith(name + ".")


def test_the_analysis_sees_type_only_and_function_level_imports():
    """The graph is only as good as the parser: an import under TYPE_CHECKING and one inside
    a function both show (``execution/loop.py`` names the run interface only for types;
    ``study.py`` imports the optimize loop where it is called)."""
    assert "pipetune.execution.interface" in GRAPH["pipetune.execution.loop"]
    assert "pipetune.execution.optimize" in GRAPH["pipetune.study"]
