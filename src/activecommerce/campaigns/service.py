"""Email campaigns: stored and validated here; sending comes with the email issue."""

from __future__ import annotations

from typing import Any, TypeVar

from activecommerce.brands.service import brands
from activecommerce.campaigns import models, repository
from activecommerce.campaigns.audiences import refuse_if_in_audience
from activecommerce.campaigns.schemas import EmailCampaignIn, EmailCampaignOut, EmailContentIn
from activecommerce.email.templates import template_errors
from activecommerce.groups.service import contact_groups
from activecommerce.kit.db import Connection, Database
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.named import NAME_SORTS
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, conflict
from activecommerce.kit.repository import Scoped
from activecommerce.kit.resource import (
    Resource,
    Rules,
    require_ref,
    unchanged,
)
from activecommerce.segments.service import segments
from activecommerce.tags.service import contact_tags

TEMPLATED = ("subject", "htmlContent", "plaintextContent")

ContentT = TypeVar("ContentT", bound=EmailContentIn)


class EmailContentRules(Rules[ContentT]):
    async def check(self, principal: Principal, sent: dict[str, Any]) -> None:
        errors = await template_errors({name: sent.get(name) for name in TEMPLATED})
        if errors:
            raise Problem(422, "The request has invalid fields.", errors=errors)

    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        new: ContentT,
        current: dict[str, Any] | None,
    ) -> dict[str, Any]:
        values = await super().prepare(conn, principal, new, current)
        same = unchanged(current, values, "brandId")
        await require_ref(conn, principal, brands, "brandId", new.brandId, unchanged=same)
        return values


class CampaignRules(EmailContentRules[EmailCampaignIn]):
    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        new: EmailCampaignIn,
        current: dict[str, Any] | None,
    ) -> dict[str, Any]:
        if current is not None and current["status"] in ("sending", "paused", "sent"):
            raise conflict(f"This campaign is {current['status']} and can no longer be edited.")
        return await super().prepare(conn, principal, new, current)

    async def before_delete(self, conn: Connection, principal: Principal, object_id: int) -> None:
        row = await repository.by_id(Scoped(conn, principal), object_id)
        if row is not None and row["status"] in ("sending", "paused"):
            raise conflict(f"This campaign is {row['status']}; cancel it before deleting it.")


email_campaigns = Resource(
    collection="emailCampaigns",
    event_name="emailCampaign",
    table=models.email_campaigns,
    title="email campaign",
    create_model=EmailCampaignIn,
    patch_model=patch_model_of(EmailCampaignIn),
    out_model=EmailCampaignOut,
    sortable=NAME_SORTS,
    rules=CampaignRules(),
    stream_lists=True,
)


def guard_references() -> None:
    """A campaign whose brand is deleted keeps its content and says so in its own event;
    a group, tag or segment in the audience of a campaign still to be resolved stays.
    Registered once per process by the composition root (`activecommerce.wiring.wire`)."""
    brands.clear_on_delete(email_campaigns, "brandId")
    contact_groups.guard_delete(refuse_if_in_audience("groupIds", "group"))
    contact_tags.guard_delete(refuse_if_in_audience("tagIds", "tag"))
    segments.guard_delete(refuse_if_in_audience("segmentIds", "segment"))


async def count_sent_since(db: Database, principal: Principal, since: str) -> int:
    """How many campaigns finished sending at or after the timestamp `since`."""
    return await repository.count_sent_since(db, principal, since)
