"""The one durable queue for background work (webhook deliveries now; sends and
automations later), kept in the application's own database.

Why no library: the work must be enqueued in the same transaction as the change that
causes it (an event and its deliveries commit or vanish together), on SQLite in the
embedded mode and on PostgreSQL when scaled. The well-kept Python queues (Celery, RQ,
Dramatiq, arq, Procrastinate) either keep jobs in Redis/RabbitMQ, outside that
transaction, or are PostgreSQL-only (Procrastinate) and would leave the embedded mode
without a queue. So this is the small database-backed pattern of Oban, Solid Queue and
GoodJob:

- a job is a row; `enqueue` inserts it with the caller's connection (same transaction);
- a worker claims due rows by setting a lease (`locked_until`), with
  `FOR UPDATE SKIP LOCKED` on PostgreSQL so that workers never claim the same job, and
  SQLite's single writer doing the same there;
- a finished job is deleted; a failed one is rescheduled (`run_at`) or dropped;
- a worker killed with `kill -9` holds its leases until they expire; then the jobs are
  due again and another worker takes them (at least once).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from activecommerce.kit.db import Connection, Database
from activecommerce.kit.tables import now


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def after(seconds: float) -> str:
    return stamp(datetime.now(UTC) + timedelta(seconds=seconds))


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


# Workers in this process, woken when a job is queued here (the embedded mode), so that
# a delivery does not wait for the next poll. Workers in other processes poll.
_listeners: set[asyncio.Event] = set()


def listen(event: asyncio.Event) -> None:
    _listeners.add(event)


def unlisten(event: asyncio.Event) -> None:
    _listeners.discard(event)


async def enqueue(
    conn: Connection, kind: str, payload: dict[str, Any], delay_seconds: float = 0.0
) -> None:
    # Setting the event before the commit is safe: the worker reads committed rows only,
    # and on SQLite the write transaction does not yield to the loop before it commits.
    for event in _listeners:
        event.set()
    stamp_now = now()
    run_at = stamp_now if delay_seconds <= 0 else after(delay_seconds)
    await conn.execute(
        "INSERT INTO jobs (kind, payload, run_at, attempts, created_at) VALUES (?, ?, ?, 0, ?)",
        (kind, orjson.dumps(payload).decode(), run_at, stamp_now),
    )


_DUE = "run_at <= ? AND (locked_until IS NULL OR locked_until < ?)"


async def claim(db: Database, worker_id: str, limit: int, lease_seconds: float) -> list[Job]:
    moment = now()
    # A cheap read first, so that an idle worker does not take the write lock to find
    # nothing (SQLite has one writer).
    if await db.fetchone(f"SELECT id FROM jobs WHERE {_DUE} LIMIT 1", (moment, moment)) is None:
        return []
    skip_locked = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
    async with db.transaction() as conn:
        rows = await conn.fetchall(
            "UPDATE jobs SET locked_until = ?, locked_by = ?, attempts = attempts + 1"
            f" WHERE id IN (SELECT id FROM jobs WHERE {_DUE}"
            f" ORDER BY run_at, id LIMIT ?{skip_locked})"
            " RETURNING id, kind, payload, attempts",
            (after(lease_seconds), worker_id, moment, moment, limit),
        )
    jobs = [
        Job(int(r["id"]), r["kind"], orjson.loads(r["payload"]), int(r["attempts"])) for r in rows
    ]
    jobs.sort(key=lambda job: job.id)
    return jobs


async def finish(conn: Connection, job: Job, worker_id: str) -> None:
    await conn.execute("DELETE FROM jobs WHERE id = ? AND locked_by = ?", (job.id, worker_id))


async def retry_at(conn: Connection, job: Job, worker_id: str, delay_seconds: float) -> None:
    await conn.execute(
        "UPDATE jobs SET run_at = ?, locked_until = NULL, locked_by = NULL"
        " WHERE id = ? AND locked_by = ?",
        (after(delay_seconds), job.id, worker_id),
    )


async def pending(db: Database, kind: str | None = None) -> int:
    if kind is None:
        row = await db.fetchone("SELECT count(*) AS n FROM jobs")
    else:
        row = await db.fetchone("SELECT count(*) AS n FROM jobs WHERE kind = ?", (kind,))
    return int(row["n"]) if row else 0
