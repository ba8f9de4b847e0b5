"""The public surface and the direction of dependencies (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import adjudicator

PKG = Path(adjudicator.__file__).parent


def test_all_is_complete_and_importable():
    public = {n for n in dir(adjudicator) if not n.startswith("_") and n[0].isupper() or n in (
        "adjudicate", "check", "load_ruleset")}
    public -= {m for m in dir(adjudicator) if isinstance(getattr(adjudicator, m), type(adjudicator))}
    assert public <= set(adjudicator.__all__)
    for name in adjudicator.__all__:
        assert hasattr(adjudicator, name), name
    for name in ("Engine", "load_ruleset", "adjudicate", "check", "RulesetError"):
        assert name in adjudicator.__all__


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


LAYERS = {
    # a module of this layer may not import anything listed for it
    "rules": ("adjudicator.engine", "adjudicator.pipeline", "adjudicator.point", "adjudicator.api",
              "adjudicator.eligibility", "adjudicator.dedup", "adjudicator.benefits", "adjudicator.store", "cli"),
    "eligibility": ("adjudicator.engine", "adjudicator.pipeline", "adjudicator.point", "adjudicator.api", "cli"),
    "dedup": ("adjudicator.engine", "adjudicator.pipeline", "adjudicator.point", "adjudicator.api", "cli"),
    "benefits": ("adjudicator.engine", "adjudicator.pipeline", "adjudicator.point", "adjudicator.api", "cli"),
    "store": ("adjudicator.engine", "adjudicator.pipeline", "adjudicator.point", "adjudicator.api",
              "adjudicator.rules", "cli"),
}
BASE = ("errors.py", "schema.py", "codes.py", "dates.py", "national_code.py", "benefits/money.py")
# money arithmetic lives with the benefits but sits below every layer (it imports nothing of the package)
BASE_MODULES = ("adjudicator.benefits.money",)


def test_dependencies_point_one_way():
    bad = []
    for layer, forbidden in LAYERS.items():
        for path in (PKG / layer).rglob("*.py"):
            for imp in _imports(path):
                if imp.startswith(BASE_MODULES):  # base arithmetic every layer may use
                    continue
                if any(imp == f or imp.startswith(f + ".") for f in forbidden):
                    bad.append(f"{path.relative_to(PKG)} imports {imp}")
    for name in BASE:
        for imp in _imports(PKG / name):
            if imp.startswith("adjudicator.") and not imp.startswith(("adjudicator.errors", "adjudicator.schema",
                                                                      "adjudicator.dates")):
                bad.append(f"{name} imports {imp}")
    for path in PKG.rglob("*.py"):
        if "cli" in _imports(path):
            bad.append(f"{path.relative_to(PKG)} imports cli")
    assert not bad, "\n".join(bad)
