"""Deals' own queries (the deals table itself goes through the generic flow)."""

from __future__ import annotations

from activecommerce.kit.db import Connection
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import TENANT, tenant


async def any_with(conn: Connection, principal: Principal, column: str, object_id: int) -> bool:
    """Whether some deal has `column` (pipeline_id, stage_id) = `object_id`."""
    row = await conn.fetchone(
        f"SELECT 1 AS one FROM deals WHERE {column} = ? AND {TENANT} LIMIT 1",
        (object_id, *tenant(principal)),
    )
    return row is not None
