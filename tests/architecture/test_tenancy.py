"""Every statement on account data is scoped to one account, or runs in a `@system`
function: the suite-wide check (tests/architecture/scope_check.py) finds one that is
not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from activecommerce.kit import db
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped, system
from architecture.scope_check import ScopeCheck

# The comment tells these statements from the app's worker's, which run meanwhile.
UNSCOPED = "SELECT * FROM contacts WHERE id = ? -- tenancy test"
UPDATE = "UPDATE contacts SET status = status WHERE id = ? -- tenancy test"


def ours(check: ScopeCheck) -> list[str]:
    return [statement for statement in check.take() if "-- tenancy test" in statement]


@pytest.fixture
def check() -> Iterator[ScopeCheck]:
    """A check of its own (which does not let the tests' own statements through) in place
    of the suite's while the test runs."""
    suite, own = db.observer, ScopeCheck(allow_tests=False)
    db.observer = own
    yield own
    db.observer = suite


async def test_an_unscoped_statement_is_reported(app: FastAPI, check: ScopeCheck) -> None:
    database = app.state.services.db
    await database.fetchone(UNSCOPED, (1,))
    async with database.transaction() as conn:
        await conn.execute(UPDATE, (1,))
    here = "tests/architecture/test_tenancy.py:test_an_unscoped_statement_is_reported"
    assert ours(check) == [f"contacts: {UNSCOPED} ({here})", f"contacts: {UPDATE} ({here})"]


async def test_a_scoped_statement_passes(app: FastAPI, check: ScopeCheck) -> None:
    scope = Scoped(app.state.services.db, Principal(1, "sandbox", "plus", 1))
    await scope.fetchone("SELECT * FROM contacts WHERE id = ? AND @tenant -- tenancy test", (1,))
    await app.state.services.db.fetchone("SELECT id FROM accounts -- tenancy test")
    assert ours(check) == []


async def test_a_system_function_may_cross_accounts(app: FastAPI, check: ScopeCheck) -> None:
    @system
    async def system_read() -> None:
        await app.state.services.db.fetchone(UNSCOPED, (1,))

    await system_read()
    assert ours(check) == []


def test_scoped_refuses_a_statement_without_the_marker() -> None:
    scope = Scoped(object(), Principal(1, "sandbox", "plus", 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="@tenant"):
        scope.bind(UNSCOPED, (1,))


def test_the_suite_lets_tests_own_statements_through() -> None:
    """The suite's check skips what tests write; the application's own it reports."""
    suite = db.observer
    assert isinstance(suite, ScopeCheck)
    assert suite.allow_tests
