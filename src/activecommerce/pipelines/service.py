"""Pipelines and the stages and statuses that belong to one."""

from __future__ import annotations

from typing import Any

from activecommerce.kit.db import Connection
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.listing import ListFilter
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import invalid
from activecommerce.kit.repository import Scoped
from activecommerce.kit.resource import Resource, Rules, require_ref, unchanged
from activecommerce.pipelines import models, repository
from activecommerce.pipelines.schemas import (
    DealStageIn,
    DealStageOut,
    DealStatusIn,
    DealStatusOut,
    PipelineIn,
    PipelineOut,
)

TIMES = {"createdAt": "created_at", "updatedAt": "updated_at"}


pipelines = Resource(
    collection="pipelines",
    event_name="pipeline",
    table=models.pipelines,
    title="pipeline",
    create_model=PipelineIn,
    patch_model=patch_model_of(PipelineIn),
    out_model=PipelineOut,
    sortable={**TIMES, "name": "name"},
)


class PipelinePartRules(Rules[DealStageIn | DealStatusIn]):
    """Stages and statuses: the pipeline must be the caller's, and stays the one they were
    created in."""

    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        new: DealStageIn | DealStatusIn,
        current: dict[str, Any] | None,
    ) -> dict[str, Any]:
        if current is not None and new.pipelineId != current["pipelineId"]:
            raise invalid("pipelineId", "is fixed at creation and cannot be changed")
        values = await super().prepare(conn, principal, new, current)
        same = unchanged(current, values, "pipelineId")
        await require_ref(conn, principal, pipelines, "pipelineId", new.pipelineId, unchanged=same)
        return values


def _pipeline_filter() -> ListFilter:
    return ListFilter(
        "pipelineId", "pipeline_id = ?", kind="ref", description="Only this pipeline's"
    )


deal_stages = Resource(
    collection="dealStages",
    event_name="dealStage",
    table=models.deal_stages,
    title="deal stage",
    create_model=DealStageIn,
    patch_model=patch_model_of(DealStageIn),
    out_model=DealStageOut,
    sortable={**TIMES, "name": "name", "order": "position"},
    filters=[_pipeline_filter()],
    rules=PipelinePartRules(),
)

deal_statuses = Resource(
    collection="dealStatuses",
    event_name="dealStatus",
    table=models.deal_statuses,
    title="deal status",
    create_model=DealStatusIn,
    patch_model=patch_model_of(DealStatusIn),
    out_model=DealStatusOut,
    sortable={**TIMES, "name": "name"},
    filters=[_pipeline_filter()],
    rules=PipelinePartRules(),
)


async def stage_ids(conn: Connection, principal: Principal, pipeline_id: int) -> list[int]:
    """The ids of a pipeline's stages (deleting the pipeline deletes them)."""
    return await repository.stage_ids(Scoped(conn, principal), pipeline_id)
