"""The suite-wide check that every statement on account data is scoped to one account.

A tenant table is one with an `account_id` column. A statement that reads or writes one
(named after FROM, JOIN, UPDATE or INTO) must mention `account_id` (as `Scoped`'s
`@tenant` and `TENANT` do), unless it runs inside a `@system` function (work that crosses
accounts on purpose: `kit.repository.crossing_tenants()`). Statements written by the
tests themselves (setting up or inspecting rows) are not the application's and are let
through; migrations do not go through `kit.db`."""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from pathlib import Path

import activecommerce.models  # noqa: F401  (registers every table)
from activecommerce.kit.repository import crossing_tenants
from activecommerce.kit.tables import metadata

TENANT_TABLES = frozenset(
    table.name for table in metadata.tables.values() if "account_id" in table.columns
)

_TABLE = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+\"?([A-Za-z_]\w*)", re.IGNORECASE)
_SPACE = re.compile(r"\s+")

# TEMPORARY, to be emptied at integration: statements (by a fragment of their text, spaces
# collapsed) of modules that other branches are converting to `Scoped` at the same time.
PENDING: tuple[str, ...] = (
    # accounts/repository.py
    "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
    # campaigns/service.py
    "SELECT status FROM email_campaigns WHERE id = ?",
    # contacts/repository.py
    "UPDATE contacts SET first_name = ?, last_name = ?, phone = ?, status = ?,",
    "SELECT m.contact_id, t.name FROM contact_",
    "DELETE FROM contact_tag_members WHERE contact_id = ? AND",
    "DELETE FROM contact_group_members WHERE contact_id = ? AND",
    # email/repository.py
    "SELECT * FROM brands WHERE id = ?",
    "UPDATE email_messages SET ",
    "SELECT * FROM email_messages WHERE id = ?",
    "SELECT 1 AS one FROM email_messages WHERE campaign_id = ?",
    "SELECT * FROM email_campaigns WHERE id = ?",
    "SELECT * FROM email_automations WHERE id = ?",
    "SELECT * FROM contacts WHERE id = ?",
    "UPDATE contacts SET status = ?, updated_at = ? WHERE id = ? RETURNING *",
    "DELETE FROM captured_emails WHERE id IN (SELECT id FROM captured_emails WHERE created_at",
    "SELECT 'open' AS kind, substr(opened_at, 1, 13)",
    "SELECT count(*) AS recipients, coalesce(sum(CASE WHEN status = 'sent'",
    "SELECT id FROM email_messages WHERE automation_id = ? AND contact_id = ?",
    # email/sender.py
    "UPDATE email_campaigns SET status = 'sent', sent_at = ?",
    "UPDATE email_campaigns SET status = 'sending', updated_at = ? WHERE id = ?",
    "UPDATE email_campaigns SET resolved_at = ? WHERE id = ?",
    # kit/events.py
    "SELECT * FROM events WHERE id = ?",
    # kit/idempotency.py
    "UPDATE idempotency_keys SET status_code = ?, body = ?, location = ? WHERE id = ?",
    "DELETE FROM idempotency_keys WHERE id = ?",
    # kit/resource.py (clear_references)
    " = NULL, updated_at = ? WHERE id = ? RETURNING *",
    # oauth/repository.py
    "UPDATE oauth_codes SET used_at = ? WHERE id = ?",
    "UPDATE oauth_tokens SET ",
    # users/repository.py
    "INSERT INTO user_sessions (token_hash, user_id,",
    "DELETE FROM user_sessions WHERE ",
)

_TESTS = str(Path(__file__).resolve().parent.parent) + "/"
_DB = str(Path(sys.modules["activecommerce.kit.db"].__file__ or "").resolve())


@lru_cache(maxsize=8192)
def unscoped_tables(sql: str) -> tuple[str, ...]:
    """The tenant tables `sql` touches without naming `account_id` (none if it does)."""
    if "account_id" in sql.lower():
        return ()
    tables = tuple(sorted({name.lower() for name in _TABLE.findall(sql)} & TENANT_TABLES))
    if tables:
        text = _SPACE.sub(" ", sql)
        if any(fragment in text for fragment in PENDING):
            return ()
    return tables


def _caller() -> tuple[bool, str]:
    """Whether the statement was written by a test, and where (module and function of
    the first caller outside kit/db.py)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename == _DB:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return False, "?"
    code = frame.f_code
    if code.co_filename.startswith(_TESTS):
        return True, f"tests/{code.co_filename[len(_TESTS) :]}:{code.co_name}"
    return False, f"{code.co_filename.rpartition('/activecommerce/')[2]}:{code.co_name}"


class ScopeCheck:
    """An observer for `kit.db.observer`: collects the unscoped statements it sees."""

    def __init__(self, *, allow_tests: bool = True) -> None:
        self.allow_tests = allow_tests
        self.found: list[str] = []

    def __call__(self, sql: str) -> None:
        tables = unscoped_tables(sql)
        if not tables or crossing_tenants():
            return
        by_test, where = _caller()
        if self.allow_tests and by_test:
            return
        self.found.append(f"{', '.join(tables)}: {_SPACE.sub(' ', sql).strip()} ({where})")

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found
