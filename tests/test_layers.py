"""The package's layers import one way: engine ← sweep ← analysis ← interfaces.

Read from the source with ``ast`` (nothing is imported), so a new import that runs
against the flow fails here with the file and the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[1] / "sim"

#: Shared helpers every layer may use.
BASE = {"sim", "sim.schema", "sim.files", "sim.formatting"}

#: What each layer may import besides itself and :data:`BASE`.
ALLOWED = {
    "engine": set(),
    "sweep": {"engine"},
    "analysis": {"engine", "sweep"},
    "theory": {"engine"},
    "validation": {"engine", "theory", "analysis", "sweep"},
    "explore": {"engine", "analysis"},
    "cli": {"engine", "sweep", "analysis", "theory", "validation", "explore"},
    "__main__": {"cli"},
    "__init__": {"engine", "sweep"},
}


def _layer(module: str) -> str | None:
    """``sim.engine.model`` → ``engine``; ``sim.files`` → None (a shared helper)."""
    if module in BASE:
        return None
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "sim" else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "sim":  # from sim import engine → sim.engine
                found += [(node.lineno, f"sim.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name == "sim" or name.startswith("sim.")]


FILES = sorted(SIM.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SIM.parent)))
def test_imports_follow_the_layers(path):
    rel = path.relative_to(SIM)
    own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
    if own in {"schema", "files", "formatting"}:
        allowed: set[str] = set()
    else:
        assert own in ALLOWED, f"{rel}: a new layer? add it to ALLOWED"
        allowed = ALLOWED[own]
    wrong = [
        f"{rel}:{line} imports {name}"
        for line, name in _imports(path)
        if (layer := _layer(name)) is not None and layer != own and layer not in allowed
    ]
    assert not wrong, "\n".join(wrong)


def test_shared_helpers_import_no_layer():
    for name in ("schema", "files", "formatting"):
        layers = {_layer(m) for _, m in _imports(SIM / f"{name}.py")} - {None}
        assert not layers, f"sim/{name}.py imports {layers}"


def test_no_theory_module_imports_plots():
    for path in (SIM / "theory").glob("*.py"):
        names = [m for _, m in _imports(path)]
        assert not [m for m in names if m.startswith("sim.analysis")], path.name
