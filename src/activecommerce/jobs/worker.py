"""Runs due jobs: inside `serve` in the embedded mode, or as `activecommerce worker`
processes (any number) on PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from activecommerce.jobs import queue
from activecommerce.jobs.queue import Job
from activecommerce.kit.db import Database

log = logging.getLogger("activecommerce.worker")

MAX_CRASHES = 20

Handler = Callable[[Job, str], Awaitable[None]]
"""Runs one claimed job; it must finish (`queue.finish`) or reschedule
(`queue.retry_at`) the job itself, in the same transaction as what it records."""


class Worker:
    def __init__(
        self,
        db: Database,
        handlers: dict[str, Handler],
        *,
        concurrency: int = 32,
        lease_seconds: float = 30.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.db = db
        self.handlers = handlers
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:64]
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        # Jobs that share an `order_key` (a webhook and one object) run one after the
        # other in this worker, so that their effects keep the order of the events.
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._slot_freed = asyncio.Event()
        self._job_added = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self._job_added.set()

    async def run(self) -> None:
        log.info("worker %s started", self.worker_id)
        queue.listen(self._job_added)
        try:
            await self._loop()
        finally:
            queue.unlisten(self._job_added)
        if self._running:
            await asyncio.wait(self._running, timeout=10)

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
            try:
                jobs = await queue.claim(self.db, self.worker_id, room, self.lease_seconds)
            except Exception:
                log.exception("claiming jobs failed")
            for job in jobs:
                self._start(job)
            if not jobs:
                await self._wait(self._job_added, self.poll_interval)

    @staticmethod
    async def _wait(event: asyncio.Event, timeout: float) -> None:
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    def _start(self, job: Job) -> None:
        key = job.payload.get("order_key")
        before = self._tails.get(key) if key else None
        task = asyncio.create_task(self._run_one(job, before))
        self._running.add(task)
        task.add_done_callback(self._finished)
        if key:
            self._tails[key] = task

            def forget(done: asyncio.Task[None], key: str = key) -> None:
                if self._tails.get(key) is done:
                    del self._tails[key]

            task.add_done_callback(forget)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slot_freed.set()

    async def _run_one(self, job: Job, before: asyncio.Task[None] | None = None) -> None:
        if before is not None:
            await asyncio.wait([before])
        handler = self.handlers.get(job.kind)
        if handler is None:
            # Perhaps a newer worker knows it (a deployment in progress): leave it for later.
            log.warning("no handler for job kind %r here; job %s waits", job.kind, job.id)
            async with self.db.transaction() as conn:
                await queue.retry_at(conn, job, self.worker_id, 60.0)
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
                    await queue.finish(conn, job, self.worker_id)
                else:
                    delay = min(3600.0, 2.0**job.attempts)
                    await queue.retry_at(conn, job, self.worker_id, delay)
        except Exception:
            log.exception("could not reschedule job %s", job.id)
