"""Sending a campaign: the request side. The work itself is done by the email jobs
(email/sender.py); the status changes are `campaigns/state.py`'s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from activecommerce.campaigns import audiences, state
from activecommerce.campaigns.schemas import (
    AudienceCountIn,
    AudienceIn,
    CampaignSendIn,
    CampaignTestIn,
)
from activecommerce.campaigns.service import email_campaigns
from activecommerce.consent import service as consent
from activecommerce.contacts import service as contacts
from activecommerce.email import service as email
from activecommerce.email.config import EmailConfig
from activecommerce.kit.clock import parse, stamp
from activecommerce.kit.db import Connection, Database
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import conflict, invalid


async def send(
    conn: Connection, principal: Principal, campaign_id: str, body: CampaignSendIn
) -> dict[str, Any]:
    row = await state.draft(conn, principal, campaign_id)
    await email.require_postal_address(conn, principal, row["brand_id"])
    audience = await audiences.validated(conn, principal, body.audience)
    moment = datetime.now(UTC)
    try:
        at = body.scheduledAt.astimezone(UTC) if body.scheduledAt is not None else moment
    except OverflowError:  # 9999-12-31T23:00-05:00: in year 10000 in UTC
        raise invalid("scheduledAt", "must be before the year 10000 (in UTC)") from None
    delay = max(0.0, (at - moment).total_seconds())
    return await state.schedule(conn, principal, row, stamp(at), delay, audiences.dumps(audience))


async def send_test(
    conn: Connection, principal: Principal, campaign_id: str, body: CampaignTestIn
) -> dict[str, Any]:
    """Test copies, now, each rendered for the contact with that address if there is one
    (else with empty fields). They are not part of the campaign's report. None goes to
    an address on the suppression list (409)."""
    row = await email_campaigns.get_row(conn, principal, campaign_id)
    # A test copy is mail too: not to an address whose person said stop.
    listed = await consent.suppressions_of(conn, principal, body.emails)
    if listed:
        raise conflict(
            "These addresses are on the suppression list and get no mail, test copies"
            f" included: {', '.join(sorted(listed))}."
        )
    recipients: list[tuple[int | None, str]] = []
    for address in body.emails:
        match = await contacts.by_email(conn, principal, address)
        recipients.append((None if match is None else int(match["id"]), address))
    await email.add_test_copies(conn, principal, int(row["id"]), recipients)
    return {"status": "queued", "emails": list(body.emails)}


async def report(
    db: Database, principal: Principal, campaign_id: str, config: EmailConfig
) -> dict[str, Any]:
    row = await email_campaigns.get_row(db, principal, campaign_id)
    counts = await email.report(db, principal, "campaign", int(row["id"]))
    return {
        "campaignId": str(row["id"]),
        "status": row["status"],
        "delivery": config.delivery(principal.env),
        "recipients": counts["recipients"],
        "sent": counts["sent"],
        **email.outcomes(counts),
        "opens": counts["opens"],
        "uniqueOpens": counts["unique_opens"],
        "clicks": counts["clicks"],
        "uniqueClicks": counts["unique_clicks"],
        "unsubscribes": counts["unsubscribes"],
        "bounces": counts["bounced"],
        "reasons": counts["reasons"],
        "pausedReason": (
            await email.paused_reason(db, principal, int(row["id"]))
            if row["status"] == "paused"
            else None
        ),
    }


async def audience_count(
    db: Database, principal: Principal, campaign_id: str, body: AudienceCountIn
) -> dict[str, Any]:
    """How many active contacts this audience reaches now (exact): what a send started
    now would record, but for contacts that change meanwhile."""
    await email_campaigns.get_row(db, principal, campaign_id)  # 404 for another's
    n, _ = await audience_size(db, principal, body.audience)
    return {"count": n}


async def audience_size(
    db: Database, principal: Principal, body: AudienceIn, *, live: bool = False
) -> tuple[int, bool]:
    """The size of an audience as asked for (checked: 422s as `send`'s), and whether it
    is exact: always, unless `live` (see `audiences.size`)."""
    audience = await audiences.validated(db, principal, body)
    try:
        return await audiences.size(db, principal, audience, live=live)
    except audiences.AudienceGone:  # a segment deleted, or made unusable, just now
        raise invalid("audience.segmentIds", "names a segment that can't be evaluated") from None


HOURLY_SPAN = timedelta(hours=48)


async def activity(db: Database, principal: Principal, campaign_id: str) -> dict[str, Any]:
    """Opens and clicks over time (first opens and first clicks of each recipient): hourly
    while they span at most 48 hours from the send, else daily. Every bucket from the send
    to the last activity is listed (zeros included), labelled in UTC."""
    row = await email_campaigns.get_row(db, principal, campaign_id)
    rows = await email.hourly_opens_and_clicks(db, principal, "campaign", int(row["id"]))
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
