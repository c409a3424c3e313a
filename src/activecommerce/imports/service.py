"""Contact imports (docs/guides/imports-exports.md): a body streamed into staged rows,
then processed in batches by a job that any worker may run (docs/decisions/009-imports.md).

1. `receive`: the body is read as it arrives; whole records become staged rows, written
   a few thousand at a time (COPY on PostgreSQL), each write its own short transaction.
   The import (status `receiving`, shown as `queued`) is made with the first rows, so a
   body refused at once (an unknown column, an empty file) leaves nothing behind.
2. `queue`: once the whole body is in, the import is `queued` and its job queued with
   it, in the transaction of its last rows. A body that does not arrive whole (over the
   limit, the client gone, the process stopped) never gets there: its import is marked
   failed and its staged rows are deleted by the same job (`abandon`, or the worker's
   `sweep` for a process that died).
3. `run` (the job): the next staged rows after the import's position, checked in a
   thread, then one transaction per batch: the contacts written (contacts.bulk), the
   rows deleted, the counts and the position moved on. A crash loses at most the batch
   in flight, which is done again; the job is checked to be still ours in every batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypedDict, cast

import orjson

from activecommerce.contacts import bulk
from activecommerce.contacts import service as contacts_service
from activecommerce.fields.definitions import definitions
from activecommerce.imports import repository
from activecommerce.imports.parsing import BadFile, Staged, check_rows, field_columns, reader
from activecommerce.jobs import payloads, queue
from activecommerce.jobs.queue import Job
from activecommerce.jobs.worker import MAX_CRASHES
from activecommerce.kit.clock import after, now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.fields import parse_id
from activecommerce.kit.pagination import Envelope, envelope
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, not_found
from activecommerce.kit.repository import Scoped, analyze_if_grown

log = logging.getLogger("activecommerce.imports")

RUN = "contacts.import"
MAX_ERRORS = 100  # listed on the import; all are counted in `failed`
# Staged rows per write while receiving, and the longest a received row waits for one.
STAGE_ROWS = 2000
STAGE_SECONDS = 2.0
# The most of a received chunk parsed at once on the event loop.
PARSE_BYTES = 16 * 1024
# An upload whose import has not moved for this long is taken as stopped (its process
# died): the worker's sweep fails it. A live upload writes at least every STAGE_SECONDS
# while bytes arrive, and the server closes a connection idle for its body timeout.
STALE_SECONDS = 600.0

# Batches between checks that the planner's statistics of the contacts table still
# describe it, and flushes of the text index's pending entries (PostgreSQL; `_settle`).
ANALYZE_EVERY = 10
# What an import grows: the contacts, and the memberships that the tagId/groupId lists
# probe (with statistics from when a tag was small, PostgreSQL may read all its members
# for one page).
GROWN_BY_IMPORTS = ("contacts", "contact_tag_members", "contact_group_members")


class ImportRowError(TypedDict):
    """A line of the file that was not imported, and why."""

    line: int
    message: str


class ImportView(TypedDict):
    """An import as the API shows it (`ContactImportOut`)."""

    id: str
    status: str
    total: int
    processed: int
    created: int
    updated: int
    skipped: int
    failed: int
    errors: list[ImportRowError]
    createdAt: str
    finishedAt: str | None


ProgressHook = Callable[[ImportView], None]


class TooLarge(Exception):
    pass


def view(row: Row) -> ImportView:
    status = row["status"]
    return {
        "id": str(row["id"]),
        "status": "queued" if status == "receiving" else status,
        "total": int(row["total"]),
        "processed": int(row["processed"]),
        "created": int(row["created"]),
        "updated": int(row["updated"]),
        "skipped": int(row["skipped"]),
        "failed": int(row["failed"]),
        "errors": orjson.loads(row["errors"]),
        "createdAt": row["created_at"],
        "finishedAt": row["finished_at"],
    }


async def get(db: Database, principal: Principal, import_id: str) -> ImportView:
    oid = parse_id(import_id)
    row = None if oid is None else await repository.get(Scoped(db, principal), oid)
    if row is None:
        raise not_found("contact import")
    return view(row)


async def list_imports(db: Database, principal: Principal, page: int, page_size: int) -> Envelope:
    total, rows = await repository.page(Scoped(db, principal), page, page_size)
    return envelope([view(r) for r in rows], page, page_size, total)


# ---------------------------------------------------------------- receiving


async def receive(
    db: Database,
    principal: Principal,
    format: str,
    update: bool,
    body: AsyncIterator[bytes],
    *,
    limit: int | None = None,
    held_by: str | None = None,
    lease_seconds: float = 30.0,
    on_bytes: Callable[[int], None] | None = None,
    columns: Sequence[str | None] | None = None,
) -> tuple[int, int]:
    """Stage the body and queue the import; returns (import id, job id). Raises a
    Problem (413 over `limit`, 422 for a body that cannot be imported); a body that
    stops early (the client gone) fails the import it started. `held_by`: the job is
    queued claimed by that worker id for `lease_seconds`, and it runs it itself (the
    CLI, `run_held`). `columns`: a CSV's columns by position, instead of its header's
    names (None: ignored; the console's column mapping)."""
    fields = field_columns(await definitions(db, principal)) if format == "csv" else None
    upload = _Upload(db, principal, format, update, columns, fields)
    try:
        await upload.read(body, limit, on_bytes)
        return await upload.queue(held_by, lease_seconds)
    except TooLarge:
        message = f"The body is over the limit of {limit} bytes."
        await upload.abandon(message, upload.rows.lines + 1)
        raise Problem(413, message) from None
    except BadFile as exc:
        await upload.abandon(str(exc), upload.rows.lines)
        raise Problem(422, str(exc)) from None
    except BaseException:
        message = "The body was cut off before its end; nothing was imported."
        await upload.abandon(message, upload.rows.lines + 1)
        raise


class _Upload:
    """One body being staged: rows are written a batch at a time, one write in flight
    while the next rows are read and parsed."""

    def __init__(
        self,
        db: Database,
        principal: Principal,
        format: str,
        update: bool,
        columns: Sequence[str | None] | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        self.db = db
        self.principal = principal
        self.format = format
        self.update = update
        self.rows = reader(format, columns, fields)
        self.import_id: int | None = None
        self._writing: asyncio.Task[None] | None = None
        self._last: list[Staged] = []

    async def read(
        self, body: AsyncIterator[bytes], limit: int | None, on_bytes: Callable[[int], None] | None
    ) -> None:
        pending: list[Staged] = []
        size = 0
        flushed = time.monotonic()
        async for chunk in body:
            size += len(chunk)
            if limit is not None and size > limit:
                raise TooLarge
            if on_bytes is not None:
                on_bytes(len(chunk))
            for start in range(0, len(chunk), PARSE_BYTES):  # ~1 ms of parsing per slice
                pending += self.rows.feed(chunk[start : start + PARSE_BYTES])
                if len(pending) >= STAGE_ROWS or (
                    pending and time.monotonic() - flushed > STAGE_SECONDS
                ):
                    await self._write(pending)
                    pending, flushed = [], time.monotonic()
                else:
                    await asyncio.sleep(0)
        await self._write(pending + self.rows.finish(), last=True)

    async def _write(self, rows: list[Staged], last: bool = False) -> None:
        if self.import_id is None:
            async with self.db.transaction() as conn:
                self.import_id = await repository.insert_import(
                    Scoped(conn, self.principal), self.format, self.update, now()
                )
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing
        if last:
            self._last = rows
        else:
            self._writing = asyncio.create_task(self._stage(self.import_id, rows))

    async def _stage(self, import_id: int, rows: list[Staged]) -> None:
        async with self.db.transaction() as conn:
            await repository.stage(conn, import_id, rows)
            await repository.count_staged(Scoped(conn, self.principal), import_id, len(rows), now())

    async def queue(self, held_by: str | None, lease_seconds: float) -> tuple[int, int]:
        """The last rows and the job, in one transaction: the import is whole."""
        assert self.import_id is not None
        async with self.db.transaction() as conn:
            stamp, scope = now(), Scoped(conn, self.principal)
            await repository.stage(conn, self.import_id, self._last)
            await repository.count_staged(scope, self.import_id, len(self._last), stamp)
            await repository.set_status(scope, self.import_id, "queued", stamp, was=("receiving",))
            job = await _queue(conn, self.principal, self.import_id, held_by, lease_seconds)
        return self.import_id, job

    async def abandon(self, message: str, line: int) -> None:
        """Fail the import this body started, once no write of it is in flight (one
        batch: it is let finish, so that no row is staged after the failure)."""
        if self._writing is not None:
            with contextlib.suppress(BaseException):
                await self._writing
        if self.import_id is None:
            return
        try:
            await abandon(self.db, self.principal, self.import_id, line, message)
        except Exception:  # the worker's sweep fails it later
            log.warning("could not mark import %s failed now; the sweep will", self.import_id)


async def _queue(
    conn: Connection,
    principal: Principal,
    import_id: int,
    held_by: str | None = None,
    lease_seconds: float = 30.0,
) -> int:
    payload: payloads.ImportRun = {"import_id": import_id}
    return await queue.enqueue(
        conn,
        RUN,
        payload,
        account_id=principal.account_id,
        lane=f"import:{import_id}",
        held_by=held_by,
        lease_seconds=lease_seconds,
    )


async def abandon(
    db: Database, principal: Principal, import_id: int, line: int, message: str
) -> bool:
    """Fail an import whose body did not arrive whole; its job deletes what was staged.
    Whether it was still receiving."""
    async with db.transaction() as conn:
        errors = orjson.dumps([{"line": line, "message": message}]).decode()
        failed = await repository.set_status(
            Scoped(conn, principal),
            import_id,
            "failed",
            now(),
            was=("receiving",),
            finished=True,
            errors=errors,
        )
        if failed:
            await _queue(conn, principal, import_id)
    return failed


async def sweep(db: Database, stale_seconds: float = STALE_SECONDS) -> int:
    """Fail the imports whose upload stopped without a word (their process died)."""
    failed = 0
    message = "The upload stopped before the end of the body; nothing was imported."
    for row in await repository.system_stale_uploads(db, after(-stale_seconds)):
        failed += await abandon(db, _principal(row), int(row["id"]), 0, message)
    return failed


def _principal(row: Row) -> Principal:
    return Principal.acting_for(int(row["account_id"]), row["env"])


# ---------------------------------------------------------------- processing


def batch_size(db: Database, configured: int | None) -> int:
    """Rows per transaction: small on SQLite, whose one writer the batch holds."""
    return configured or (500 if db.dialect == "sqlite" else 5000)


class ImportRunner:
    """The `contacts.import` job handler of a worker."""

    def __init__(self, db: Database, configured_batch: int | None) -> None:
        self.db = db
        self.batch_size = batch_size(db, configured_batch)

    async def __call__(self, job: Job, worker_id: str) -> None:
        try:
            await run(self.db, job, worker_id, self.batch_size)
        except Exception:
            if job.attempts >= MAX_CRASHES:  # the worker gives the job up: say so
                with contextlib.suppress(Exception):
                    await _give_up(self.db, job, worker_id)
            raise


Batch = tuple[list[Row], list[bulk.ContactRecord], list[tuple[int, str]]]


class Sizer:
    """Rows per batch. On SQLite a batch's transaction holds the one writer, on the event
    loop: when one takes longer than `slow` seconds (events to record for listeners,
    many tags, a busy machine), the next batches are halved, down to `least` rows; when
    they are quick again, they grow back to the configured size."""

    slow = 0.025
    least = 25

    def __init__(self, db: Database, rows: int) -> None:
        self.adapts = db.dialect == "sqlite"
        self.most = self.rows = rows

    def took(self, seconds: float) -> None:
        if not self.adapts:
            return
        if seconds > self.slow:
            self.rows = max(min(self.least, self.most), self.rows // 2)
        elif seconds < self.slow / 3:
            self.rows = min(self.most, self.rows * 2)


# Rows validated between two yields to the event loop (~1 ms of CPU).
CHECK_SLICE = 100


async def _read(
    db: Database, imp: Row, principal: Principal, position: int, batch_size: int
) -> Batch:
    """The next staged rows after `position` (off the loop on SQLite), checked in slices
    with a yield between them: validating is CPU (~10 µs a row), and in a thread it would
    take the GIL from the loop for 5 ms at every switch, stretching the writer's
    transactions. On PostgreSQL it runs while the previous batch's statements wait."""
    staged = await repository.staged(db, int(imp["id"]), position, batch_size)
    records: list[bulk.ContactRecord] = []
    failures: list[tuple[int, str]] = []
    # The account's custom fields as they are now (one small read per batch).
    defs = await definitions(db, principal) if staged else {}
    text = imp["format"] == "csv"
    for start in range(0, len(staged), CHECK_SLICE):
        valid, bad = check_rows(staged[start : start + CHECK_SLICE], defs, text=text)
        records += valid
        failures += bad
        await asyncio.sleep(0)
    return staged, records, failures


async def run(
    db: Database,
    job: Job,
    worker_id: str,
    batch_size: int,
    progress: ProgressHook | None = None,
) -> None:
    import_id = int(cast(payloads.ImportRun, job.payload)["import_id"])
    imp = await repository.system_by_id(db, import_id)
    if imp is None or imp["status"] in ("failed", "completed"):
        await _discard(db, job, worker_id, import_id)
        return
    principal = _principal(imp)
    position = int(imp["position"])
    size = Sizer(db, batch_size)
    ahead = asyncio.create_task(_read(db, imp, principal, position, size.rows))
    batches = 0
    try:
        while True:
            if batches % ANALYZE_EVERY == 0:
                await _settle(db)
            batches += 1
            staged, records, failures = await ahead
            if staged:  # read and check the next batch while this one is written
                upto = int(staged[-1]["line"])
                ahead = asyncio.create_task(_read(db, imp, principal, upto, size.rows))
            started = time.monotonic()
            async with db.transaction() as conn:
                if not await queue.system_lock_if_leased(conn, job, worker_id):
                    return  # another worker took the job over
                scope = Scoped(conn, principal)
                current = await repository.get(scope, import_id, lock=True)
                if current is None or current["status"] not in ("queued", "running"):
                    break  # failed meanwhile: its rows are discarded below
                if int(current["position"]) != position:
                    raise RuntimeError(f"import {import_id} moved on under its job")
                if not staged:
                    await repository.set_status(
                        scope,
                        import_id,
                        "completed",
                        now(),
                        was=("queued", "running"),
                        finished=True,
                    )
                    await queue.system_finish(conn, job, worker_id)
                else:
                    await _batch(scope, conn, current, staged, records, failures)
            size.took(time.monotonic() - started)
            if progress is not None:
                latest = await repository.get(Scoped(db, principal), import_id)
                if latest is not None:
                    progress(view(latest))
            if not staged:
                await _settle(db)
                return
            position = upto
            await asyncio.sleep(0)  # let requests (and other jobs) in between batches
    finally:
        ahead.cancel()
    await _discard(db, job, worker_id, import_id)


async def _settle(db: Database) -> None:
    """Keep what the lists rely on in step with a growing table (PostgreSQL)."""
    for table in GROWN_BY_IMPORTS:
        await analyze_if_grown(db, table)
    await contacts_service.settle_text_index(db)


async def _batch(
    scope: Scoped,
    conn: Connection,
    imp: Row,
    staged: list[Row],
    records: list[bulk.ContactRecord],
    failures: list[tuple[int, str]],
) -> None:
    outcome = await bulk.upsert(conn, scope.principal, records, update=bool(imp["update_existing"]))
    failures = failures + outcome.failures
    reported = sorted(failures + outcome.refused)
    errors = orjson.loads(imp["errors"])
    if len(errors) < MAX_ERRORS and reported:
        errors += [{"line": line, "message": message} for line, message in reported]
        errors = errors[:MAX_ERRORS]
    counts = {
        "processed": len(staged),
        "created": outcome.created,
        "updated": outcome.updated,
        "skipped": outcome.skipped,
        "failed": len(failures),
    }
    lines = (int(imp["position"]), int(staged[-1]["line"]))
    await repository.drop_staged(conn, int(imp["id"]), *lines)
    await repository.advance(
        scope, int(imp["id"]), lines, counts, orjson.dumps(errors).decode(), now()
    )


DISCARD_BATCH = 5000


async def _discard(db: Database, job: Job, worker_id: str, import_id: int) -> None:
    """Delete a finished or failed import's staged rows in batches, then the job."""
    position = 0
    while True:
        through = await repository.line_after(db, import_id, position, DISCARD_BATCH)
        async with db.transaction() as conn:
            if not await queue.system_lock_if_leased(conn, job, worker_id):
                return
            await repository.drop_staged(conn, import_id, position, through)
            if through is None:
                await queue.system_finish(conn, job, worker_id)
                return
        position = through
        await asyncio.sleep(0)


async def _give_up(db: Database, job: Job, worker_id: str) -> None:
    import_id = int(cast(payloads.ImportRun, job.payload)["import_id"])
    message = "The import could not be processed (see the server's log); it was stopped."
    known = await repository.system_by_id(db, import_id)
    if known is not None:
        async with db.transaction() as conn:
            scope = Scoped(conn, _principal(known))
            imp = await repository.get(scope, import_id, lock=True)
            if imp is not None:
                errors = orjson.loads(imp["errors"])[: MAX_ERRORS - 1]
                errors.append({"line": int(imp["position"]) + 1, "message": message})
                await repository.set_status(
                    scope,
                    import_id,
                    "failed",
                    now(),
                    was=("queued", "running"),
                    finished=True,
                    errors=orjson.dumps(errors).decode(),
                )
    await _discard(db, job, worker_id, import_id)


# ---------------------------------------------------------------- run here (the CLI)


async def run_held(
    db: Database,
    principal: Principal,
    import_id: int,
    job_id: int,
    worker_id: str,
    batch_size: int,
    lease_seconds: float,
    progress: ProgressHook | None = None,
) -> ImportView:
    """Run an import's job that this process queued claimed (`receive(held_by=...)`),
    extending its lease as it goes; if this process dies, a worker takes the job over
    when the lease runs out. Returns the finished import."""
    job = Job(job_id, RUN, {"import_id": import_id}, 1, principal.account_id, None)

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(lease_seconds / 3)
            try:
                await queue.system_extend_leases(db, worker_id, [job_id], lease_seconds)
            except Exception:  # the next beat tries again; at worst a worker takes over
                log.warning("could not extend the lease of import %s's job", import_id)

    beating = asyncio.create_task(heartbeat())
    try:
        await run(db, job, worker_id, batch_size, progress)
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
    row = await repository.get(Scoped(db, principal), import_id)
    assert row is not None
    return view(row)
