"""The package's floors: the ground floor (core/, store/, models/, with the catalog and the file
contracts beside them) imports no stage package, so a stage can be read, tested and replaced
without the others (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "src" / "cosmos_bench"
#: what each ground-floor package may import from cosmos_bench
ALLOWED = {
    "core": {"core"},
    "store": {"core", "contracts", "store"},
    "models": {"core", "models", "catalog", "contracts"},
}


def imported(path: Path) -> set[str]:
    """The cosmos_bench subpackages a module imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("cosmos_bench.")}
    return found


def test_no_ground_floor_module_imports_a_stage() -> None:
    upward = {
        str(path.relative_to(PACKAGE)): sorted(imported(path) - allowed)
        for floor, allowed in ALLOWED.items()
        for path in sorted((PACKAGE / floor).rglob("*.py"))
        if imported(path) - allowed
    }
    assert upward == {}


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from cosmos_bench.infer.job import main\n")
    assert imported(module) == {"infer"}
