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

A database that does not answer (down, frozen, refusing connections, locked by another
process, out of disk) raises `DatabaseUnavailable` (503 with Retry-After) rather than a
driver error: waits are bounded (pool acquire or the SQLite write lock, and, on
PostgreSQL, every statement), the outage is logged once when it starts and once when it
ends, and while it lasts calls fail at once, except one probe per `retry_after` window
that finds out whether it is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar


class Row(Protocol):
    """A result row: sqlite3.Row or asyncpg.Record, both read by column name. A
    Protocol, so it costs nothing at run time and mypy checks how rows are used."""

    def __getitem__(self, key: str, /) -> Any: ...


log = logging.getLogger("activecommerce.db")

T = TypeVar("T")

# Called with every statement's text before it runs (both dialects, every Database and
# Connection method), when set; None in production. The test suite sets it to check that
# each statement on account data is scoped to one account (tests/conftest.py).
observer: Callable[[str], None] | None = None


class UniqueViolation(Exception):
    """A unique constraint refused the write; `constraint` names the index when known."""

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint


class ForeignKeyViolation(Exception):
    pass


class ConcurrentChange(Exception):
    """The database aborted the transaction because of a concurrent one (a deadlock or a
    serialization failure): retrying is safe."""


class DatabaseUnavailable(Exception):
    """The database did not answer in time or refused us; retry after `retry_after` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the database is unavailable")
        self.retry_after = retry_after


class Availability:
    """Whether the database answers, as seen by the calls made through one connection
    (SQLite) or one pool (PostgreSQL).

    The first failure logs one line and opens a fail-fast window of `retry_after` seconds
    in which calls raise at once instead of each waiting for a timeout; after it, one call
    goes through as a probe (the others keep failing fast for another window). The first
    success logs the recovery.

    A timeout is different from a refused or broken connection: it may only mean that the
    database is busy (a burst, one tenant's slow query). While other calls still succeed
    (`busy`: a success within the last window), a timeout is a 503 for its own request
    only; the window opens only when nothing has succeeded for that long (a frozen server),
    so that one tenant's load never turns every tenant's requests into 503s."""

    def __init__(self, name: str, retry_after: float) -> None:
        self.name = name
        self.window = retry_after
        self.retry_after = max(1, math.ceil(retry_after))
        self.down_since: float | None = None
        self._probe_at = 0.0
        self.last_ok = time.monotonic()

    def timed_out(self, cause: BaseException) -> DatabaseUnavailable:
        if time.monotonic() - self.last_ok < self.window and self.down_since is None:
            return DatabaseUnavailable(self.retry_after)
        return self.failed(cause)

    def check(self) -> None:
        if self.down_since is None:
            return
        now = time.monotonic()
        if now < self._probe_at:
            raise DatabaseUnavailable(self.retry_after)
        self._probe_at = now + self.window  # this call is the probe

    def failed(self, cause: BaseException) -> DatabaseUnavailable:
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
            # The class and message only: driver messages name hosts and users, never
            # passwords, and no traceback (one line per outage, not per request).
            log.error(
                "%s unavailable, answering 503 until it recovers: %s: %s",
                self.name,
                type(cause).__name__,
                str(cause)[:200] or "no answer in time",
            )
        self._probe_at = now + self.window
        return DatabaseUnavailable(self.retry_after)

    def ok(self) -> None:
        self.last_ok = time.monotonic()
        if self.down_since is not None:
            log.warning(
                "%s available again after %.1f s", self.name, time.monotonic() - self.down_since
            )
            self.down_since = None


class Connection(Protocol):
    dialect: str

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    async def copy(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None: ...


class Database(Protocol):
    dialect: str

    async def ping(self) -> None: ...
    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    async def scan(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    async def scan_within(
        self, sql: str, params: Sequence[Any], seconds: float
    ) -> list[Row] | None: ...
    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...
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
    # No busy wait inside SQLite: it would block the event loop (these connections are
    # called inline). A busy database is retried with asyncio sleeps instead (_retrying).
    conn.execute("PRAGMA busy_timeout=0")
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


# SQLite result codes (the primary code, the low byte of the extended one) that mean the
# database cannot answer now rather than that the statement is wrong.
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_DOWN = {
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY,
}


def _sqlite_code(exc: sqlite3.Error) -> int:
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


class _SQLiteConn:
    """One held sqlite3 connection. Calls run inline; a busy database (another process
    holds the write lock) is retried with asyncio sleeps until the deadline, then is
    `DatabaseUnavailable`, as are I/O errors and a full disk."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, availability: Availability, timeout: float):
        self._conn = conn
        self.availability = availability
        self.timeout = timeout

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        if observer is not None:
            observer(sql)
        return await self.run(lambda: self._conn.execute(sql, params).fetchone())

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if observer is not None:
            observer(sql)
        return await self.run(lambda: self._conn.execute(sql, params).fetchall())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if observer is not None:
            observer(sql)
        return await self.run(lambda: self._conn.execute(sql, params).rowcount)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many rows (a sequence, so that a retry sees them all)."""
        if observer is not None:
            observer(sql)
        await self.run(lambda: self._conn.executemany(sql, rows))

    async def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Many rows into `table` (PostgreSQL's COPY; here one prepared INSERT)."""
        marks = ", ".join("?" for _ in columns)
        await self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    async def run(
        self, call: Callable[[], T], deadline: float | None = None, gate: bool = True
    ) -> T:
        availability = self.availability
        if gate and availability.down_since is not None:
            availability.check()
        try:
            result = call()
        except sqlite3.Error as exc:
            return await self._retry(call, exc, deadline)
        availability.ok()
        return result

    async def _retry(self, call: Callable[[], T], exc: sqlite3.Error, deadline: float | None) -> T:
        deadline = deadline or time.monotonic() + self.timeout
        delay = 0.002
        while True:
            if isinstance(exc, sqlite3.IntegrityError):
                raise _translate_sqlite(exc) from exc
            code = _sqlite_code(exc)
            if code in _DOWN:
                raise self.availability.failed(exc) from exc
            if code in _BUSY and time.monotonic() >= deadline:
                raise self.availability.timed_out(exc) from exc
            if code not in _BUSY:
                raise exc
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.05)
            try:
                result = call()
            except sqlite3.Error as again:
                exc = again
                continue
            self.availability.ok()
            return result


SCANNERS = 4  # SQLite connections for reads off the event loop (`scan`)
# Checkpoints (copying the WAL's pages into the database file) run in a thread of their
# own, at most every CHECKPOINT_SECONDS after a commit, instead of inside a COMMIT on the
# event loop. SQLite's own automatic checkpoint stays as a backstop, at a WAL of
# CHECKPOINT_BACKSTOP_PAGES (4 KiB each), for when the thread cannot keep up.
CHECKPOINT_SECONDS = 0.5
CHECKPOINT_BACKSTOP_PAGES = 50_000
# The writer's page cache (KiB): a batch of random inserts into the email, name and text
# indexes of a million contacts touches thousands of pages; with SQLite's default (2 MB)
# they are read back and forth from the OS cache.
WRITER_CACHE_KIB = 32 * 1024


class SQLiteDatabase:
    dialect = "sqlite"

    def __init__(self, path: str, *, acquire_timeout: float = 2.0, retry_after: float = 2.0):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._reader = _sqlite_connect(path)
        self._writer = _sqlite_connect(path)
        self._writer.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_BACKSTOP_PAGES}")
        self._writer.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        # Measured (docs/decisions/011-import-speed.md): an import's batches of 300,000
        # contacts wrote 7.7 GB, half of it checkpoints run every 1,000 pages inside
        # COMMIT; 48.5 s -> 30.8 s with these checkpoints and this cache.
        self._checkpointer = _sqlite_connect(path)
        self._checkpointing: asyncio.Task[None] | None = None
        self._checkpointed = time.monotonic()
        # Reads (WAL snapshots) go on while another process holds the write lock: the two
        # connections keep separate accounts of whether the database answers.
        self._read = _SQLiteConn(
            self._reader, Availability("SQLite (reads)", retry_after), acquire_timeout
        )
        self._write = _SQLiteConn(
            self._writer, Availability("SQLite (writes)", retry_after), acquire_timeout
        )
        self._write_lock = asyncio.Lock()
        # For reads that may take milliseconds (lists at a million rows, background work
        # scanning a backlog): run in threads, where sqlite3 releases the GIL while SQLite
        # steps, on connections of their own (WAL readers do not wait for each other).
        self._scanners = [_sqlite_connect(path) for _ in range(SCANNERS)]
        self._idle_scanners: asyncio.Queue[sqlite3.Connection] = asyncio.Queue()
        for scanner in self._scanners:
            self._idle_scanners.put_nowait(scanner)

    async def ping(self) -> None:
        await self._read.fetchone("SELECT 1 FROM sqlite_master LIMIT 1")

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return await self._read.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._read.fetchall(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        write = self._write
        if write.availability.down_since is not None:
            write.availability.check()
        # One deadline for waiting on this process's writers and on other processes'.
        deadline = time.monotonic() + write.timeout
        if self._write_lock.locked():
            try:
                async with asyncio.timeout(write.timeout):
                    await self._write_lock.acquire()
            except TimeoutError as exc:
                raise write.availability.timed_out(exc) from exc
        else:
            await self._write_lock.acquire()
        try:
            # Not gated again: the check above let this call through (as the probe).
            await write.run(lambda: self._writer.execute("BEGIN IMMEDIATE"), deadline, False)
            try:
                yield write
                await write.run(lambda: self._writer.execute("COMMIT"))
                self._checkpoint_soon()
            except BaseException:
                if self._writer.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._writer.execute("ROLLBACK")
                raise
        finally:
            self._write_lock.release()

    def _checkpoint_soon(self) -> None:
        """After a commit: a passive checkpoint in a thread, unless one runs or ran in
        the last CHECKPOINT_SECONDS. Passive: it copies what no reader still needs and
        neither waits for nor blocks readers and the writer."""
        if self._checkpointing is not None or (
            time.monotonic() - self._checkpointed < CHECKPOINT_SECONDS
        ):
            return
        self._checkpointing = asyncio.get_running_loop().create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        try:
            await asyncio.to_thread(self._checkpointer.execute, "PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the next commit tries again; the backstop remains
            log.warning("SQLite checkpoint failed: %s", type(exc).__name__)
        finally:
            self._checkpointed = time.monotonic()
            self._checkpointing = None

    async def scan(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """A read that may take longer than the event loop should wait (not for request
        paths): off the loop. Errors are the reader's (503 when the database is down)."""
        if observer is not None:
            observer(sql)
        return await self._on_scanner(lambda scanner: scanner.execute(sql, params).fetchall())

    async def scan_within(
        self, sql: str, params: Sequence[Any], seconds: float
    ) -> list[Row] | None:
        """`scan`, given up (None) once it has run `seconds`: for answers worth having
        only when they are cheap (a search's count). SQLite's progress handler, called
        every few thousand instructions, interrupts the statement at the deadline."""
        if observer is not None:
            observer(sql)

        def run(scanner: sqlite3.Connection) -> list[Row] | None:
            deadline = time.monotonic() + seconds
            scanner.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
            try:
                return scanner.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    return None
                raise
            finally:
                scanner.set_progress_handler(None, 0)

        return await self._on_scanner(run)

    async def _on_scanner(self, work: Callable[[sqlite3.Connection], T]) -> T:
        scanner = await self._idle_scanners.get()
        try:
            return await asyncio.to_thread(work, scanner)
        except sqlite3.Error as exc:
            code = _sqlite_code(exc)
            if code in _DOWN or code in _BUSY:
                raise self._read.availability.failed(exc) from exc
            raise
        finally:
            self._idle_scanners.put_nowait(scanner)

    async def close(self) -> None:
        if self._checkpointing is not None:  # its thread uses the connection
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._checkpointing)
        self._checkpointer.close()
        self._reader.close()
        self._writer.close()
        for scanner in self._scanners:
            scanner.close()


# ---------------------------------------------------------------- PostgreSQL

_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=4096)
def to_dollar(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)


def _pg_unavailable(exc: BaseException) -> bool:
    """Whether a driver error means the server cannot answer now (down, frozen, starting
    or shutting down, out of connections, our statement timeout) rather than that the
    statement is wrong."""
    import asyncpg

    if isinstance(exc, asyncpg.InterfaceError):
        return not isinstance(exc, ValueError)  # bad arguments are the caller's error
    if isinstance(exc, asyncpg.InternalClientError):
        # "cannot switch to state N; another operation is in progress": a connection
        # whose last operation was cut off mid-way (seen with connections terminated by
        # the server); unusable, and dropped like a broken one.
        return True
    return isinstance(
        exc,
        (
            OSError,  # refused, reset, unreachable
            TimeoutError,  # pool acquire, connect or statement (command_timeout)
            asyncpg.PostgresConnectionError,  # class 08, ConnectionDoesNotExistError
            asyncpg.exceptions.OperatorInterventionError,  # 57: canceled, shutdown, starting
            asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections, disk
        ),
    )


def _translate_pg(exc: BaseException, availability: Availability) -> BaseException:
    import asyncpg

    if isinstance(exc, asyncpg.UniqueViolationError):
        return UniqueViolation(getattr(exc, "constraint_name", None) or str(exc))
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return ForeignKeyViolation(str(exc))
    if isinstance(exc, asyncpg.exceptions.TransactionRollbackError):
        return ConcurrentChange(str(exc))  # 40P01 deadlock, 40001 serialization failure
    if isinstance(exc, TimeoutError):  # pool acquire or statement: busy, or frozen
        return availability.timed_out(exc)
    if _pg_unavailable(exc):
        return availability.failed(exc)
    return exc


class _PGConn:
    dialect = "postgresql"

    def __init__(self, conn: Any, availability: Availability) -> None:
        self._conn = conn
        self._availability = availability

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        if observer is not None:
            observer(sql)
        try:
            row: Row | None = await self._conn.fetchrow(to_dollar(sql), *params)
        except Exception as exc:
            raise _translate_pg(exc, self._availability) from exc
        self._availability.ok()
        return row

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if observer is not None:
            observer(sql)
        try:
            rows = list(await self._conn.fetch(to_dollar(sql), *params))
        except Exception as exc:
            raise _translate_pg(exc, self._availability) from exc
        self._availability.ok()
        return rows

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if observer is not None:
            observer(sql)
        try:
            status = await self._conn.execute(to_dollar(sql), *params)
        except Exception as exc:
            raise _translate_pg(exc, self._availability) from exc
        self._availability.ok()
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One prepared statement, its executions pipelined (one round trip's wait)."""
        if observer is not None:
            observer(sql)
        try:
            await self._conn.executemany(to_dollar(sql), rows)
        except Exception as exc:
            raise _translate_pg(exc, self._availability) from exc
        self._availability.ok()

    async def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Many rows into `table` with COPY (binary), the fastest way in."""
        if observer is not None:  # what it does, as the statement SQLite runs for it
            observer(f"INSERT INTO {table} ({', '.join(columns)})")
        try:
            await self._conn.copy_records_to_table(table, records=rows, columns=list(columns))
        except Exception as exc:
            raise _translate_pg(exc, self._availability) from exc
        self._availability.ok()


async def _no_session_state(conn: Any) -> None:
    """What a connection needs on its way back to the pool besides the rollback of an
    open transaction (which asyncpg does first): nothing. This code keeps no session
    state (no SET, LISTEN, advisory locks or cursors), and asyncpg's default reset
    statement would cost a round trip on every release: two or three per request."""


class PostgresDatabase:
    """An asyncpg pool. Every wait is bounded: acquiring a connection (which may mean
    opening one) by `acquire_timeout`, every statement by `statement_timeout` (asyncpg's
    client-side command_timeout, which also holds when the server is frozen rather than
    gone; asyncpg then cancels the statement on the server)."""

    dialect = "postgresql"

    def __init__(self, pool: Any, acquire_timeout: float, retry_after: float) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self.availability = Availability("PostgreSQL", retry_after)

    @classmethod
    async def connect(
        cls,
        url: str,
        min_size: int = 0,
        max_size: int = 10,
        *,
        acquire_timeout: float = 2.0,
        statement_timeout: float = 5.0,
        retry_after: float = 2.0,
    ) -> PostgresDatabase:
        import asyncpg

        pool = await asyncpg.create_pool(
            asyncpg_dsn(url),
            min_size=min_size,
            max_size=max_size,
            timeout=acquire_timeout,  # opening a connection
            command_timeout=statement_timeout,
            reset=_no_session_state,
            # One statement, one core: a parallel scan (a segment's count over a million
            # contacts) would take the cores that every other request is served by.
            server_settings={"max_parallel_workers_per_gather": "0"},
        )
        # No floor of idle connections (min_size 0): asyncpg restores a floor in the
        # background and logs a traceback for every failed attempt during an outage.
        # Connections open on demand; this one checks the URL at start-up.
        async with pool.acquire(timeout=acquire_timeout) as conn:
            await conn.fetchval("SELECT 1")
        return cls(pool, acquire_timeout, retry_after)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        availability = self.availability
        if availability.down_since is not None:
            availability.check()
        try:
            conn = await self._pool.acquire(timeout=self._acquire_timeout)
        except Exception as exc:
            raise _translate_pg(exc, availability) from exc
        try:
            yield conn
        except DatabaseUnavailable:
            # Gone or frozen: close it now rather than wait in release for the pool to
            # reset it (or for asyncpg to cancel the statement on a server that does not
            # answer); the pool opens a new one when the server is back.
            with contextlib.suppress(Exception):  # the pool may have dropped it already
                conn.terminate()
            raise
        finally:
            # A connection that cannot be reset is closed by the pool; that is no error of
            # this request.
            with contextlib.suppress(Exception):
                await self._pool.release(conn, timeout=self._acquire_timeout)

    async def ping(self) -> None:
        async with self._connection() as conn:
            await _PGConn(conn, self.availability).fetchone("SELECT 1")

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._connection() as conn:
            return await _PGConn(conn, self.availability).fetchone(sql, params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._connection() as conn:
            return await _PGConn(conn, self.availability).fetchall(sql, params)

    async def scan(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self.fetchall(sql, params)  # asyncpg never blocks the loop

    async def scan_within(
        self, sql: str, params: Sequence[Any], seconds: float
    ) -> list[Row] | None:
        """`scan`, given up (None) after `seconds`: asyncpg cancels the statement on the
        server; the connection stays usable. Not a sign that the database is down."""
        if observer is not None:
            observer(sql)
        async with self._connection() as conn:
            try:
                rows = list(await conn.fetch(to_dollar(sql), *params, timeout=seconds))
            except TimeoutError:
                return None
            except Exception as exc:
                raise _translate_pg(exc, self.availability) from exc
        self.availability.ok()
        return rows

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._connection() as conn:
            pg = _PGConn(conn, self.availability)
            await pg.execute("BEGIN")
            try:
                yield pg
                await pg.execute("COMMIT")
            except DatabaseUnavailable:
                raise  # the connection is dropped (see _connection)
            except BaseException:
                if not conn.is_closed() and conn.is_in_transaction():
                    # On a broken connection this fails too; the pool then drops it.
                    with contextlib.suppress(Exception):
                        await conn.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), self._acquire_timeout)
        except (TimeoutError, OSError):
            self._pool.terminate()  # the server does not answer: do not wait for it


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


async def connect(
    url: str,
    *,
    acquire_timeout: float = 2.0,
    statement_timeout: float = 5.0,
    retry_after: float = 2.0,
) -> SQLiteDatabase | PostgresDatabase:
    """`acquire_timeout` bounds the wait for a connection (PostgreSQL) or the write lock
    (SQLite), `statement_timeout` every PostgreSQL statement; after a failure, calls fail
    fast for `retry_after` seconds (see `Availability`)."""
    if is_sqlite(url):
        return SQLiteDatabase(
            sqlite_path(url), acquire_timeout=acquire_timeout, retry_after=retry_after
        )
    return await PostgresDatabase.connect(
        url,
        acquire_timeout=acquire_timeout,
        statement_timeout=statement_timeout,
        retry_after=retry_after,
    )
