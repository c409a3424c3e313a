"""Campaigns' own queries (the campaigns table itself goes through the generic flow;
its status changes are `campaigns/state.py`'s)."""

from __future__ import annotations

from collections.abc import Mapping

from activecommerce.kit.db import Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped, lock_clause, system


async def count_sent_since(db: Database, principal: Principal, since: str) -> int:
    """How many campaigns finished sending at or after the timestamp `since`."""
    row = await Scoped(db, principal).fetchone(
        "SELECT count(*) AS n FROM email_campaigns WHERE @tenant AND status = 'sent'"
        " AND sent_at >= ?",
        (since,),
    )
    return int(row["n"]) if row else 0


@system
async def system_by_id(db: Database, campaign_id: int) -> Row | None:
    """A campaign by its id alone: what a `campaign.start` job names (its row says whose
    it is)."""
    return await db.fetchone("SELECT * FROM email_campaigns WHERE id = ?", (campaign_id,))


async def by_id(scope: Scoped, campaign_id: int, lock: str | None = None) -> Row | None:
    """A campaign; with `lock`, locked in that mode ("UPDATE", "SHARE") until the
    transaction ends."""
    locking = lock_clause(scope.db, lock) if lock is not None else ""
    return await scope.fetchone(
        f"SELECT * FROM email_campaigns WHERE id = ? AND @tenant{locking}", (campaign_id,)
    )


async def update(scope: Scoped, campaign_id: int, values: Mapping[str, object]) -> Row:
    """Set these columns of a campaign: its row after."""
    sets = ", ".join(f"{column} = ?" for column in values)
    row = await scope.fetchone(
        f"UPDATE email_campaigns SET {sets} WHERE id = ? AND @tenant RETURNING *",
        (*values.values(), campaign_id),
    )
    assert row is not None
    return row
