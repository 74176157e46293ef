"""The package's layers: no module imports (at the top or inside a function) from a layer above its own, and no
module imports another module's private name. Lower layers know nothing of the ones above them, so that the
evaluation code, say, never needs the command line."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "byol_pkg"

#: Bottom to top. A module may import from its own layer and the ones below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors", "io", "progress", "runtime"),  # no domain knowledge
    ("metrics", "loss", "schedules", "optim", "objectives"),  # the paper's formulas
    ("data", "models"),  # datasets and their records; networks
    ("config",),  # the typed pretraining config (its data.name choices come from the dataset records)
    ("augment",),  # the views of a config
    ("train",),  # pretraining
    ("eval",),  # the evaluation protocols
    ("report",),  # tables and plots from result records
    ("cli", "__main__"),  # the command line
)
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def _imports(path: Path):
    """``(line, imported top-level part, names)`` of every relative import in ``path``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = list(parts[:-1])[: len(parts) - node.level] if node.level > 1 else list(parts[:-1])
            target = base + (node.module.split(".") if node.module else [])
            yield node.lineno, (target[0] if target else "__init__"), [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("byol_pkg."):
                    yield node.lineno, alias.name.split(".")[1], []


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_has_a_layer():
    tops = {p.relative_to(PACKAGE).with_suffix("").parts[0] for p in _modules()}
    assert tops <= set(LEVEL), tops - set(LEVEL)


def test_no_module_imports_from_a_layer_above():
    upward = []
    for path in _modules():
        own = path.relative_to(PACKAGE).with_suffix("").parts[0]
        for line, target, _ in _imports(path):
            if LEVEL[target] > LEVEL[own]:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} ({own}) imports {target}")
    assert upward == []


def test_no_private_name_is_imported_across_modules():
    private = [f"{path.relative_to(PACKAGE)}:{line} imports {name}" for path in _modules()
               for line, _, names in _imports(path) for name in names
               if name.startswith("_") and not name.startswith("__")]
    assert private == []
