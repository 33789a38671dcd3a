"""Dependencies point one way (docs/architecture.md): checked on the source, not trusted."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "zwm"

# package -> module prefixes it must never import
FORBIDDEN = {
    "zuora": ("django", "zwm.catalog", "zwm.queue", "zwm.ops", "zwm.web", "zwm.cli", "zwm.settings"),
    "zuora/simulator": ("zwm.zuora.client", "zwm.zuora.auth", "zwm.zuora._retry", "zwm.catalog", "zwm.queue"),
    "queue": ("zwm.zuora", "zwm.catalog", "zwm.ops", "zwm.web", "zwm.cli"),
    "catalog": ("zwm.ops", "zwm.web", "zwm.cli"),
    "ops": ("zwm.web", "zwm.cli"),
    "web": ("zwm.ops", "zwm.cli"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_what_sits_above_it(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no source files under {package}"
    offenders = [
        f"{path.relative_to(SRC)} imports {module}"
        for path in files
        for module in sorted(imported_modules(path))
        if any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN[package])
    ]
    assert offenders == []


def _imported_submodules(path: Path) -> set[str]:
    """Like :func:`imported_modules`, also counting ``from pkg import module`` and
    ``importlib.import_module("literal")`` (a lazy import is still a dependency)."""
    names = imported_modules(path)
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# Late imports that are the public surface, not layering: ``Job(...).dispatch()`` is the
# Laravel-style shorthand for ``dispatch(job)``, imported when called.
ALLOWED_EDGES = {("zwm.queue.job", "zwm.queue.dispatch")}


def _import_cycle(package: str) -> list[str] | None:
    """A cycle among the modules of ``package`` (function-level imports included), if any.

    ``from zwm.queue import history`` counts as importing ``zwm.queue.history``; the
    package's ``__init__`` is not a target (it only re-exports).
    """
    paths = {_module_name(p): p for p in (SRC / package).rglob("*.py") if "migrations" not in p.parts}
    graph = {
        name: sorted(
            m
            for m in _imported_submodules(path)
            if m in paths and m != name and m != f"zwm.{package}" and (name, m) not in ALLOWED_EDGES
        )
        for name, path in paths.items()
    }
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = "open"
        stack.append(name)
        for target in graph[name]:
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_the_queue_package_has_no_import_cycle() -> None:
    cycle = _import_cycle("queue")
    assert cycle is None, " -> ".join(cycle or [])
