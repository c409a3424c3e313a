"""The base every domain's queries stand on: account data is always read and written
within the caller's account and environment, and that scope is written here once.

Domains keep their SQL in `<domain>/repository.py` (plain functions, as
`accounts/repository.py`); the generic collection queries are in `kit/resource.py`.
Every index on account data leads with (account_id, env), so the scope is also what
makes each query use its index (and what a sharded PostgreSQL would route by)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal

TENANT = "account_id = ? AND env = ?"
# SQLite, when the rows come from a list of ids: the same check, which `+` keeps from being
# used to walk the (account, env, ...) index instead (without statistics SQLite may prefer
# that walk for its order, and visit every row of the account).
TENANT_CHECKED = "+account_id = ? AND +env = ?"


def tenant(principal: Principal) -> tuple[int, str]:
    """The parameters of `TENANT`."""
    return (principal.account_id, principal.env)


def lock_clause(conn: Connection | Database, mode: str = "UPDATE") -> str:
    """Row lock for a read inside a write transaction. PostgreSQL runs READ COMMITTED, so
    a read-modify-write must lock what it read (else two concurrent PATCHes of one row
    both succeed and one change is lost); SQLite has one writer (BEGIN IMMEDIATE), so
    every write transaction already sees and holds the latest rows."""
    return f" FOR {mode}" if conn.dialect == "postgresql" else ""


# ---------------------------------------------------------------- many rows at once


def in_list(conn: Connection | Database, expression: str) -> str:
    """`expression` is one of a list given as one parameter (`list_param`): one statement
    text whatever the list's length, so that it is prepared once (PostgreSQL) and stays
    under SQLite's limit on parameters."""
    if conn.dialect == "postgresql":
        return f"{expression} = ANY(?)"
    return f"{expression} IN (SELECT value FROM json_each(?))"


def list_param(conn: Connection | Database, values: Sequence[Any]) -> Any:
    """The parameter of `in_list`: an array (PostgreSQL) or a JSON array (SQLite)."""
    if conn.dialect == "postgresql":
        return list(values)
    return orjson.dumps(list(values)).decode()


# SQLite's default limit on the parameters of one statement.
_SQLITE_MAX_PARAMS = 32766


async def insert_many(
    conn: Connection,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    tail: str = "",
) -> list[Row]:
    """Insert `rows` (values in the order of `columns`, each a (name, PostgreSQL type)
    pair) in one statement and return what its `tail` returns (e.g. "ON CONFLICT DO
    NOTHING RETURNING *"). PostgreSQL gets one array per column (`unnest`: one prepared
    statement whatever the count); SQLite one multi-row VALUES per 32,766 parameters."""
    if not rows:
        return []
    names = ", ".join(name for name, _ in columns)
    if conn.dialect == "postgresql":
        arrays = ", ".join(f"?::{kind}[]" for _, kind in columns)
        return await conn.fetchall(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {tail}",
            [list(values) for values in zip(*rows, strict=True)],
        )
    one = "(" + ", ".join("?" for _ in columns) + ")"
    per_statement = max(1, _SQLITE_MAX_PARAMS // len(columns))
    returned: list[Row] = []
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        returned += await conn.fetchall(
            f"INSERT INTO {table} ({names}) VALUES {', '.join(one for _ in part)} {tail}",
            [value for row in part for value in row],
        )
    return returned


async def analyze_if_grown(db: Database, table: str, factor: float = 2.0) -> bool:
    """PostgreSQL: refresh the planner's statistics of `table` when it has grown past
    `factor` times what they describe (whether it did). A bulk write can grow a table
    from nothing to a million rows within autovacuum's first minute; meanwhile the
    planner, believing it nearly empty, picks plans that read an account's every row for
    each lookup (a scan of the status index instead of 500 probes of the email one)."""
    if db.dialect != "postgresql":
        return False
    row = await db.fetchone(
        "SELECT c.reltuples AS known, s.n_live_tup AS live FROM pg_class c"
        " JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = CAST(? AS regclass)",
        (table,),
    )
    if row is None or row["live"] < factor * max(float(row["known"]), 1000.0):
        return False
    await db.fetchone(f"ANALYZE {table}")
    return True
