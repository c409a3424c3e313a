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

A worker also knows, without asking the database, until when a lease is certainly its
own (`Lease`): the moment it sent the claim (or the last heartbeat that extended it) plus
the lease's length. A job that sends something the database cannot take back (an email)
checks that before each send: once the database stops answering, heartbeats fail, and
the job stops before another worker may take it over (decision 008, faults).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from activecommerce.kit.clock import after, now
from activecommerce.kit.db import Connection, Database
from activecommerce.kit.repository import system


class Lease:
    """What this worker knows of its hold on a job: the monotonic time until which the
    lease is certainly its own (taken from before the claim or heartbeat was sent, so it
    ends no later than the row's `locked_until`), and whether a heartbeat found the job
    taken by another worker (or finished). No other worker can take a job before its
    lease ends, so `held()` is a check of ownership that costs no query."""

    __slots__ = ("lost", "seconds", "until")

    def __init__(self, seconds: float, started: float | None = None) -> None:
        self.seconds = seconds
        self.until = (time.monotonic() if started is None else started) + seconds
        self.lost = False

    def held(self) -> bool:
        return not self.lost and time.monotonic() < self._end()

    def renewed(self, started: float) -> None:
        if started >= self._end():
            # The lease had run out before this renewal was sent: another worker may have
            # taken the job and run it meanwhile (and given it back, so that this worker
            # could take it again). What this run knows of its rows is stale: it sends
            # nothing more, ever (its rows are read again by the job's next run).
            self.lost = True
            return
        self.until = max(self.until, started + self.seconds)

    def _end(self) -> float:
        # A tenth of the lease to spare: for clocks of other hosts a little ahead of ours.
        return self.until - min(self.seconds / 10, 2.0)


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    # The kind's payload (`payloads`), as JSON gave it back: not checked.
    payload: dict[str, Any]
    attempts: int
    account_id: int | None = None
    lane: str | None = None
    # Unknown (a job not claimed through `claim`): held for a default lease from now.
    lease: Lease = field(default_factory=lambda: Lease(30.0), compare=False, repr=False)


# Workers in this process, woken when a job is queued here (the embedded mode), so that
# a delivery does not wait for the next poll. Workers in other processes poll.
_listeners: set[asyncio.Event] = set()


def listen(event: asyncio.Event) -> None:
    _listeners.add(event)


def unlisten(event: asyncio.Event) -> None:
    _listeners.discard(event)


async def enqueue(
    conn: Connection,
    kind: str,
    payload: Mapping[str, object],  # one of jobs/payloads.py's kinds
    delay_seconds: float = 0.0,
    *,
    account_id: int | None = None,
    lane: str | None = None,
    order_key: str | None = None,
    event_id: int | None = None,
    held_by: str | None = None,
    lease_seconds: float = 30.0,
) -> int:
    """Queue a job; returns its id. `lane` (e.g. one webhook) and `account_id` let workers
    cap what one receiver or one account holds in flight; jobs with the same `order_key`
    run one after the other, in id order, on any number of workers. `held_by` queues it
    already claimed by that worker id (one attempt, leased for `lease_seconds`): a process
    that runs the job itself (the CLI's import), which any worker takes over if the
    lease runs out."""
    # Setting the event before the commit is safe: the worker reads committed rows only,
    # and on SQLite the write transaction does not yield to the loop before it commits.
    for event in _listeners:
        event.set()
    stamp_now = now()
    run_at = stamp_now if delay_seconds <= 0 else after(delay_seconds)
    lease = None if held_by is None else after(lease_seconds)
    row = await conn.fetchone(
        "INSERT INTO jobs (kind, payload, run_at, attempts, created_at, account_id, lane,"
        " order_key, event_id, locked_by, locked_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING id",
        (
            kind,
            orjson.dumps(payload).decode(),
            run_at,
            0 if held_by is None else 1,
            stamp_now,
            account_id,
            lane,
            order_key,
            event_id,
            held_by,
            lease,
        ),
    )
    assert row is not None
    return int(row["id"])


_DUE = "run_at <= ? AND (locked_until IS NULL OR locked_until < ?)"
# Only the oldest job of a chain (one webhook, one object) may run: the next waits until
# it is finished, whichever worker holds it (an index probe on (order_key, id)).
_HEAD = (
    "(order_key IS NULL OR NOT EXISTS"
    " (SELECT 1 FROM jobs older WHERE older.order_key = jobs.order_key AND older.id < jobs.id))"
)


@dataclass(frozen=True, slots=True)
class Caps:
    """What a worker already holds, and how much one lane and one account may hold."""

    lane_limit: int
    account_limit: int
    lanes: dict[str, int]
    accounts: dict[int, int]

    def saturated(self) -> tuple[list[str], list[int]]:
        return (
            [lane for lane, n in self.lanes.items() if n >= self.lane_limit],
            [acct for acct, n in self.accounts.items() if n >= self.account_limit],
        )


def _placeholders(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


def _pick(rows: list[Any], room: int, caps: Caps | None) -> list[int]:
    """Due candidates in run_at order, taken while their lane and account have room."""
    if caps is None:
        return [int(r["id"]) for r in rows[:room]]
    lanes = dict(caps.lanes)
    accounts = dict(caps.accounts)
    chosen: list[int] = []
    for r in rows:
        if len(chosen) >= room:
            break
        lane, acct = r["lane"], r["account_id"]
        if lane is not None and lanes.get(lane, 0) >= caps.lane_limit:
            continue
        if acct is not None and accounts.get(acct, 0) >= caps.account_limit:
            continue
        if lane is not None:
            lanes[lane] = lanes.get(lane, 0) + 1
        if acct is not None:
            accounts[acct] = accounts.get(acct, 0) + 1
        chosen.append(int(r["id"]))
    return chosen


@system
async def system_claim(
    db: Database, worker_id: str, limit: int, lease_seconds: float, caps: Caps | None = None
) -> list[Job]:
    """Lease up to `limit` due jobs: heads of their chains, in run_at order, leaving out
    lanes and accounts that already hold their share of this worker (`caps`), so that a
    backlog of one account's or one receiver's jobs cannot fill every claim.

    A read picks the candidates without the write lock (SQLite has one writer); the update
    then leases those still due (another worker may have taken some: SKIP LOCKED and the
    re-checked condition leave them out)."""
    moment = now()
    where = f"{_DUE} AND {_HEAD}"
    params: list[Any] = [moment, moment]
    if caps is not None:
        full_lanes, full_accounts = caps.saturated()
        if full_lanes:
            where += f" AND (lane IS NULL OR lane NOT IN ({_placeholders(full_lanes)}))"
            params += full_lanes
        if full_accounts:
            where += (
                f" AND (account_id IS NULL OR account_id NOT IN ({_placeholders(full_accounts)}))"
            )
            params += full_accounts
    # More candidates than room, so that capped ones do not leave the claim short.
    # A cheap probe first, so that an idle worker's poll stays on the loop and short.
    if await db.fetchone(f"SELECT id FROM jobs WHERE {_DUE} LIMIT 1", (moment, moment)) is None:
        return []
    # Off the event loop on SQLite: with a large backlog in capped lanes this reads past
    # many rows (measured: 27 ms with 100,000 due jobs in one saturated lane).
    rows = await db.scan(
        f"SELECT id, lane, account_id FROM jobs WHERE {where} ORDER BY run_at, id LIMIT ?",
        (*params, limit * 4),
    )
    chosen = _pick(rows, limit, caps)
    if not chosen:
        return []
    ids = _placeholders(chosen)
    skip_locked = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
    started = time.monotonic()  # before the lease's end is stamped: ours until then at least
    async with db.transaction() as conn:
        taken = await conn.fetchall(
            "UPDATE jobs SET locked_until = ?, locked_by = ?, attempts = attempts + 1"
            f" WHERE id IN (SELECT id FROM jobs WHERE id IN ({ids}) AND {_DUE}{skip_locked})"
            f" AND {_DUE}"
            " RETURNING id, kind, payload, attempts, account_id, lane",
            (after(lease_seconds), worker_id, *chosen, moment, moment, moment, moment),
        )
    jobs = [
        Job(
            int(r["id"]),
            r["kind"],
            orjson.loads(r["payload"]),
            int(r["attempts"]),
            None if r["account_id"] is None else int(r["account_id"]),
            r["lane"],
            Lease(lease_seconds, started),
        )
        for r in taken
    ]
    jobs.sort(key=lambda job: job.id)
    return jobs


@system
async def system_extend_leases(
    db: Database, worker_id: str, job_ids: list[int], lease_seconds: float
) -> int:
    """Push back the lease of jobs this worker is still running (a heartbeat), so that
    a slow job is not taken by another worker, or by this one, while it runs."""
    return len(await _extend(db, worker_id, job_ids, lease_seconds))


async def _extend(
    db: Database, worker_id: str, job_ids: list[int], lease_seconds: float
) -> set[int]:
    if not job_ids:
        return set()
    async with db.transaction() as conn:
        rows = await conn.fetchall(
            f"UPDATE jobs SET locked_until = ? WHERE id IN ({_placeholders(job_ids)})"
            " AND locked_by = ? RETURNING id",
            (after(lease_seconds), *job_ids, worker_id),
        )
    return {int(r["id"]) for r in rows}


@system
async def system_renew(db: Database, worker_id: str, jobs: list[Job], lease_seconds: float) -> None:
    """The heartbeat: `system_extend_leases`, and what this worker now knows of each lease
    (extended from the moment the update was sent, or lost: taken over or finished)."""
    started = time.monotonic()
    extended = await _extend(db, worker_id, [job.id for job in jobs], lease_seconds)
    for job in jobs:
        if job.id in extended:
            job.lease.renewed(started)
        else:
            job.lease.lost = True


@system
async def system_owns(db: Database, job: Job, worker_id: str) -> bool:
    """Whether this worker still holds the job's lease (not expired and taken by another)."""
    row = await db.fetchone(
        "SELECT 1 AS held FROM jobs WHERE id = ? AND locked_by = ?", (job.id, worker_id)
    )
    return row is not None


@system
async def system_lock_if_leased(conn: Connection, job: Job, worker_id: str) -> bool:
    """Inside a transaction: lock the job's row (on PostgreSQL) until the transaction
    ends if this worker still holds its lease (whether it does), so that what it records
    cannot race a worker that took the job over."""
    held = await conn.execute(
        "UPDATE jobs SET locked_by = locked_by WHERE id = ? AND locked_by = ?",
        (job.id, worker_id),
    )
    return held > 0


@system
async def system_checkpoint(
    conn: Connection, job: Job, worker_id: str, payload: Mapping[str, object]
) -> None:
    """A long job's progress, kept in its payload (in the transaction of the work it
    describes): a run that takes the job over starts from there."""
    await conn.execute(
        "UPDATE jobs SET payload = ? WHERE id = ? AND locked_by = ?",
        (orjson.dumps(payload).decode(), job.id, worker_id),
    )


async def payload_of(db: Database, account_id: int, kind: str, job_id: int) -> Any | None:
    """The payload of one of an account's queued or running jobs of this kind (None once
    it has finished, or when it is not the account's)."""
    row = await db.fetchone(
        "SELECT payload FROM jobs WHERE id = ? AND account_id = ? AND kind = ?",
        (job_id, account_id, kind),
    )
    return None if row is None else orjson.loads(row["payload"])


async def lane_jobs(conn: Connection, account_id: int, kind: str, lane: str) -> list[Any]:
    """The payloads of an account's queued or running jobs of this kind in this lane
    (e.g. one campaign's sends). A read of the whole queue (lanes are not indexed): for
    rare operations only (resuming a campaign)."""
    rows = await conn.fetchall(
        "SELECT payload FROM jobs WHERE account_id = ? AND kind = ? AND lane = ?",
        (account_id, kind, lane),
    )
    return [orjson.loads(r["payload"]) for r in rows]


@system
async def system_finish(conn: Connection, job: Job, worker_id: str) -> None:
    await conn.execute("DELETE FROM jobs WHERE id = ? AND locked_by = ?", (job.id, worker_id))


@system
async def system_retry_at(conn: Connection, job: Job, worker_id: str, delay_seconds: float) -> None:
    await conn.execute(
        "UPDATE jobs SET run_at = ?, locked_until = NULL, locked_by = NULL"
        " WHERE id = ? AND locked_by = ?",
        (after(delay_seconds), job.id, worker_id),
    )


@system
async def system_pending(db: Database, kind: str | None = None) -> int:
    if kind is None:
        row = await db.fetchone("SELECT count(*) AS n FROM jobs")
    else:
        row = await db.fetchone("SELECT count(*) AS n FROM jobs WHERE kind = ?", (kind,))
    return int(row["n"]) if row else 0
