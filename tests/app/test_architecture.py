"""The shape of the house: defaults agree with the domains (the import rules, `kit/`
knowing no domain among them, are in tests/architecture/test_imports.py)."""

from activecommerce.accounts.plans import PLANS
from activecommerce.config import DEFAULT_PLAN_RATES


def test_every_plan_has_a_default_rate() -> None:
    assert tuple(DEFAULT_PLAN_RATES) == PLANS
