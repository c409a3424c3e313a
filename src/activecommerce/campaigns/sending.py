"""Sending a campaign (SPEC §5): the request side. The work itself is done by the email
jobs (email/sender.py): this records the audience, moves the status and queues them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from activecommerce.campaigns.schemas import CampaignSendIn, CampaignTestIn
from activecommerce.campaigns.service import email_campaigns
from activecommerce.contacts import repository as contacts_repository
from activecommerce.email import repository
from activecommerce.email.config import EmailConfig
from activecommerce.groups.service import contact_groups
from activecommerce.jobs import queue
from activecommerce.kit import events
from activecommerce.kit.clock import now, parse, stamp
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
    try:
        at = body.scheduledAt.astimezone(UTC) if body.scheduledAt is not None else moment
    except OverflowError:  # 9999-12-31T23:00-05:00: in year 10000 in UTC
        raise invalid("scheduledAt", "must be before the year 10000 (in UTC)") from None
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
        match = await repository.contact_by_email(conn, principal, address)
        contact_id = None if match is None else int(match["id"])
        ids += await repository.add_test_copies(
            conn, principal, int(row["id"]), contact_id, [address]
        )
    await repository.queue_send(conn, principal, ids, campaign_id=int(row["id"]), test=True)
    return {"status": "queued", "emails": list(body.emails)}


async def report(
    db: Database, principal: Principal, campaign_id: str, email: EmailConfig
) -> dict[str, Any]:
    row = await email_campaigns.get_row(db, principal, campaign_id)
    counts = await repository.report(db, "campaign_id", int(row["id"]))
    return {
        "campaignId": str(row["id"]),
        "status": row["status"],
        "delivery": email.delivery(principal.env),
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


# An audience's size is worth this long to count exactly (the console shows it live as the
# audience is picked); past it, what the maintained counts prove ("at least").
AUDIENCE_COUNT_SECONDS = 0.1


async def audience_size(
    db: Database, principal: Principal, group_ids: list[int], tag_ids: list[int]
) -> tuple[int, bool]:
    """How many distinct active contacts are in any of these groups or tags, and whether
    that is exact (else a lower bound). The maintained counts answer when they can: with
    no inactive contact, a single group or tag is its count; else a count in the
    database, given up after `AUDIENCE_COUNT_SECONDS` for the bound the counts prove."""
    groups, tags = sorted(set(group_ids)), sorted(set(tag_ids))
    if not groups and not tags:
        return 0, True
    sources = [f"group:{g}" for g in groups] + [f"tag:{t}" for t in tags]
    counts = await contacts_repository.maintained_counts(
        db, principal, ["all", "status:active", *sources]
    )
    active = counts["status:active"]
    sizes = [counts[key] for key in sources]
    # Each source has at least its members less every inactive contact; the union at
    # most all its members, and at most every active contact.
    lower = max(0, max(sizes) - (counts["all"] - active))
    upper = min(sum(sizes), active)
    if lower >= upper:
        return upper, True
    found = await contacts_repository.count_active_members(
        db, principal, groups, tags, AUDIENCE_COUNT_SECONDS
    )
    return (lower, False) if found is None else (found, True)


HOURLY_SPAN = timedelta(hours=48)


async def activity(db: Database, principal: Principal, campaign_id: str) -> dict[str, Any]:
    """Opens and clicks over time (first opens and first clicks of each recipient): hourly
    while they span at most 48 hours from the send, else daily. Every bucket from the send
    to the last activity is listed (zeros included), labelled in UTC."""
    row = await email_campaigns.get_row(db, principal, campaign_id)
    rows = await repository.hourly_opens_and_clicks(db, "campaign_id", int(row["id"]))
    return time_series(row["scheduled_at"] or row["created_at"], rows)


def time_series(start_stamp: str, rows: list[Any]) -> dict[str, Any]:
    hours = [datetime.strptime(r["hour"], "%Y-%m-%dT%H").replace(tzinfo=UTC) for r in rows]
    first = parse(start_stamp).replace(minute=0, second=0, microsecond=0)
    first = min([first, *hours])
    last = max([first, *hours])
    hourly = last - first <= HOURLY_SPAN
    if hourly:
        step, width, unit = timedelta(hours=1), 13, "hour"
    else:
        first = first.replace(hour=0)
        step, width, unit = timedelta(days=1), 10, "day"
    labels: list[str] = []
    moment = first
    while moment <= last:
        labels.append(moment.strftime("%Y-%m-%dT%H")[:width])
        moment += step
    index = {label: i for i, label in enumerate(labels)}
    series = {"open": [0] * len(labels), "click": [0] * len(labels)}
    for r in rows:
        series[r["kind"]][index[str(r["hour"])[:width]]] += int(r["n"])
    shown = [f"{label[:10]} {label[11:]}:00" if hourly else label for label in labels]
    return {"unit": unit, "labels": shown, "opens": series["open"], "clicks": series["click"]}
