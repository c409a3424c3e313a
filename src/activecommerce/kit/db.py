"""How code reaches the database (see docs/decisions/001-database-access.md).

SQLAlchemy owns the schema and the migrations. At run time the hot paths talk to the
driver directly through this small interface, because on SQLite every hop to another
thread costs more than the read itself, and on PostgreSQL the session and statement
layers cost more than asyncpg's round trip:

- SQLite: two held `sqlite3` connections called inline on the event loop (a primary-key
  read takes microseconds). One is for reads (autocommit, WAL snapshots); the other is
  the single writer, taken with `BEGIN IMMEDIATE` under an asyncio lock.
- PostgreSQL: an asyncpg pool; prepared statements are cached per connection.

Queries are written once with `?` placeholders; for asyncpg they are rewritten to `$n`
(cached). Values are always bound, never interpolated.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

Row = Any  # sqlite3.Row or asyncpg.Record: both index by column name


class UniqueViolation(Exception):
    """A unique constraint refused the write; `constraint` names the index when known."""

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint


class ForeignKeyViolation(Exception):
    pass


class Connection(Protocol):
    dialect: str

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...


class Database(Protocol):
    dialect: str

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    def transaction(self) -> Any: ...
    async def close(self) -> None: ...


# ---------------------------------------------------------------- SQLite


def unicode_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def register_functions(conn: sqlite3.Connection) -> None:
    """SQLite's own lower() folds ASCII only; PostgreSQL's folds every letter. The same
    rule on both (the unique index on lower(email), the email and q filters) needs the
    Unicode one, so every connection we open replaces it (deterministic, so the index
    may use it)."""
    conn.create_function("lower", 1, unicode_lower, deterministic=True)


def _sqlite_connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    register_functions(conn)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


_UNIQUE_RE = re.compile(r"UNIQUE constraint failed: (.*)")


def _translate_sqlite(exc: sqlite3.IntegrityError) -> Exception:
    message = str(exc)
    match = _UNIQUE_RE.search(message)
    if match:
        return UniqueViolation(match.group(1))
    if "index" in message and "UNIQUE" in message.upper():
        return UniqueViolation(message)
    if "FOREIGN KEY" in message:
        return ForeignKeyViolation(message)
    return exc


class _SQLiteConn:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            return self._conn.execute(sql, params).fetchone()
        except sqlite3.IntegrityError as exc:
            raise _translate_sqlite(exc) from exc

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.IntegrityError as exc:
            raise _translate_sqlite(exc) from exc

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self._conn.execute(sql, params).rowcount
        except sqlite3.IntegrityError as exc:
            raise _translate_sqlite(exc) from exc


class SQLiteDatabase:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._reader = _sqlite_connect(path)
        self._writer = _sqlite_connect(path)
        self._read = _SQLiteConn(self._reader)
        self._write = _SQLiteConn(self._writer)
        self._write_lock = asyncio.Lock()

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self._reader.execute(sql, params).fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._reader.execute(sql, params).fetchall()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._write
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            else:
                self._writer.execute("COMMIT")

    async def close(self) -> None:
        self._reader.close()
        self._writer.close()


# ---------------------------------------------------------------- PostgreSQL

_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=4096)
def to_dollar(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)


def _translate_pg(exc: Exception) -> Exception:
    import asyncpg

    if isinstance(exc, asyncpg.UniqueViolationError):
        return UniqueViolation(getattr(exc, "constraint_name", None) or str(exc))
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return ForeignKeyViolation(str(exc))
    return exc


class _PGConn:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            return await self._conn.fetchrow(to_dollar(sql), *params)
        except Exception as exc:
            raise _translate_pg(exc) from exc

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return list(await self._conn.fetch(to_dollar(sql), *params))
        except Exception as exc:
            raise _translate_pg(exc) from exc

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            status = await self._conn.execute(to_dollar(sql), *params)
        except Exception as exc:
            raise _translate_pg(exc) from exc
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._plain = _PGConn(pool)

    @classmethod
    async def connect(cls, url: str, min_size: int = 1, max_size: int = 10) -> PostgresDatabase:
        import asyncpg

        pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=min_size, max_size=max_size)
        return cls(pool)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return await self._plain.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._plain.fetchall(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PGConn(conn)

    async def close(self) -> None:
        await self._pool.close()


# ---------------------------------------------------------------- URLs


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> str:
    return url.split("///", 1)[1] if "///" in url else url.split("://", 1)[1]


def asyncpg_dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def sqlalchemy_url(url: str) -> str:
    """The URL alembic uses: the same database through SQLAlchemy's sync drivers."""
    if is_sqlite(url):
        return "sqlite:///" + sqlite_path(url)
    return "postgresql+psycopg://" + asyncpg_dsn(url)[len("postgresql://") :]


async def connect(url: str) -> SQLiteDatabase | PostgresDatabase:
    if is_sqlite(url):
        return SQLiteDatabase(sqlite_path(url))
    return await PostgresDatabase.connect(url)
