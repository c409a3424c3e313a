"""Email automations: stored and validated here; running them comes later."""

from __future__ import annotations

from typing import Any

from activecommerce.automations import models, repository, state
from activecommerce.automations.schemas import EmailAutomationIn, EmailAutomationOut
from activecommerce.brands.service import brands
from activecommerce.campaigns.service import EmailContentRules
from activecommerce.email import service as email
from activecommerce.email.config import EmailConfig
from activecommerce.forms.service import forms
from activecommerce.groups.service import contact_groups
from activecommerce.kit.db import Connection, Database
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.named import NAME_SORTS
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import conflict
from activecommerce.kit.resource import DeleteGuard, Resource, require_ref, unchanged
from activecommerce.pipelines.service import deal_stages, pipelines, stage_ids
from activecommerce.segments.conditions import check
from activecommerce.tags.service import contact_tags

TRIGGER_REFS = {
    "tagId": contact_tags,
    "groupId": contact_groups,
    "stageId": deal_stages,
    "formId": forms,
}


class AutomationRules(EmailContentRules[EmailAutomationIn]):
    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        new: EmailAutomationIn,
        current: dict[str, Any] | None,
    ) -> dict[str, Any]:
        values = await super().prepare(conn, principal, new, current)
        activated = values["status"] == "active" and (
            current is None or current["status"] != "active"
        )
        if activated or (
            values["status"] == "active" and not unchanged(current, values, "brandId")
        ):
            # Sending is asked for (made active, or its brand changed while active): live
            # mail needs a postal address, the brand's or the account's.
            await email.require_postal_address(conn, principal, values.get("brandId"))
        if current is not None and current["status"] == "paused" and values["status"] == "active":
            # Resumed: what came due while it was paused goes out now.
            await state.resumed(conn, principal, int(current["id"]))
        trigger = values["trigger"]
        if trigger.get("conditions") is None:
            trigger.pop("conditions", None)
        else:
            await check(conn, principal, trigger["conditions"], "trigger.conditions")
        before = current["trigger"] if current is not None else {}
        for key, target in TRIGGER_REFS.items():
            if key in trigger:
                same = before.get(key) == trigger[key]
                await require_ref(
                    conn, principal, target, f"trigger.{key}", trigger[key], unchanged=same
                )
        return values


email_automations = Resource(
    collection="emailAutomations",
    event_name="emailAutomation",
    table=models.email_automations,
    title="email automation",
    create_model=EmailAutomationIn,
    patch_model=patch_model_of(EmailAutomationIn),
    out_model=EmailAutomationOut,
    sortable=NAME_SORTS,
    rules=AutomationRules(),
    stream_lists=True,
)


async def _automations_naming(
    conn: Connection, principal: Principal, key: str, object_id: int
) -> list[str]:
    rows = await repository.naming_in_trigger(conn, principal, key, object_id)
    return [f"{row['id']} ({row['name']!r})" for row in rows]


def _refuse_if_triggering(key: str, what: str) -> DeleteGuard:
    async def guard(conn: Connection, principal: Principal, object_id: int) -> None:
        named = await _automations_naming(conn, principal, key, object_id)
        if named:
            raise conflict(
                f"This {what} is named in the trigger of email automations "
                f"{', '.join(named)}; change their trigger or delete them first."
            )

    return guard


async def _refuse_if_stages_trigger(conn: Connection, principal: Principal, pipeline: int) -> None:
    """Deleting a pipeline deletes its stages: the same rule as deleting each."""
    for stage in await stage_ids(conn, principal, pipeline):
        named = await _automations_naming(conn, principal, "stageId", stage)
        if named:
            raise conflict(
                f"Stage {stage} of this pipeline is named in the trigger of email "
                f"automations {', '.join(named)}; change their trigger or delete them first."
            )


def guard_references() -> None:
    """What an automation's trigger names stays; an automation whose brand is deleted
    keeps its content. Registered once per process by the composition root
    (`activecommerce.wiring.wire`)."""
    for key, target in TRIGGER_REFS.items():
        target.guard_delete(_refuse_if_triggering(key, target.title))
    pipelines.guard_delete(_refuse_if_stages_trigger)
    brands.clear_on_delete(email_automations, "brandId")


async def report(
    db: Database, principal: Principal, automation_id: str, config: EmailConfig
) -> dict[str, Any]:
    row = await email_automations.get_row(db, principal, automation_id)
    counts = await email.report(db, principal, "automation", int(row["id"]))
    return {
        "automationId": str(row["id"]),
        "status": row["status"],
        "delivery": config.delivery(principal.env),
        "enrolled": counts["recipients"],
        "sent": counts["sent"],
        **email.outcomes(counts),
        "opens": counts["opens"],
        "clicks": counts["clicks"],
        "reasons": counts["reasons"],
    }
