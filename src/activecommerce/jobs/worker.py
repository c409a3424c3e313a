"""Runs due jobs: inside `serve` in the embedded mode, or as `activecommerce worker`
processes (any number) on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from activecommerce.jobs import queue
from activecommerce.jobs.queue import Job
from activecommerce.kit.db import Database

log = logging.getLogger("activecommerce.worker")

MAX_CRASHES = 20

Handler = Callable[[Job, str], Awaitable[None]]
"""Runs one claimed job; it must finish (`queue.system_finish`) or reschedule
(`queue.system_retry_at`) the job itself, in the same transaction as what it records."""


Periodic = tuple[float, Callable[[], Awaitable[None]]]
"""Housekeeping the worker runs every so many seconds (e.g. pruning old events)."""


class Worker:
    def __init__(
        self,
        db: Database,
        handlers: dict[str, Handler],
        *,
        concurrency: int = 32,
        lease_seconds: float = 30.0,
        poll_interval: float = 0.05,
        lane_concurrency: int | None = None,
        account_concurrency: int | None = None,
        periodic: list[Periodic] | None = None,
    ) -> None:
        self.db = db
        self.handlers = handlers
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        # A lane (one receiver) and an account hold at most this many of the slots, so
        # that a slow or dead receiver, or one account's backlog, cannot take them all.
        self.lane_concurrency = lane_concurrency or concurrency
        self.account_concurrency = account_concurrency or concurrency
        self.periodic = periodic or []
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:64]
        self._stopping = asyncio.Event()
        self._running: dict[asyncio.Task[None], Job] = {}
        self._lanes: dict[str, int] = {}
        self._accounts: dict[int, int] = {}
        self._slot_freed = asyncio.Event()
        self._job_added = asyncio.Event()
        self._claim_failing = False

    def stop(self) -> None:
        self._stopping.set()
        self._job_added.set()

    async def run(self) -> None:
        log.info("worker %s started", self.worker_id)
        queue.listen(self._job_added)
        helpers = [asyncio.create_task(self._heartbeat())]
        helpers += [asyncio.create_task(self._every(every, work)) for every, work in self.periodic]
        try:
            await self._loop()
        finally:
            queue.unlisten(self._job_added)
            if self._running:
                await asyncio.wait(list(self._running), timeout=10)
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    def caps(self) -> queue.Caps:
        return queue.Caps(
            self.lane_concurrency, self.account_concurrency, self._lanes, self._accounts
        )

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            room = self.concurrency - len(self._running)
            if room <= 0:
                # Full: claim again as soon as a job finishes, not after a poll interval.
                self._slot_freed.clear()
                await self._wait(self._slot_freed, self.poll_interval)
                continue
            jobs: list[Job] = []
            self._job_added.clear()  # before the claim, so that no wake-up is lost
            self._slot_freed.clear()
            try:
                jobs = await queue.system_claim(
                    self.db, self.worker_id, room, self.lease_seconds, self.caps()
                )
            except Exception:
                # Once when claiming starts failing (the database is down), once when it
                # works again: not a traceback every poll.
                if not self._claim_failing:
                    self._claim_failing = True
                    log.exception("claiming jobs failed; retrying quietly until it works")
                await self._wait(self._stopping, max(self.poll_interval, 0.5))
                continue
            if self._claim_failing:
                self._claim_failing = False
                log.warning("claiming jobs works again")
            for job in jobs:
                self._start(job)
            if not jobs and self._running:
                # Nothing claimable while jobs run: what is due may be waiting for a lane, an
                # account or a chain to free up. Wait for a freed slot (or the poll
                # interval), not for every new job: each claim reads past what is capped.
                await self._wait(self._slot_freed, self.poll_interval)
            elif not jobs:
                await self._wait_any(self.poll_interval)

    async def _wait_any(self, seconds: float) -> None:
        waiters = [
            asyncio.ensure_future(self._job_added.wait()),
            asyncio.ensure_future(self._slot_freed.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    @staticmethod
    async def _wait(event: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    async def _heartbeat(self) -> None:
        """Every lease/3, extend the leases of the jobs still running here."""
        failing = False
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            jobs = list(self._running.values())
            try:
                await queue.system_renew(self.db, self.worker_id, jobs, self.lease_seconds)
            except Exception:
                if not failing:
                    log.exception("extending leases failed")
                failing = True
            else:
                failing = False

    async def _every(self, every: float, work: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await work()
            except Exception:
                log.exception("periodic work %s failed", getattr(work, "__name__", work))
            await asyncio.sleep(every)

    def _start(self, job: Job) -> None:
        for running in self._running.values():
            if running.id == job.id:
                # Its lease ran out while it ran here (the database did not answer the
                # heartbeat) and this worker claimed it again. A second run beside it
                # would send what the first is still recording; nor may the first send
                # more: another worker may have run the job while the lease was out (its
                # rows are stale). It records what it sent and gives the job back (this
                # worker holds it again, so its heartbeat keeps the new lease meanwhile).
                running.lease.lost = True
                return
        task = asyncio.create_task(self._run_one(job))
        self._running[task] = job
        if job.lane is not None:
            self._lanes[job.lane] = self._lanes.get(job.lane, 0) + 1
        if job.account_id is not None:
            self._accounts[job.account_id] = self._accounts.get(job.account_id, 0) + 1
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        job = self._running.pop(task, None)
        if job is not None:
            _decrement(self._lanes, job.lane)
            _decrement(self._accounts, job.account_id)
        self._slot_freed.set()

    async def _run_one(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        if handler is None:
            # Perhaps a newer worker knows it (a deployment in progress): leave it for later.
            log.warning("no handler for job kind %r here; job %s waits", job.kind, job.id)
            async with self.db.transaction() as conn:
                await queue.system_retry_at(conn, job, self.worker_id, 60.0)
            return
        try:
            await handler(job, self.worker_id)
        except Exception:
            log.exception("job %s (%s) failed on attempt %s", job.id, job.kind, job.attempts)
            await self._after_crash(job)

    async def _after_crash(self, job: Job) -> None:
        """A handler that raised: try again later with backoff, and give up after
        MAX_CRASHES attempts. If even that write fails, the lease expires and the job runs
        again anyway (at least once)."""
        try:
            async with self.db.transaction() as conn:
                if job.attempts >= MAX_CRASHES:
                    log.error(
                        "dropping job %s (%s) after %s attempts", job.id, job.kind, job.attempts
                    )
                    await queue.system_finish(conn, job, self.worker_id)
                else:
                    delay = min(3600.0, 2.0**job.attempts)
                    await queue.system_retry_at(conn, job, self.worker_id, delay)
        except Exception:
            log.exception("could not reschedule job %s", job.id)


def _decrement(counts: dict[Any, int], key: Any) -> None:
    if key is None:
        return
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
