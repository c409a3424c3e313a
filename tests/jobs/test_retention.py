"""Old events are pruned; recent ones and those a job still needs are kept."""

from __future__ import annotations

from conftest import Account
from fastapi import FastAPI
from helpers import new_hook as _hook

from activecommerce.jobs import queue
from activecommerce.jobs.retention import system_prune_events
from activecommerce.kit.clock import now


async def test_old_events_are_pruned_recent_and_needed_ones_kept(
    app: FastAPI, account: Account
) -> None:
    db = app.state.services.db
    acct = int(account.id)
    old = "2020-01-01T00:00:00.000000Z"

    async def event(created_at: str) -> int:
        async with db.transaction() as conn:
            row = await conn.fetchone(
                "INSERT INTO events (account_id, env, type, data, created_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (acct, "sandbox", "contact.created", '{"id": "1"}', created_at),
            )
        return int(row["id"])

    hook = await _hook(account.sandbox, "http://127.0.0.1:1/x", ["contactGroup.created"])
    olds = [await event(old) for _ in range(7)]
    recent = await event(now())
    needed = await event(old)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO webhook_deliveries (account_id, env, webhook_id, event_id, event_type,"
            " attempt, status_code, duration_ms, error, created_at, outcome)"
            " VALUES (?, ?, ?, ?, ?, 1, 200, 1, NULL, ?, 'delivered')",
            (acct, "sandbox", int(hook["id"]), olds[0], "contact.created", old),
        )
        # A job that still needs its (old) event, due only much later.
        await queue.enqueue(
            conn, "test.never", {"event_id": needed}, delay_seconds=3600, event_id=needed
        )
    pruned = await system_prune_events(db, 30, batch=3)  # several small batches
    assert pruned == 7
    left = {
        int(r["id"])
        for r in await db.fetchall("SELECT id FROM events WHERE account_id = ?", (acct,))
    }
    assert not left & set(olds)
    assert {recent, needed} <= left
    assert len(left) == 3
    gone = await db.fetchall("SELECT id FROM webhook_deliveries WHERE event_id = ?", (olds[0],))
    assert gone == []  # the delivery went with its event
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM jobs WHERE event_id = ?", (needed,))
