"""Structure the plug-in design relies on (issue 7): checked on the source, so a regression fails CI."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from interlingua import registry

SRC = Path(__file__).resolve().parents[1] / "src" / "interlingua"


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return names


def test_no_source_file_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long


def test_models_and_evaluation_do_not_import_training():
    bad = {str(p.relative_to(SRC)): m for folder in ("models", "evaluation") for p in (SRC / folder).rglob("*.py")
           for m in _imports(p) if m.startswith("interlingua.training")}
    assert not bad, bad


def test_training_and_data_name_no_objective():
    """Objectives declare their data and heads; the trainer and the loaders never special-case one by name."""
    names = registry.names("objective")
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    hits = [f"{p.relative_to(SRC)}:{i}" for folder in ("training", "data") for p in (SRC / folder).rglob("*.py")
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not hits, hits
