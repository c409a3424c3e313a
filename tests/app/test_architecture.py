"""The shape of the house: `kit/` knows no domain; defaults agree with the domains."""

import ast
from pathlib import Path

import activecommerce
from activecommerce.accounts.plans import PLANS
from activecommerce.config import DEFAULT_PLAN_RATES

SRC = Path(activecommerce.__file__).parent


def test_kit_imports_no_domain() -> None:
    outside = []
    for path in sorted((SRC / "kit").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("activecommerce") and not name.startswith("activecommerce.kit"):
                    outside.append(f"{path.name}: {name}")
    assert outside == []


def test_every_plan_has_a_default_rate() -> None:
    assert tuple(DEFAULT_PLAN_RATES) == PLANS
