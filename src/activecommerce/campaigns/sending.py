"""Sending a campaign (SPEC §5): the request side. The work itself is done by the email
jobs (email/sender.py): this records the audience, moves the status and queues them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from activecommerce.campaigns.schemas import CampaignSendIn, CampaignTestIn
from activecommerce.campaigns.service import email_campaigns
from activecommerce.email import repository
from activecommerce.groups.service import contact_groups
from activecommerce.jobs import queue
from activecommerce.kit import events
from activecommerce.kit.clock import now, stamp
from activecommerce.kit.db import Connection, Database
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import conflict, invalid
from activecommerce.kit.repository import TENANT, tenant
from activecommerce.kit.resource import require_ref
from activecommerce.tags.service import contact_tags


async def _set_status(
    conn: Connection, principal: Principal, before: Any, sets: str, params: tuple[Any, ...]
) -> dict[str, Any]:
    row = await conn.fetchone(
        f"UPDATE email_campaigns SET {sets}, updated_at = ? WHERE id = ? AND {TENANT} RETURNING *",
        (*params, now(), before["id"], *tenant(principal)),
    )
    assert row is not None
    old, new = email_campaigns.serialize(before), email_campaigns.serialize(row)
    changes = email_campaigns.rules.events("emailCampaign", "updated", old, new)
    await events.record(conn, principal, changes)
    return new


async def send(
    conn: Connection, principal: Principal, campaign_id: str, body: CampaignSendIn
) -> dict[str, Any]:
    row = await email_campaigns.get_row(conn, principal, campaign_id, lock=True)
    if row["status"] != "draft":
        raise conflict(f"This campaign is {row['status']}; only a draft can be sent.")
    audience = body.audience
    if not audience.groupIds and not audience.tagIds:
        raise invalid("audience", "must name at least one group or tag")
    for index, group in enumerate(audience.groupIds):
        await require_ref(conn, principal, contact_groups, f"audience.groupIds[{index}]", group)
    for index, tag in enumerate(audience.tagIds):
        await require_ref(conn, principal, contact_tags, f"audience.tagIds[{index}]", tag)
    moment = datetime.now(UTC)
    at = body.scheduledAt.astimezone(UTC) if body.scheduledAt is not None else moment
    delay = max(0.0, (at - moment).total_seconds())
    status = "scheduled" if delay > 0 else "sending"
    stored = {
        "groupIds": list(dict.fromkeys(audience.groupIds)),
        "tagIds": list(dict.fromkeys(audience.tagIds)),
    }
    updated = await _set_status(
        conn,
        principal,
        row,
        "status = ?, scheduled_at = ?, audience = ?",
        (status, stamp(at), orjson.dumps(stored).decode()),
    )
    await queue.enqueue(
        conn,
        repository.START,
        {"campaign": int(row["id"])},
        delay,
        account_id=principal.account_id,
        lane=f"campaign:{row['id']}",
    )
    return updated


async def cancel(conn: Connection, principal: Principal, campaign_id: str) -> dict[str, Any]:
    row = await email_campaigns.get_row(conn, principal, campaign_id, lock=True)
    if row["status"] not in ("scheduled", "sending"):
        raise conflict(
            f"This campaign is {row['status']}; only a scheduled or sending one can be canceled."
        )
    return await _set_status(conn, principal, row, "status = ?", ("canceled",))


async def send_test(
    conn: Connection, principal: Principal, campaign_id: str, body: CampaignTestIn
) -> dict[str, Any]:
    """Test copies, now, each rendered for the contact with that address if there is one
    (else with empty fields). They are not part of the campaign's report."""
    row = await email_campaigns.get_row(conn, principal, campaign_id)
    ids: list[int] = []
    for address in body.emails:
        match = await conn.fetchone(
            f"SELECT id FROM contacts WHERE {TENANT} AND lower(email) = lower(?)",
            (*tenant(principal), address),
        )
        contact_id = None if match is None else int(match["id"])
        ids += await repository.add_test_copies(
            conn, principal, int(row["id"]), contact_id, [address]
        )
    await repository.queue_send(conn, principal, ids, campaign_id=int(row["id"]), test=True)
    return {"status": "queued", "emails": list(body.emails)}


async def report(db: Database, principal: Principal, campaign_id: str) -> dict[str, Any]:
    row = await email_campaigns.get_row(db, principal, campaign_id)
    counts = await repository.report(db, "campaign_id", int(row["id"]))
    return {
        "campaignId": str(row["id"]),
        "status": row["status"],
        "recipients": counts["recipients"],
        "sent": counts["sent"],
        "failed": counts["failed"],
        "opens": counts["opens"],
        "uniqueOpens": counts["unique_opens"],
        "clicks": counts["clicks"],
        "uniqueClicks": counts["unique_clicks"],
        "unsubscribes": counts["unsubscribes"],
        "bounces": counts["bounces"],
    }
