"""Pipelines' own queries (the tables themselves go through the generic flow)."""

from __future__ import annotations

from activecommerce.kit.db import Connection
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import TENANT, tenant


async def stage_ids(conn: Connection, principal: Principal, pipeline_id: int) -> list[int]:
    rows = await conn.fetchall(
        f"SELECT id FROM deal_stages WHERE pipeline_id = ? AND {TENANT} ORDER BY id",
        (pipeline_id, *tenant(principal)),
    )
    return [int(row["id"]) for row in rows]
