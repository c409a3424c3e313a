"""Deals' own queries (the deals table itself goes through the generic flow)."""

from __future__ import annotations

from activecommerce.kit.db import Row
from activecommerce.kit.repository import Scoped


async def any_with(scope: Scoped, column: str, object_id: int) -> bool:
    """Whether some deal has `column` (pipeline_id, stage_id) = `object_id`."""
    row = await scope.fetchone(
        f"SELECT 1 AS one FROM deals WHERE {column} = ? AND @tenant LIMIT 1", (object_id,)
    )
    return row is not None


async def totals_by_stage(scope: Scoped) -> list[Row]:
    """Per pipeline and stage (in the pipeline's order): how many deals, and their value
    (pipeline_id, pipeline, currency, stage_id, stage, deals, value)."""
    return await scope.fetchall(
        "SELECT p.id AS pipeline_id, p.name AS pipeline, p.currency, s.id AS stage_id,"
        " s.name AS stage, count(d.id) AS deals, coalesce(sum(d.value), 0) AS value"
        " FROM deal_stages s JOIN pipelines p ON p.id = s.pipeline_id"
        " LEFT JOIN deals d ON d.stage_id = s.id"
        " WHERE @tenant(s)"
        " GROUP BY p.id, p.name, p.currency, s.id, s.name, s.position"
        " ORDER BY p.id, s.position, s.id"
    )


async def board_totals(scope: Scoped, pipeline_id: int) -> list[Row]:
    """One pipeline's deals per stage and currency: how many, and their value (stage_id,
    currency, deals, value). One grouped read of the pipeline's index range."""
    return await scope.scan(
        "SELECT stage_id, currency, count(*) AS deals, coalesce(sum(value), 0) AS value"
        " FROM deals WHERE @tenant AND pipeline_id = ?"
        " GROUP BY stage_id, currency ORDER BY stage_id, currency",
        (pipeline_id,),
    )
