"""Deals' own queries (the deals table itself goes through the generic flow)."""

from __future__ import annotations

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import TENANT, tenant


async def any_with(conn: Connection, principal: Principal, column: str, object_id: int) -> bool:
    """Whether some deal has `column` (pipeline_id, stage_id) = `object_id`."""
    row = await conn.fetchone(
        f"SELECT 1 AS one FROM deals WHERE {column} = ? AND {TENANT} LIMIT 1",
        (object_id, *tenant(principal)),
    )
    return row is not None


async def totals_by_stage(db: Database, principal: Principal) -> list[Row]:
    """Per pipeline and stage (in the pipeline's order): how many deals, and their value
    (pipeline_id, pipeline, currency, stage_id, stage, deals, value)."""
    return await db.fetchall(
        "SELECT p.id AS pipeline_id, p.name AS pipeline, p.currency, s.id AS stage_id,"
        " s.name AS stage, count(d.id) AS deals, coalesce(sum(d.value), 0) AS value"
        " FROM deal_stages s JOIN pipelines p ON p.id = s.pipeline_id"
        " LEFT JOIN deals d ON d.stage_id = s.id"
        " WHERE s.account_id = ? AND s.env = ?"
        " GROUP BY p.id, p.name, p.currency, s.id, s.name, s.position"
        " ORDER BY p.id, s.position, s.id",
        tenant(principal),
    )


async def board_totals(db: Database, principal: Principal, pipeline_id: int) -> list[Row]:
    """One pipeline's deals per stage and currency: how many, and their value (stage_id,
    currency, deals, value). One grouped read of the pipeline's index range."""
    return await db.scan(
        "SELECT stage_id, currency, count(*) AS deals, coalesce(sum(value), 0) AS value"
        f" FROM deals WHERE {TENANT} AND pipeline_id = ?"
        " GROUP BY stage_id, currency ORDER BY stage_id, currency",
        (*tenant(principal), pipeline_id),
    )
