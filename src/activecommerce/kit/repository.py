"""The base every domain's queries stand on: account data is always read and written
within the caller's account and environment, and that scope is written here once.

Domains keep their SQL in `<domain>/repository.py` (plain functions, as
`accounts/repository.py`); the generic collection queries are in `kit/resource.py`.
Every index on account data leads with (account_id, env), so the scope is also what
makes each query use its index (and what a sharded PostgreSQL would route by)."""

from __future__ import annotations

from activecommerce.kit.db import Connection, Database
from activecommerce.kit.principal import Principal

TENANT = "account_id = ? AND env = ?"


def tenant(principal: Principal) -> tuple[int, str]:
    """The parameters of `TENANT`."""
    return (principal.account_id, principal.env)


def lock_clause(conn: Connection | Database, mode: str = "UPDATE") -> str:
    """Row lock for a read inside a write transaction. PostgreSQL runs READ COMMITTED, so
    a read-modify-write must lock what it read (else two concurrent PATCHes of one row
    both succeed and one change is lost); SQLite has one writer (BEGIN IMMEDIATE), so
    every write transaction already sees and holds the latest rows."""
    return f" FOR {mode}" if conn.dialect == "postgresql" else ""
