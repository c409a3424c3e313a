"""Pruning old events (each holds a full copy of its object): account by account, in
small batches of their own transactions, so that SQLite's single writer is never held
long. An event a queued job still needs is kept; deliveries go with their event (the
foreign key cascades)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from activecommerce.jobs.queue import stamp
from activecommerce.kit.db import Database

log = logging.getLogger("activecommerce.worker")

ENVIRONMENTS = ("live", "sandbox")
ACCOUNTS_PER_PAGE = 200


async def prune_events(db: Database, older_than_days: float, batch: int = 500) -> int:
    """Delete events older than `older_than_days` that no job needs; returns how many."""
    cutoff = stamp(datetime.now(UTC) - timedelta(days=older_than_days))
    pruned = 0
    after_account = 0
    while True:
        accounts = await db.fetchall(
            "SELECT id FROM accounts WHERE id > ? ORDER BY id LIMIT ?",
            (after_account, ACCOUNTS_PER_PAGE),
        )
        if not accounts:
            break
        after_account = int(accounts[-1]["id"])
        for account in accounts:
            for env in ENVIRONMENTS:
                pruned += await _prune_one(db, int(account["id"]), env, cutoff, batch)
    if pruned:
        log.info("pruned %s events older than %s days", pruned, older_than_days)
    return pruned


async def _prune_one(db: Database, account_id: int, env: str, cutoff: str, batch: int) -> int:
    pruned = 0
    while True:
        async with db.transaction() as conn:
            deleted = await conn.execute(
                "DELETE FROM events WHERE id IN (SELECT id FROM events"
                " WHERE account_id = ? AND env = ? AND created_at < ?"
                " AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.event_id = events.id)"
                " ORDER BY created_at LIMIT ?)",
                (account_id, env, cutoff, batch),
            )
        pruned += deleted
        if deleted < batch:
            return pruned
        await asyncio.sleep(0)  # let the loop (and other writers) in between batches
