"""A campaign's status, and every change of it (each in the caller's transaction):

    draft --send--> scheduled --its first batch recorded--> sending --all decided--> sent
    draft --send (now)--------------------------------------^
    scheduled, sending, paused --cancel--> canceled
    sending --the relay refuses the sender--> paused (its messages stay queued)
    paused --resume--> sending (its queued messages queued again)

`pause` is the sending job's (the reason is the queued messages' error, shown by the
report as `pausedReason`). `schedule`, `cancel` and `resume` are the API's (they record
`emailCampaign.updated`); `fix_audience`
(what the start of sending fixes), `cancel_unresolvable` (an audience whose segment is
gone: canceled, with `emailCampaign.updated`), `begin`, `resolved` (the audience is all
recorded) and `complete` the sending jobs' (`complete` records `emailCampaign.sent`).
Each change reads the campaign locked, so that it is made once: a campaign is `sent`
once, and never after it was canceled. The other domains ask this module; none writes the
campaign's status itself."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from activecommerce.campaigns import repository
from activecommerce.campaigns.service import email_campaigns
from activecommerce.email import service as email
from activecommerce.kit import events
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import conflict
from activecommerce.kit.repository import Scoped

log = logging.getLogger("activecommerce.campaigns")

# The statuses in which a campaign's jobs go on (recording its audience, sending).
UNDER_WAY = ("scheduled", "sending")


async def _change(
    conn: Connection, principal: Principal, before: Row, values: Mapping[str, object]
) -> dict[str, Any]:
    """An API change: the campaign's new fields, and its `updated` events."""
    row = await repository.update(
        Scoped(conn, principal), int(before["id"]), {**values, "updated_at": now()}
    )
    old, new = email_campaigns.serialize(before), email_campaigns.serialize(row)
    changes = email_campaigns.rules.events("emailCampaign", "updated", old, new)
    await events.record(conn, principal, changes)
    return new


async def draft(conn: Connection, principal: Principal, campaign_id: str) -> Row:
    """The campaign about to be sent, locked (for `schedule`); one that is not a draft
    can't be sent: 409."""
    row = await email_campaigns.get_row(conn, principal, campaign_id, lock=True)
    if row["status"] != "draft":
        raise conflict(f"This campaign is {row['status']}; only a draft can be sent.")
    return row


async def schedule(
    conn: Connection,
    principal: Principal,
    row: Row,
    scheduled_at: str,
    delay: float,
    audience: str,
) -> dict[str, Any]:
    """draft (`row`, from `draft`) -> scheduled, to start in `delay` seconds, or sending
    (`delay` 0): the campaign as the API shows it after."""
    status = "scheduled" if delay > 0 else "sending"
    values = {"status": status, "scheduled_at": scheduled_at, "audience": audience}
    updated = await _change(conn, principal, row, values)
    await email.queue_start(conn, principal, int(row["id"]), delay)
    return updated


async def cancel(conn: Connection, principal: Principal, campaign_id: str) -> dict[str, Any]:
    """scheduled, sending -> canceled: nothing more goes out. Another status: 409."""
    row = await email_campaigns.get_row(conn, principal, campaign_id, lock=True)
    if row["status"] not in (*UNDER_WAY, "paused"):
        raise conflict(
            f"This campaign is {row['status']}; only a scheduled, sending or paused one can"
            " be canceled."
        )
    return await _change(conn, principal, row, {"status": "canceled"})


RESUME_BATCH = 250  # queued messages of a resumed campaign per send job


async def resume(conn: Connection, principal: Principal, campaign_id: str) -> dict[str, Any]:
    """paused -> sending: what was left queued goes out now (the relay refused the
    sender; its configuration was put right). Another status: 409. A live campaign
    needs a postal address (422) as when it was sent."""
    row = await email_campaigns.get_row(conn, principal, campaign_id, lock=True)
    if row["status"] != "paused":
        raise conflict(f"This campaign is {row['status']}; only a paused one can be resumed.")
    await email.require_postal_address(conn, principal, row["brand_id"])
    updated = await _change(conn, principal, row, {"status": "sending"})
    await email.resume_campaign(
        conn,
        principal,
        int(row["id"]),
        resolve=row["resolved_at"] is None,
        batch=RESUME_BATCH,
    )
    return updated


async def still_paused(conn: Connection, principal: Principal, campaign_id: int) -> bool:
    """Whether the campaign is paused or canceled (or deleted), read locked: a sending
    job that drops its messages for that does so before a resumption (which then queues
    them again) or after it (and then sees it sending)."""
    row = await repository.by_id(Scoped(conn, principal), campaign_id, lock="UPDATE")
    return row is None or row["status"] in ("paused", "canceled")


async def of_job(db: Database, campaign_id: int) -> Row | None:
    """The campaign a sending job names, by its id alone (a `@system` read: its row says
    whose it is)."""
    return await repository.system_by_id(db, campaign_id)


async def find(db: Database | Connection, principal: Principal, campaign_id: int) -> Row | None:
    return await repository.by_id(Scoped(db, principal), campaign_id)


async def stopped(conn: Connection, principal: Principal, campaign_id: int) -> bool:
    """Whether the campaign was canceled (or deleted): its jobs take no new recipient."""
    row = await repository.by_id(Scoped(conn, principal), campaign_id)
    return row is None or row["status"] == "canceled"


async def begin(conn: Connection, principal: Principal, campaign_id: int) -> bool:
    """Before a batch of the audience is recorded: scheduled -> sending. False when the
    campaign is no longer under way (canceled, deleted): record nothing. Locked shared, so
    that a cancel waits for the batch (and the batch for a cancel)."""
    scope = Scoped(conn, principal)
    current = await repository.by_id(scope, campaign_id, lock="SHARE")
    if current is None or current["status"] not in UNDER_WAY:
        return False
    if current["status"] == "scheduled":
        await repository.update(scope, campaign_id, {"status": "sending", "updated_at": now()})
    return True


async def fix_audience(
    conn: Connection, principal: Principal, campaign_id: int, audience: str
) -> bool:
    """At the start of sending: the stored audience with what the start fixed
    (`audiences.freeze`). False when the campaign is no longer under way."""
    scope = Scoped(conn, principal)
    current = await repository.by_id(scope, campaign_id, lock="UPDATE")
    if current is None or current["status"] not in UNDER_WAY:
        return False
    await repository.update(scope, campaign_id, {"audience": audience})
    return True


async def cancel_unresolvable(
    conn: Connection, principal: Principal, campaign_id: int, reason: str
) -> None:
    """scheduled, sending -> canceled by the sending job, before any recipient is
    recorded: its audience can't be resolved as it was meant (a segment of it was
    deleted, or names what is gone). Nothing goes out."""
    row = await repository.by_id(Scoped(conn, principal), campaign_id, lock="UPDATE")
    if row is None or row["status"] not in UNDER_WAY:
        return
    log.warning("campaign %s canceled: its audience can't be resolved (%s)", campaign_id, reason)
    await _change(conn, principal, row, {"status": "canceled"})


async def pause(conn: Connection, principal: Principal, campaign_id: int, reason: str) -> None:
    """scheduled, sending -> paused by a sending job: the relay refuses the sender or the
    connection (`reason`, kept on the queued messages), so nothing can go out as
    configured. Records `emailCampaign.updated`."""
    row = await repository.by_id(Scoped(conn, principal), campaign_id, lock="UPDATE")
    if row is None or row["status"] not in UNDER_WAY:
        return
    log.warning("campaign %s paused: %s", campaign_id, reason)
    await _change(conn, principal, row, {"status": "paused"})


async def resolved(conn: Connection, principal: Principal, campaign_id: int) -> None:
    """The campaign's whole audience is recorded (updated_at is left alone: nothing the
    API shows changed)."""
    await repository.update(Scoped(conn, principal), campaign_id, {"resolved_at": now()})


async def complete(conn: Connection, principal: Principal, campaign_id: int) -> None:
    """sending -> sent, once its audience is resolved and every recipient decided (once:
    the row is locked, and only a `sending` campaign moves)."""
    scope = Scoped(conn, principal)
    row = await repository.by_id(scope, campaign_id, lock="UPDATE")
    if row is None or row["status"] != "sending" or row["resolved_at"] is None:
        return
    if await email.any_queued(conn, principal, campaign_id):
        return
    stamp = now()
    updated = await repository.update(
        scope, campaign_id, {"status": "sent", "sent_at": stamp, "updated_at": stamp}
    )
    await events.record(
        conn, principal, [("emailCampaign.sent", email_campaigns.serialize(updated))]
    )
