"""The package's shape, checked: no import cycles, and the layers point one way.

Every module of ``deploytui`` is parsed with :mod:`ast`, not imported, and every import counts: at
module level or inside a function, under ``if TYPE_CHECKING:``, absolute or relative, and
``import_module("deploytui.…")`` with a literal name (how ``cli.py`` picks a command). An import
only a type checker follows is still a dependency a reader has to follow, so it may not close a
circle either. Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``; those implicit
parent imports are not edges (a package re-exporting its own modules is not a cycle).

The layers (docs/ARCHITECTURE.md): ``tui -> client -> protocol``, ``commands -> client -> protocol``,
``server -> protocol``; ``config`` (contexts, connection settings) sits on ``client``; the one
crossing is the data-only ``server/demos`` module, read by ``tui`` and ``commands``; only ``cli.py``
imports ``tui``, and only inside a function; nothing headless imports Textual.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import deploytui

PACKAGE = "deploytui"
PACKAGE_DIR = Path(deploytui.__file__).parent

# Which layers each layer may import (besides the root package's data: __version__).
ALLOWED = {
    "deploytui": set(),
    "deploytui.protocol": {"deploytui.protocol"},
    "deploytui.client": {"deploytui.client", "deploytui.protocol"},
    "deploytui.config": {"deploytui.client", "deploytui.protocol"},
    "deploytui.commands": {"deploytui.commands", "deploytui.config", "deploytui.client", "deploytui.protocol",
                           "deploytui.server.demos"},
    "deploytui.server": {"deploytui.server", "deploytui.protocol"},
    "deploytui.server.demos": {"deploytui.server.demos"},
    "deploytui.tui": {"deploytui.tui", "deploytui.config", "deploytui.client", "deploytui.protocol",
                      "deploytui.server.demos"},
    # The entry points start everything; they are held only to the lazy tui import below.
    "deploytui.cli": set(),
    "deploytui.__main__": set(),
}
ENTRY_POINTS = {"deploytui.cli", "deploytui.__main__"}
HEADLESS = {"deploytui", "deploytui.protocol", "deploytui.client", "deploytui.config", "deploytui.commands",
            "deploytui.server", "deploytui.server.demos"}


@dataclass(frozen=True)
class Import:
    """One import statement's target as seen from ``source`` (line ``line``; ``lazy``: in a function)."""

    source: str
    target: str
    line: int
    lazy: bool

    def __str__(self) -> str:
        return f"{self.source}:{self.line} -> {self.target}{' (in a function)' if self.lazy else ''}"


@cache
def modules() -> dict[str, Path]:
    """Every importable module of the package by dotted name (folders without ``__init__.py``,
    such as the demo components' files, hold data, not modules)."""
    found: dict[str, Path] = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        folders = [PACKAGE_DIR.parent.joinpath(*parts[:depth]) for depth in range(1, len(parts))]
        if not all((folder / "__init__.py").is_file() for folder in folders):
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


class _Collector(ast.NodeVisitor):
    """Collects the imports of one module, with whether each sits inside a function."""

    def __init__(self, name: str, is_package: bool) -> None:
        self.name = name
        self.package = name if is_package else name.rpartition(".")[0]
        self.found: list[Import] = []
        self.strings: list[tuple[str, int]] = []
        self.import_module_calls: list[bool] = []  # lazy, per call
        self._depth = 0

    def _add(self, target: str, node: ast.AST) -> None:
        self.found.append(Import(self.name, target, node.lineno, self._depth > 0))  # type: ignore[attr-defined]

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        known = modules()
        names_from_module = False
        for alias in node.names:
            submodule = f"{module}.{alias.name}"
            if submodule in known:
                self._add(submodule, node)
            else:
                names_from_module = True
        if names_from_module:
            self._add(module, node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if called == "import_module":
            self.import_module_calls.append(self._depth > 0)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value in modules():
            self.strings.append((node.value, node.lineno))

    def imports(self) -> list[Import]:
        """The static imports, plus the package's module names given to ``import_module`` (lazy when
        every such call is in a function)."""
        if self.import_module_calls:
            lazy = all(self.import_module_calls)
            self.found += [Import(self.name, target, line, lazy) for target, line in self.strings]
        return self.found


@cache
def all_imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for name, path in sorted(modules().items()):
        collector = _Collector(name, path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found += collector.imports()
    return tuple(found)


def internal_graph() -> dict[str, dict[str, Import]]:
    """``{module: {imported module of the package: the first such import}}``, self-imports left out."""
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules()}
    for imp in all_imports():
        if imp.target in graph and imp.target != imp.source:
            graph[imp.source].setdefault(imp.target, imp)
    return graph


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """The groups of modules that import each other in a circle (Tarjan; groups of one left out)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def layer_of(module: str) -> str:
    """The longest layer name that is ``module`` or a package holding it ("" outside the package)."""
    return max((layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")), key=len, default="")


def is_textual(target: str) -> bool:
    return target == "textual" or target.startswith("textual.")


def layer_violations(imports: tuple[Import, ...]) -> list[str]:
    """The imports of the package's modules that point against the layers (entry points aside)."""
    wrong = []
    for imp in imports:
        source_layer = layer_of(imp.source)
        if source_layer in ENTRY_POINTS or imp.target not in modules():
            continue
        if layer_of(imp.target) not in ALLOWED[source_layer] | {PACKAGE}:
            wrong.append(f"{imp}  ({source_layer} may import only {sorted(ALLOWED[source_layer])})")
    return wrong


def tui_import_violations(imports: tuple[Import, ...]) -> list[str]:
    """Imports of the dashboard from outside it, but for cli.py's inside a function."""
    return [str(imp) for imp in imports
            if imp.target in modules() and layer_of(imp.target) == "deploytui.tui"
            and layer_of(imp.source) != "deploytui.tui" and not (imp.source == "deploytui.cli" and imp.lazy)]


def textual_violations(imports: tuple[Import, ...]) -> list[str]:
    return [str(imp) for imp in imports if layer_of(imp.source) in HEADLESS and is_textual(imp.target)]


# ---------------------------------------------------------------------- the checker checks itself


def test_the_collector_sees_every_kind_of_import() -> None:
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from . import config\n"                     # a sibling module, relative
        "from .protocol.events import parse_event\n"  # a name from a module, relative
        "if TYPE_CHECKING:\n"
        "    from deploytui.client.api import OperationsClient\n"
        "def later():\n"
        "    import deploytui.tui.app\n"
        "    from importlib import import_module\n"
        "    return import_module('deploytui.commands.list_cmd')\n"
    )
    collector = _Collector("deploytui.cli", is_package=False)
    collector.visit(ast.parse(source))
    seen = {(imp.target, imp.lazy) for imp in collector.imports() if imp.target.startswith(PACKAGE)}
    assert seen == {
        ("deploytui.config", False),
        ("deploytui.protocol.events", False),
        ("deploytui.client.api", False),
        ("deploytui.tui.app", True),
        ("deploytui.commands.list_cmd", True),
    }


def test_the_cycle_finder_finds_a_circle_through_three_modules() -> None:
    edge = Import("x", "y", 1, False)
    graph = {"a": {"b": edge}, "b": {"c": edge}, "c": {"a": edge}, "d": {"a": edge}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b": edge}, "b": {}}) == []


def test_the_rules_flag_imports_against_the_layers() -> None:
    def imp(source: str, target: str, lazy: bool = False) -> Import:
        return Import(source, target, 1, lazy)

    against = (imp("deploytui.server.engine", "deploytui.client.api"), imp("deploytui.protocol.events", "deploytui.client.api"),
               imp("deploytui.client.api", "deploytui.config"), imp("deploytui.commands.list_cmd", "deploytui.server.app"),
               imp("deploytui.server.demos", "deploytui.server.store"), imp("deploytui.tui.app", "deploytui.commands.common"))
    assert len(layer_violations(against)) == len(against)
    along = (imp("deploytui.tui.app", "deploytui.client.api"), imp("deploytui.commands.demo_cmd", "deploytui.server.demos"),
             imp("deploytui.server.app", "deploytui.protocol.events"), imp("deploytui.config", "deploytui.client.api"),
             imp("deploytui.server.app", "deploytui"), imp("deploytui.cli", "deploytui.server.runner"))
    assert layer_violations(along) == []
    assert len(tui_import_violations((imp("deploytui.cli", "deploytui.tui.launch"),
                                      imp("deploytui.commands.common", "deploytui.tui.app", lazy=True)))) == 2
    assert tui_import_violations((imp("deploytui.cli", "deploytui.tui.launch", lazy=True),)) == []
    assert len(textual_violations((imp("deploytui.client.render", "textual.app"), imp("deploytui.tui.app", "textual")))) == 1


def test_every_module_is_seen() -> None:
    names = modules()
    for expected in ("deploytui", "deploytui.cli", "deploytui.protocol.events", "deploytui.client.api",
                     "deploytui.server.app", "deploytui.server.demos", "deploytui.tui.app"):
        assert expected in names
    assert not any(".demos.hello" in name for name in names)  # a demo's install.py is data


# ---------------------------------------------------------------------- the package


def test_no_import_cycles() -> None:
    graph = internal_graph()
    cycles = strongly_connected(graph)
    report = []
    for group in cycles:
        members = set(group)
        edges = [str(imp) for name in group for target, imp in sorted(graph[name].items()) if target in members]
        report.append(f"{', '.join(group)}:\n    " + "\n    ".join(edges))
    assert not cycles, "modules that import each other in a circle:\n  " + "\n  ".join(report)


def test_layers_point_one_way() -> None:
    wrong = layer_violations(all_imports())
    assert not wrong, "imports against the layers:\n  " + "\n  ".join(wrong)


def test_only_cli_imports_the_tui_and_only_in_a_function() -> None:
    wrong = tui_import_violations(all_imports())
    assert not wrong, "the dashboard is opened only by cli.py, lazily:\n  " + "\n  ".join(wrong)
    assert any(imp.source == "deploytui.cli" and layer_of(imp.target) == "deploytui.tui" for imp in all_imports())


def test_nothing_headless_imports_textual() -> None:
    wrong = textual_violations(all_imports())
    assert not wrong, "Textual is the dashboard's alone:\n  " + "\n  ".join(wrong)
