"""Every statement on account data is scoped to one account, or runs in a `@system`
function: the suite-wide check (tests/architecture/scope_check.py) finds one that is
not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from activecommerce.kit import db
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped, insert_many, system
from architecture.scope_check import ScopeCheck

# The comment tells these statements from the app's worker's, which run meanwhile.
UNSCOPED = "SELECT id FROM contacts WHERE id = ? -- tenancy test"
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
    await database.scan(UNSCOPED, (1,))
    async with database.transaction() as conn:
        await conn.execute(UPDATE, (1,))
        await conn.executemany(UPDATE, [(1,), (2,)])
    here = "tests/architecture/test_tenancy.py:test_an_unscoped_statement_is_reported"
    assert ours(check) == [
        f"contacts: {UNSCOPED} ({here})",
        f"contacts: {UNSCOPED} ({here})",
        f"contacts: {UPDATE} ({here})",
        f"contacts: {UPDATE} ({here})",
    ]


async def test_a_scoped_statement_passes(app: FastAPI, check: ScopeCheck) -> None:
    scope = Scoped(app.state.services.db, Principal(1, "sandbox", "plus", 1))
    await scope.fetchone("SELECT id FROM contacts WHERE id = ? AND @tenant -- tenancy test", (1,))
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


async def test_the_suites_check_lets_only_tests_own_statements_through(app: FastAPI) -> None:
    """What a test writes itself is let through; what the application runs is not."""
    suite = db.observer
    assert isinstance(suite, ScopeCheck)
    own = ScopeCheck(allow_tests=suite.allow_tests)
    db.observer = own
    try:
        await app.state.services.db.fetchone(UNSCOPED, (1,))
        async with app.state.services.db.transaction() as conn:
            with pytest.raises(Exception, match=r"(?i)not.null"):
                # Application code (kit/repository.py) writing a row of no account.
                await insert_many(conn, "contact_tags", [("name", "text")], [("x",)])
    finally:
        db.observer = suite
    found = own.take()
    assert not [statement for statement in found if "-- tenancy test" in statement]
    [insert] = [statement for statement in found if "contact_tags" in statement]
    assert insert.startswith("contact_tags: INSERT INTO contact_tags (name)")
    assert insert.endswith("(kit/repository.py:insert_many)")
