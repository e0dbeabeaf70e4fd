"""The project's own modules import each other without cycles, counting every import statement.

The graph is read from source with `ast`, not from `sys.modules`, so imports under
`if TYPE_CHECKING:` and inside function bodies count too: each is a real dependency, and a cycle
hidden behind one is still a cycle a reader has to hold in their head.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "devhost", "blobcopy", "demo", "bench")
TOP_LEVEL_MODULES = ("function_app.py",)

Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    """The dotted name a file is imported as (a package's `__init__.py` is the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Every module of the project, by dotted name."""
    files = [ROOT / name for name in TOP_LEVEL_MODULES if (ROOT / name).is_file()]
    for package in PACKAGES:
        if (ROOT / package).is_dir():
            files.extend(sorted((ROOT / package).rglob("*.py")))
    return {module_name(path): path for path in files}


def imported_modules(tree: ast.Module, name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules that the import statements anywhere in a module's tree refer to.

    `import a.b.c` and `from a.b import c` (c a module) depend on a.b.c; `from a.b import name`
    (name defined in a/b/__init__.py) depends on a.b. Running a package's `__init__` on the way
    to a submodule is not counted, as import-linter and pydeps do not count it either.
    """
    is_package = modules[name].name == "__init__.py" if name in modules else False
    package = name if is_package else name.rpartition(".")[0]
    found: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(resolve(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base = ".".join(base_parts[: len(base_parts) - node.level + 1])
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                found.add(submodule if submodule in modules else resolve(origin, modules))
    return {module for module in found if module is not None and module != name}


def resolve(dotted: str, modules: dict[str, Path]) -> str | None:
    """The project module a dotted name lands in (its longest importable prefix), if any."""
    parts = dotted.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph() -> Graph:
    """Module -> the project modules it imports (self-imports left out)."""
    modules = project_modules()
    graph: Graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = imported_modules(tree, name, modules)
    return graph


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def describe(component: list[str], graph: Graph) -> str:
    """A component's modules and the imports that tie them together."""
    members = set(component)
    edges = [
        f"    {source} -> {target}"
        for source in component
        for target in sorted(graph[source] & members)
    ]
    return f"cycle among {', '.join(component)}:\n" + "\n".join(edges)


def test_the_walker_sees_imports_hidden_behind_type_checking_and_in_functions() -> None:
    """The graph has edges for TYPE_CHECKING-only and function-local imports, not just top ones."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from devhost.storage import engine\n"
        "def later():\n"
        "    from . import stack\n"
        "    import shared.errors\n"
    )
    tree = ast.parse(source)
    modules = project_modules()
    targets = imported_modules(tree, "devhost.storage.copies", modules)
    assert {"devhost.storage.engine", "devhost.storage.stack", "shared.errors"} <= targets


def test_the_graph_covers_every_package_of_the_project() -> None:
    """Each of the project's packages and function_app.py appear in the import graph."""
    graph = import_graph()
    for package in ("shared", "devhost", "blobcopy", "demo"):
        assert any(name.startswith(f"{package}.") for name in graph), package
    assert "function_app" in graph


def test_no_import_cycles_among_the_projects_own_modules() -> None:
    """No module of the project imports, directly or through others, a module that imports it."""
    graph = import_graph()
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles found:\n" + "\n".join(describe(c, graph) for c in cycles)
