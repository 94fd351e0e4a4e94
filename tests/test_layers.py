"""The project's imports point one way: pure modules <- the scheduler's ORM layer <- edges.

Every import counts, including those inside functions. A cycle among the project's modules,
or an import from a lower layer into a higher one, fails here with the modules named.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("hbsite", "scheduler", "frontend", "hbclient")

PURE = {
    "scheduler.command", "scheduler.hyperband", "scheduler.metric_values", "scheduler.plan_table",
    "scheduler.planning",
    "scheduler.space", "scheduler.space_errors", "scheduler.space_kinds", "scheduler.space_parse",
    "scheduler.space_sampling", "scheduler.space_traps", "scheduler.spec", "scheduler.spec_fields",
    "scheduler.spec_hptuning", "scheduler.spec_limits", "scheduler.spec_templates",
    "scheduler.spec_types", "scheduler.spec_bo", "scheduler.bayes", "scheduler.yamlsource",
    "scheduler.webhook_http", "scheduler.webhook_messages", "scheduler.tags", "scheduler.notes",
    "scheduler.importance",
    "hbclient", "hbclient.client",
}  # fmt: skip
# The edges: Celery tasks, the API, management commands, pages, consumers and the project.
EDGE_PREFIXES = ("scheduler.tasks", "scheduler.api", "scheduler.management", "frontend", "hbsite")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """Return the project modules that one module imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            targets.update(submodules or {base})
    return {t for t in targets if t in known and t != name}


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imported(name, path, known) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer(name: str) -> int:
    """0: pure, 1: the scheduler's ORM layer, 2: an edge."""
    if name in PURE:
        return 0
    if name.startswith(EDGE_PREFIXES):
        return 2
    return 1


def test_it_finds_the_project_modules_and_their_imports() -> None:
    edges = graph()
    assert "scheduler.scheduling" in edges["scheduler.tasks"]
    assert "scheduler.stored" in edges["scheduler.scheduling"]


def test_it_detects_a_cycle_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_takes_part_in_an_import_cycle() -> None:
    assert cycles(graph()) == []


def test_imports_never_point_up_a_layer() -> None:
    upward = [
        f"{name} -> {target}"
        for name, targets in graph().items()
        for target in targets
        if layer(target) > layer(name) and not name.startswith("hbsite")
    ]
    assert upward == []
