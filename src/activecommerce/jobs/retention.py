"""Pruning old events (each holds a full copy of its object, up to ~1 MB): the oldest
first (an index on created_at), in small batches of their own transactions with a yield
in between, so that neither SQLite's single writer nor the event loop is held long,
however many accounts there are. An event a queued job still needs is kept (a later run
prunes it once the job is done); deliveries go with their event (the foreign key
cascades)."""

from __future__ import annotations

import asyncio
import logging

from activecommerce.kit.clock import after
from activecommerce.kit.db import Database
from activecommerce.kit.repository import system

log = logging.getLogger("activecommerce.worker")


@system
async def system_prune_events(db: Database, older_than_days: float, batch: int = 20) -> int:
    """Delete events older than `older_than_days` that no job needs; returns how many."""
    cutoff = after(-older_than_days * 86400)
    pruned = 0
    while True:
        async with db.transaction() as conn:
            deleted = await conn.execute(
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE created_at < ?"
                " AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.event_id = events.id)"
                " ORDER BY created_at LIMIT ?)",
                (cutoff, batch),
            )
        pruned += deleted
        if deleted < batch:
            break
        await asyncio.sleep(0)  # let the loop (and other writers) in between batches
    if pruned:
        log.info("pruned %s events older than %s days", pruned, older_than_days)
    return pruned
