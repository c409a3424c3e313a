"""Email automations: stored and validated here; running them comes later."""

from __future__ import annotations

from typing import Any

from activecommerce.automations.schemas import EmailAutomationIn, EmailAutomationOut
from activecommerce.campaigns.service import EMAIL_CONTENT_FIELDS, EmailContentRules
from activecommerce.groups.service import contact_groups
from activecommerce.kit.db import Connection
from activecommerce.kit.named import NAME_SORTS
from activecommerce.kit.principal import Principal
from activecommerce.kit.resource import Field, Resource, require_ref
from activecommerce.kit.routes import patch_model_of
from activecommerce.pipelines.service import deal_stages
from activecommerce.tags.service import contact_tags

TRIGGER_REFS = {"tagId": contact_tags, "groupId": contact_groups, "stageId": deal_stages}


class AutomationRules(EmailContentRules):
    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        values: dict[str, Any],
        current: dict[str, Any] | None,
    ) -> None:
        await super().prepare(conn, principal, values, current)
        trigger = values["trigger"]
        for key, target in TRIGGER_REFS.items():
            if key in trigger:
                await require_ref(conn, principal, target, f"trigger.{key}", trigger[key])


email_automations = Resource(
    collection="emailAutomations",
    event_name="emailAutomation",
    table="email_automations",
    title="email automation",
    fields=[
        *EMAIL_CONTENT_FIELDS,
        Field("trigger", "trigger_spec", kind="json", required=True, nullable=False),
        Field("delaySeconds", "delay_seconds", nullable=False),
        Field("status", "status", nullable=False),
    ],
    create_model=EmailAutomationIn,
    patch_model=patch_model_of(EmailAutomationIn),
    out_model=EmailAutomationOut,
    sortable=NAME_SORTS,
    rules=AutomationRules(),
)
