"""The base every domain's queries stand on: account data is always read and written
within the caller's account and environment, and that scope is written here once.

Domains keep their SQL in `<domain>/repository.py` (plain functions taking a `Scoped`);
a collection's generic queries are in `kit/resource.py` and `kit/listing.py`. Every
index on account data leads with (account_id, env), so the scope is also what makes each
query use its index (and what a sharded PostgreSQL would route by)."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, ParamSpec, TypeVar

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


# ---------------------------------------------------------------- scope by construction

# `@tenant` (or `@tenant(alias)`) in a scoped statement: where the scope's condition goes.
_MARKER = re.compile(r"@tenant(?:\((\w+)\))?")


@lru_cache(maxsize=4096)
def _scoped_sql(sql: str) -> tuple[str, tuple[int, ...]]:
    """`sql` with each `@tenant` replaced by the scope's condition, and for each, how many
    `?` precede it (where its two parameters go among the caller's)."""
    positions: list[int] = []
    parts: list[str] = []
    last = 0
    for marker in _MARKER.finditer(sql):
        before = sql[last : marker.start()]
        parts.append(before)
        positions.append(sql[: marker.start()].count("?"))
        alias = f"{marker[1]}." if marker[1] else ""
        parts.append(f"{alias}account_id = ? AND {alias}env = ?")
        last = marker.end()
    if not positions:
        raise ValueError(f"a scoped statement names no @tenant: {sql!r}")
    parts.append(sql[last:])
    return "".join(parts), tuple(positions)


class Scoped:
    """Statements run within one account and environment (the caller's). Each names
    where its condition goes with `@tenant` (`@tenant(c)` for a table aliased `c`):
    the condition and its parameters are added there, so no caller passes them or can
    forget them, and a statement without the marker is refused (ValueError). Inserts
    take `values` (the account and environment, in that order) for their two columns.

    A domain's repository functions take a `Scoped` where they read or write one
    account's rows; work that must cross accounts (the worker claiming jobs, retention)
    is in functions marked `@system` and named `system_*`."""

    __slots__ = ("db", "principal", "values")

    def __init__(self, db: Connection | Database, principal: Principal) -> None:
        self.db = db
        self.principal = principal
        self.values: tuple[int, str] = (principal.account_id, principal.env)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def bind(self, sql: str, params: Sequence[Any]) -> tuple[str, list[Any]]:
        """The statement as run, and its parameters with the scope's put in place."""
        text, positions = _scoped_sql(sql)
        bound = list(params)
        for position in reversed(positions):
            bound[position:position] = self.values
        return text, bound

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return await self.db.fetchone(*self.bind(sql, params))

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self.db.fetchall(*self.bind(sql, params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """A write: the scope must be on a transaction's connection."""
        conn: Any = self.db
        count: int = await conn.execute(*self.bind(sql, params))
        return count

    async def scan(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """A read that may take long (off the event loop on SQLite): on a Database only."""
        db: Any = self.db
        rows: list[Row] = await db.scan(*self.bind(sql, params))
        return rows


_crossing: ContextVar[bool] = ContextVar("crossing_tenants", default=False)

P = ParamSpec("P")
R = TypeVar("R")


def system(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Marks a function whose statements may cross accounts (it names no one account:
    the worker's claim of the next job, retention, a sweep of stale uploads). Its name
    starts with `system_`; while it runs, `crossing_tenants()` is true (the test suite's
    check of every statement's scope allows it then, and only then)."""
    if not fn.__name__.startswith("system_"):
        raise TypeError(f"{fn.__qualname__}: a @system function is named system_*")

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _crossing.set(True)
        try:
            return await fn(*args, **kwargs)
        finally:
            _crossing.reset(token)

    return run


def crossing_tenants() -> bool:
    """Whether the running code is inside a `@system` function."""
    return _crossing.get()


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
