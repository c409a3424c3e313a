"""The worker's claim loop: a database outage is logged once, and its end once."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from helpers import wait_for

from activecommerce.jobs import queue
from activecommerce.jobs.queue import Job
from activecommerce.jobs.worker import Worker
from activecommerce.kit.db import connect
from activecommerce.kit.migrate import upgrade


async def test_claim_failures_are_logged_once_and_recovery_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'outage.db'}"
    await asyncio.to_thread(upgrade, url)
    db = await connect(url)
    done: list[int] = []

    async def ok(job: Job, worker_id: str) -> None:
        done.append(job.id)
        async with db.transaction() as conn:
            await queue.system_finish(conn, job, worker_id)

    worker = Worker(db, {"test.ok": ok}, poll_interval=0.01)
    caplog.set_level(logging.INFO, logger="activecommerce.worker")
    task = asyncio.create_task(worker.run())
    try:
        async with db.transaction() as conn:  # the queue "goes down"
            await conn.execute("ALTER TABLE jobs RENAME TO jobs_away")

        def failures() -> list[logging.LogRecord]:
            return [r for r in caplog.records if "claiming jobs failed" in r.getMessage()]

        await wait_for(lambda: bool(failures()), 5.0, "the first failed claim")
        await asyncio.sleep(1.1)  # the scenario: more failed polls (0.5 s apart), not logged
        async with db.transaction() as conn:
            await conn.execute("ALTER TABLE jobs_away RENAME TO jobs")
            await queue.enqueue(conn, "test.ok", {})
        await wait_for(lambda: len(done) == 1, 5.0, "the job after recovery")
    finally:
        worker.stop()
        await task
        await db.close()
    failed = [r for r in caplog.records if "claiming jobs failed" in r.getMessage()]
    recovered = [r for r in caplog.records if "claiming jobs works again" in r.getMessage()]
    assert len(failed) == 1
    assert failed[0].exc_info is not None
    assert len(recovered) == 1
