"""Email campaigns: stored and validated here; sending comes with the email issue."""

from __future__ import annotations

from typing import Any

from activecommerce.brands.service import brands
from activecommerce.campaigns.schemas import EmailCampaignIn, EmailCampaignOut
from activecommerce.email.templates import template_errors
from activecommerce.kit.db import Connection
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.named import NAME_SORTS
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, conflict
from activecommerce.kit.resource import Field, Resource, Rules, require_ref, unchanged

TEMPLATED = ("subject", "htmlContent", "plaintextContent")

EMAIL_CONTENT_FIELDS = [
    Field("name", "name", nullable=False),
    Field("subject", "subject", nullable=False),
    Field("fromEmail", "from_email", nullable=False),
    Field("fromName", "from_name"),
    Field("replyToEmail", "reply_to_email"),
    Field("htmlContent", "html_content"),
    Field("plaintextContent", "plaintext_content"),
    Field("brandId", "brand_id", kind="ref"),
]


class EmailContentRules(Rules):
    async def check(self, principal: Principal, sent: dict[str, Any]) -> None:
        errors = await template_errors({name: sent.get(name) for name in TEMPLATED})
        if errors:
            raise Problem(422, "The request has invalid fields.", errors=errors)

    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        values: dict[str, Any],
        current: dict[str, Any] | None,
    ) -> None:
        same = unchanged(current, values, "brandId")
        await require_ref(conn, principal, brands, "brandId", values.get("brandId"), unchanged=same)


class CampaignRules(EmailContentRules):
    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        values: dict[str, Any],
        current: dict[str, Any] | None,
    ) -> None:
        if current is not None and current["status"] in ("sending", "sent"):
            raise conflict(f"This campaign is {current['status']} and can no longer be edited.")
        await super().prepare(conn, principal, values, current)

    async def before_delete(self, conn: Connection, principal: Principal, object_id: int) -> None:
        row = await conn.fetchone("SELECT status FROM email_campaigns WHERE id = ?", (object_id,))
        if row is not None and row["status"] == "sending":
            raise conflict("This campaign is sending; cancel it before deleting it.")


email_campaigns = Resource(
    collection="emailCampaigns",
    event_name="emailCampaign",
    table="email_campaigns",
    title="email campaign",
    fields=[
        *EMAIL_CONTENT_FIELDS,
        Field("status", "status", readonly=True, insert_default="draft"),
        Field("scheduledAt", "scheduled_at", readonly=True),
        Field("sentAt", "sent_at", readonly=True),
    ],
    create_model=EmailCampaignIn,
    patch_model=patch_model_of(EmailCampaignIn),
    out_model=EmailCampaignOut,
    sortable=NAME_SORTS,
    rules=CampaignRules(),
    stream_lists=True,
)

# A campaign whose brand is deleted keeps its content and says so in its own event.
brands.clear_on_delete(email_campaigns, "brandId")
