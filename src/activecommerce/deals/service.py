"""Deals: the stage and status must belong to the deal's pipeline."""

from __future__ import annotations

from typing import Any

from activecommerce.contacts.service import contacts
from activecommerce.deals import models, repository
from activecommerce.deals.schemas import DealIn, DealOut
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.events import Event
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import conflict, invalid
from activecommerce.kit.resource import (
    DeleteGuard,
    ListFilter,
    Resource,
    Rules,
    require_ref,
    unchanged,
)
from activecommerce.pipelines.service import deal_stages, deal_statuses, pipelines


class DealRules(Rules[DealIn]):
    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        new: DealIn,
        current: dict[str, Any] | None,
    ) -> dict[str, Any]:
        values = await super().prepare(conn, principal, new, current)

        async def ref(target: Resource, name: str) -> Row | None:
            same = unchanged(current, values, name)
            return await require_ref(conn, principal, target, name, values[name], unchanged=same)

        pipeline = await ref(pipelines, "pipelineId")
        assert pipeline is not None
        stage = await ref(deal_stages, "stageId")
        assert stage is not None
        if stage["pipeline_id"] != pipeline["id"]:
            raise invalid("stageId", "belongs to another pipeline")
        status = await ref(deal_statuses, "status")
        if status is not None and status["pipeline_id"] != pipeline["id"]:
            raise invalid("status", "belongs to another pipeline")
        await ref(contacts, "contact")
        if new.currency is None:
            return {**values, "currency": pipeline["currency"]}
        return values

    def events(
        self,
        name: str,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> list[Event]:
        changes = super().events(name, action, before, after)
        if action == "updated" and before is not None and after is not None:
            if before["stageId"] != after["stageId"]:
                changes.append(("deal.stage_changed", after))
            if before["status"] != after["status"]:
                changes.append(("deal.status_changed", after))
        return changes


deals = Resource(
    collection="deals",
    event_name="deal",
    table=models.deals,
    title="deal",
    create_model=DealIn,
    patch_model=patch_model_of(DealIn),
    out_model=DealOut,
    sortable={
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "name": "name",
        "value": "value",
        "closeDate": "close_date",
    },
    filters=[
        ListFilter("pipelineId", "pipeline_id = ?", kind="ref"),
        ListFilter("stageId", "stage_id = ?", kind="ref"),
        ListFilter("contact", "contact_id = ?", kind="ref"),
        ListFilter("status", "status_id = ?", kind="ref"),
    ],
    rules=DealRules(),
)


def _refuse_while_deals(column: str, message: str) -> DeleteGuard:
    async def guard(conn: Connection, principal: Principal, object_id: int) -> None:
        if await repository.any_with(conn, principal, column, object_id):
            raise conflict(message)

    return guard


# A pipeline or stage with deals stays; a deal's contact and status may go away, and the
# deal stays and says so in its own event.
pipelines.guard_delete(
    _refuse_while_deals("pipeline_id", "This pipeline still has deals; move or delete them first.")
)
deal_stages.guard_delete(
    _refuse_while_deals("stage_id", "This deal stage still has deals; move them first.")
)
contacts.clear_on_delete(deals, "contact")
deal_statuses.clear_on_delete(deals, "status")


# ---------------------------------------------------------------- reads for the console


async def totals_by_stage(db: Database, principal: Principal) -> list[Row]:
    """Per pipeline and stage, in the pipeline's order: how many deals, and their value
    (pipeline_id, pipeline, currency, stage_id, stage, deals, value)."""
    return await repository.totals_by_stage(db, principal)


async def board_totals(db: Database, principal: Principal, pipeline_id: int) -> list[Row]:
    """One pipeline's deals per stage and currency: how many, and their value (stage_id,
    currency, deals, value)."""
    return await repository.board_totals(db, principal, pipeline_id)
