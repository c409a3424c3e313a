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


_TESTS = str(Path(__file__).resolve().parent.parent) + "/"
_DB = str(Path(sys.modules["activecommerce.kit.db"].__file__ or "").resolve())


@lru_cache(maxsize=8192)
def unscoped_tables(sql: str) -> tuple[str, ...]:
    """The tenant tables `sql` touches without naming `account_id` (none if it does)."""
    if "account_id" in sql.lower():
        return ()
    tables = tuple(sorted({name.lower() for name in _TABLE.findall(sql)} & TENANT_TABLES))
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
