"""The job queue on its own database: crashes are retried with backoff, unknown kinds
wait, finished jobs are gone."""

from __future__ import annotations

import asyncio
from pathlib import Path

from helpers import wait_for

from activecommerce.jobs import queue
from activecommerce.jobs.queue import Job
from activecommerce.jobs.worker import Worker
from activecommerce.kit.clock import after
from activecommerce.kit.db import connect
from activecommerce.kit.migrate import upgrade


async def test_crashes_are_retried_later_and_unknown_kinds_wait(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    upgrade(url)
    db = await connect(url)
    ran: list[int] = []

    async def crash(job: Job, worker_id: str) -> None:
        ran.append(job.attempts)
        raise RuntimeError("boom")

    async def ok(job: Job, worker_id: str) -> None:
        async with db.transaction() as conn:
            await queue.system_finish(conn, job, worker_id)

    try:
        async with db.transaction() as conn:
            await queue.enqueue(conn, "test.crash", {"n": 1})
            await queue.enqueue(conn, "test.ok", {"n": 2})
            await queue.enqueue(conn, "test.unknown", {"n": 3})
            await queue.enqueue(conn, "test.ok", {"n": 4}, delay_seconds=3600)
        worker = Worker(db, {"test.crash": crash, "test.ok": ok}, poll_interval=0.01)
        task = asyncio.create_task(worker.run())

        async def settled() -> bool:
            rows = await db.fetchall("SELECT kind, run_at, locked_by FROM jobs")
            by_kind = {r["kind"]: r for r in rows}
            return (
                bool(ran)
                and await queue.system_pending(db, "test.ok") == 1
                and by_kind["test.crash"]["locked_by"] is None
                and by_kind["test.unknown"]["run_at"] > after(30.0)
            )

        await wait_for(settled, 5.0, "the crash rescheduled, the ok job done, the unknown put off")
        await asyncio.sleep(0.1)  # the scenario: ten polls in which the crashed job must not rerun
        worker.stop()
        await task

        assert ran == [1]  # ran once, then rescheduled with backoff rather than at once
        rows = await db.fetchall("SELECT kind, attempts, run_at, locked_by FROM jobs ORDER BY id")
        by_kind = {r["kind"]: r for r in rows}
        assert set(by_kind) == {"test.crash", "test.unknown", "test.ok"}
        assert by_kind["test.crash"]["locked_by"] is None
        assert by_kind["test.crash"]["run_at"] > after(1.0)
        assert by_kind["test.unknown"]["run_at"] > after(30.0)
        assert by_kind["test.ok"]["attempts"] == 0  # the delayed one has not run
    finally:
        await db.close()


async def test_a_lease_that_ran_out_is_not_held_again_once_renewed(tmp_path: Path) -> None:
    """Worker A's lease runs out (its heartbeat did not get through); B takes the job and
    gives it back; A claims it again while its first run still goes on. That run must not
    send again (B may have sent its rows): neither the re-claim nor A's next heartbeat
    makes its lease held again."""
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    upgrade(url)
    db = await connect(url)
    try:
        async with db.transaction() as conn:
            await queue.enqueue(conn, "test.send", {"n": 1})
        worker = Worker(db, {}, lease_seconds=0.3)
        (first,) = await queue.system_claim(db, worker.worker_id, 1, 0.3)
        assert first.lease.held()
        running: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        worker._running[running] = first  # type: ignore[index]  # its run, still going
        await asyncio.sleep(0.4)
        assert not first.lease.held()
        (taken,) = await queue.system_claim(db, "another", 1, 30.0)
        async with db.transaction() as conn:
            await queue.system_retry_at(conn, taken, "another", 0.0)
        (again,) = await queue.system_claim(db, worker.worker_id, 1, 30.0)
        worker._start(again)
        assert not first.lease.held()
        await queue.system_renew(db, worker.worker_id, [first], 30.0)  # the heartbeat
        assert not first.lease.held()
        assert await queue.system_owns(db, first, worker.worker_id)  # it may still settle the job
        running.cancel()
    finally:
        await db.close()
