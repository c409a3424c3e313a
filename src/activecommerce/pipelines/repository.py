"""Pipelines' own queries (the tables themselves go through the generic flow)."""

from __future__ import annotations

from activecommerce.kit.repository import Scoped


async def stage_ids(scope: Scoped, pipeline_id: int) -> list[int]:
    rows = await scope.fetchall(
        "SELECT id FROM deal_stages WHERE pipeline_id = ? AND @tenant ORDER BY id", (pipeline_id,)
    )
    return [int(row["id"]) for row in rows]
