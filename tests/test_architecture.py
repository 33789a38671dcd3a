"""Dependencies point one way (docs/architecture.md): checked on the source, not trusted."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "zwm"

# package -> module prefixes it must never import
FORBIDDEN = {
    "zuora": ("django", "zwm.catalog", "zwm.queue", "zwm.ops", "zwm.cli", "zwm.settings"),
    "zuora/simulator": ("zwm.zuora.client", "zwm.zuora.auth", "zwm.zuora._retry", "zwm.catalog", "zwm.queue"),
    "queue": ("zwm.zuora", "zwm.catalog", "zwm.ops", "zwm.cli"),
    "catalog": ("zwm.ops", "zwm.cli"),
    "ops": ("zwm.web", "zwm.cli"),
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
