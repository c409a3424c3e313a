"""Campaigns' own queries (the campaigns table itself goes through the generic flow)."""

from __future__ import annotations

from activecommerce.kit.db import Database
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import TENANT, tenant


async def count_sent_since(db: Database, principal: Principal, since: str) -> int:
    """How many campaigns finished sending at or after the timestamp `since`."""
    row = await db.fetchone(
        f"SELECT count(*) AS n FROM email_campaigns WHERE {TENANT}"
        " AND status = 'sent' AND sent_at >= ?",
        (*tenant(principal), since),
    )
    return int(row["n"]) if row else 0
