"""Campaigns' own queries (the campaigns table itself goes through the generic flow;
its status changes are `campaigns/state.py`'s)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import (
    TENANT,
    Scoped,
    in_list,
    list_param,
    lock_clause,
    system,
    tenant,
)


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


# ---------------------------------------------------------------- audiences


async def existing_ids(
    db: Database | Connection, principal: Principal, table: str, ids: Sequence[int]
) -> set[int]:
    """Which of `ids` are the caller's rows of `table` (contact_groups, contact_tags,
    segments)."""
    if not ids:
        return set()
    rows = await Scoped(db, principal).fetchall(
        f"SELECT id FROM {table} WHERE @tenant AND {in_list(db, 'id')}",
        (list_param(db, list(ids)),),
    )
    return {int(row["id"]) for row in rows}


async def max_contact_id(db: Database, principal: Principal) -> int:
    """The highest id of the caller's contacts (0 without any)."""
    row = await Scoped(db, principal).fetchone(
        "SELECT max(id) AS n FROM contacts WHERE @tenant", ()
    )
    return int(row["n"]) if row is not None and row["n"] is not None else 0


async def naming_in_audience(conn: Connection, principal: Principal) -> list[Row]:
    """The campaigns whose audience may still be resolved (scheduled, sending), with
    their stored audience: few, so the caller reads the audience itself."""
    return await conn.fetchall(
        "SELECT id, name, status, audience FROM email_campaigns"
        f" WHERE {TENANT} AND status IN ('scheduled', 'sending') AND audience IS NOT NULL"
        " ORDER BY id",
        tenant(principal),
    )
