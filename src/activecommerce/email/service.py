"""What the other domains, the routes and the console ask of sending: a campaign's
recipients and test copies recorded and queued, an automation's enrolments, the
messages of a paused automation set aside and queued again, the counts of reports, the
captured mail, and what the links in emails do (count an open or a click,
unsubscribe)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypedDict

from activecommerce.accounts import service as accounts
from activecommerce.brands.service import brands
from activecommerce.consent import service as consent
from activecommerce.contacts import service as contacts
from activecommerce.email import repository
from activecommerce.email.repository import Source
from activecommerce.jobs import payloads, queue
from activecommerce.kit import events
from activecommerce.kit.clock import after
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem
from activecommerce.kit.repository import Scoped
from activecommerce.privacy import service as privacy

# Job kinds: resolve a campaign's audience (at its scheduled time); send some messages.
START = "campaign.start"
SEND = "email.send"


def principal_of(row: Row) -> Principal:
    """The account and environment a background job acts for (events are recorded there)."""
    return Principal.acting_for(int(row["account_id"]), row["env"])


def email_view(row: Row) -> dict[str, Any]:
    """An email to one recipient, as events carry it."""

    def ref(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "id": str(row["id"]),
        "campaignId": ref(row["campaign_id"]),
        "automationId": ref(row["automation_id"]),
        "contactId": ref(row["contact_id"]),
        "to": row["to_email"],
        "status": row["status"],
        "sentAt": row["sent_at"],
        "error": row["error"],
    }


# ---------------------------------------------------------------- the postal address

NO_POSTAL_ADDRESS = (
    "A live marketing email needs a postal address: set one on its brand or the account's"
    " default (PATCH /v3/account)."
)


async def brand_of(db: Database | Connection, principal: Principal, brand_id: Any) -> Row | None:
    """A campaign's or automation's brand, if it has one (and it still exists)."""
    if brand_id is None:
        return None
    try:
        return await brands.get_row(db, principal, str(brand_id))
    except Problem:  # deleted meanwhile
        return None


async def default_postal_address(db: Database | Connection, principal: Principal) -> str | None:
    """The account's default postal address: the footer's when the brand has none."""
    return await accounts.default_postal_address(db, principal.account_id)


async def postal_address(
    db: Database | Connection, principal: Principal, brand_id: Any
) -> str | None:
    """The postal address marketing mail of this brand (or none) carries: the brand's,
    else the account's default; None when neither is set."""
    brand = await brand_of(db, principal, brand_id)
    if brand is not None and (brand["postal_address"] or "").strip():
        return str(brand["postal_address"])
    return await default_postal_address(db, principal)


async def require_postal_address(
    db: Database | Connection, principal: Principal, brand_id: Any
) -> None:
    """Live marketing mail must show where its sender can be found (CAN-SPAM, the
    GDPR's identification): 422 when neither the brand nor the account has an address.
    The sandbox is exempt (nothing reaches a person)."""
    if principal.env != "live":
        return
    if not (await postal_address(db, principal, brand_id) or "").strip():
        raise Problem(422, NO_POSTAL_ADDRESS)


# ---------------------------------------------------------------- queueing


async def queue_send(
    conn: Connection,
    principal: Principal,
    ids: Sequence[int],
    *,
    campaign_id: int | None = None,
    automation_id: int | None = None,
    test: bool = False,
    delay_seconds: float = 0.0,
) -> None:
    """A job that sends these queued messages, all of one source (a campaign, its test
    copies, or an automation). Its account and lane (the source) let each worker give one
    account's send, and one campaign, a fair share of its slots rather than all of them."""
    lane = f"campaign:{campaign_id}" if campaign_id is not None else f"automation:{automation_id}"
    payload: payloads.EmailSend = {
        "ids": list(ids),
        "campaign": campaign_id,
        "automation": automation_id,
        "test": test,
    }
    await queue.enqueue(
        conn,
        SEND,
        payload,
        delay_seconds,
        account_id=principal.account_id,
        lane=lane,
    )


async def queue_start(
    conn: Connection, principal: Principal, campaign_id: int, delay: float
) -> None:
    """The job that resolves a campaign's audience, `delay` seconds from now."""
    payload: payloads.CampaignStart = {"campaign": campaign_id}
    await queue.enqueue(
        conn,
        START,
        payload,
        delay,
        account_id=principal.account_id,
        lane=f"campaign:{campaign_id}",
    )


async def add_recipients(
    conn: Connection, principal: Principal, campaign_id: int, contact_ids: Sequence[int]
) -> None:
    """Record a campaign's recipients among these contacts (the active ones not recorded
    yet) and queue a job that sends to them."""
    new = await repository.add_recipients(Scoped(conn, principal), campaign_id, contact_ids)
    if new:
        await queue_send(conn, principal, new, campaign_id=campaign_id)


async def add_test_copies(
    conn: Connection,
    principal: Principal,
    campaign_id: int,
    recipients: Sequence[tuple[int | None, str]],
) -> None:
    """Test copies of a campaign to these (contact id or None, address), queued now."""
    scope = Scoped(conn, principal)
    ids = [
        await repository.add_test_copy(scope, campaign_id, contact_id, address)
        for contact_id, address in recipients
    ]
    await queue_send(conn, principal, ids, campaign_id=campaign_id, test=True)


async def enrol(
    conn: Connection, principal: Principal, automation_id: int, contact_id: int, delay: float
) -> None:
    """Enrol a contact in an automation, once ever: its email queued `delay` seconds from
    now (nothing when the contact was enrolled before)."""
    message = await repository.enrol(
        Scoped(conn, principal), automation_id, contact_id, after(delay)
    )
    if message is not None:
        await queue_send(
            conn, principal, [message], automation_id=automation_id, delay_seconds=delay
        )


async def pause(conn: Connection, principal: Principal, message_ids: Sequence[int]) -> None:
    """A paused automation's queued messages: set aside until `unpause`."""
    await repository.pause(Scoped(conn, principal), message_ids)


async def unpause(conn: Connection, principal: Principal, automation_id: int, batch: int) -> None:
    """What `pause` set aside of this automation, queued again (`batch` messages a job)."""
    ids = await repository.unpause(Scoped(conn, principal), automation_id)
    for start in range(0, len(ids), batch):
        await queue_send(conn, principal, ids[start : start + batch], automation_id=automation_id)


async def resume_campaign(
    conn: Connection, principal: Principal, campaign_id: int, *, resolve: bool, batch: int
) -> int:
    """A paused campaign's sending taken up again (in the transaction that resumes it,
    with the campaign's row locked): its messages still queued that no job of it holds
    any more are queued again (`batch` a job); with `resolve`, the recording of its
    audience too (`campaign.start`, whose rerun records no one twice) unless a job of it
    is still there. How many messages were queued again.

    Exactly once: a job of the campaign still in the queue (waiting, or running in a
    worker) keeps its messages, so that no message is in two jobs at once. A job that
    drops its messages because the campaign is paused does so under the campaign's lock
    (the sender's `_settle` and its check at start), so it either went before this (its
    messages are queued again here) or sees the campaign sending and keeps them."""
    lane = f"campaign:{campaign_id}"
    held: set[int] = set()
    for payload in await queue.lane_jobs(conn, principal.account_id, SEND, lane):
        if not payload.get("test"):
            held.update(int(i) for i in payload.get("ids") or [])
    ids = [
        i
        for i in await repository.queued_of_campaign(Scoped(conn, principal), campaign_id)
        if i not in held
    ]
    for start in range(0, len(ids), batch):
        await queue_send(conn, principal, ids[start : start + batch], campaign_id=campaign_id)
    if resolve and not await queue.lane_jobs(conn, principal.account_id, START, lane):
        await queue_start(conn, principal, campaign_id, 0.0)
    return len(ids)


async def any_queued(conn: Connection, principal: Principal, campaign_id: int) -> bool:
    """Whether a recipient of the campaign is still to be sent to."""
    return await repository.any_queued(Scoped(conn, principal), campaign_id)


# ---------------------------------------------------------------- reports


async def report(
    db: Database, principal: Principal, source: Source, source_id: int
) -> dict[str, Any]:
    """The counts over a campaign's or automation's recipients (`REPORT_COUNTS`), and
    `reasons`: the most frequent reasons of its bounces and failures, as the API shows
    them ({outcome, reason, count})."""
    scope = Scoped(db, principal)
    counts: dict[str, Any] = await repository.report(scope, source, source_id)
    counts["reasons"] = [
        {"outcome": r["outcome"], "reason": r["reason"], "count": int(r["n"])}
        for r in await repository.reasons(scope, source, source_id)
    ]
    return counts


def outcomes(counts: dict[str, Any]) -> dict[str, int]:
    """What became of the messages, as both reports show it: delivered, bounced (hard
    and soft), failed (another reason, policy refusals included), complaints."""
    return {
        "delivered": counts["delivered"],
        "bounced": counts["bounced"],
        "hardBounces": counts["hard_bounces"],
        "softBounces": counts["soft_bounces"],
        "failed": counts["failed"],
        "complaints": counts["complaints"],
    }


async def paused_reason(db: Database, principal: Principal, campaign_id: int) -> str | None:
    """Why a paused campaign stopped: the error its sending job left on its queued
    messages (the relay's refusal of the sender)."""
    return await repository.paused_reason(Scoped(db, principal), campaign_id)


async def hourly_opens_and_clicks(
    db: Database, principal: Principal, source: Source, source_id: int
) -> list[Row]:
    return await repository.hourly_opens_and_clicks(Scoped(db, principal), source, source_id)


# ---------------------------------------------------------------- captured mail


async def captured_page(
    db: Database, principal: Principal, filters: dict[str, Any], page: int, page_size: int
) -> tuple[int, list[Row]]:
    """The total and one page of the captured mail (filters: to, campaignId,
    automationId), newest first."""
    return await repository.captured_page(Scoped(db, principal), filters, page, page_size)


async def captured(db: Database, principal: Principal, captured_id: int) -> Row | None:
    return await repository.captured(Scoped(db, principal), captured_id)


async def captured_after(
    db: Database, principal: Principal, to: str | None, before_id: int | None, limit: int
) -> list[Row]:
    """A page of captured mail, newest first, by cursor (ids below `before_id`)."""
    return await repository.captured_after(Scoped(db, principal), to, before_id, limit)


# ---------------------------------------------------------------- links in emails


async def linked_message(db: Database, message_id: int) -> Row | None:
    """The message a signed link in an email names, if it still exists."""
    return await repository.system_message(db, message_id)


async def count_visit(
    db: Database,
    message_id: int,
    kind: Literal["open", "click"],
    data: dict[str, Any],
    *,
    first_only: bool,
) -> Row | None:
    """Counts an open or a click of the message and records its event (`data` added to
    it). The message's row after, or None (no such message; with `first_only`, one was
    counted before)."""
    count = repository.count_open if kind == "open" else repository.count_click
    async with db.transaction() as conn:
        found = await repository.system_message(conn, message_id)
        if found is None:
            return None
        principal = principal_of(found)
        counted = await count(Scoped(conn, principal), message_id, first_only=first_only)
        if counted is not None and not counted["is_test"]:
            name = "email.opened" if kind == "open" else "email.clicked"
            await events.record(conn, principal, [(name, email_view(counted) | data)])
    return counted


async def system_message(
    db: Database | Connection, message_id: int, *, lock: bool = False
) -> Row | None:
    """A message by its id alone: what a signed link or return path names (its signature
    is the proof; what follows is scoped by the message's account)."""
    return await repository.system_message(db, message_id, lock=lock)


async def unsubscribe(db: Database, message_id: int) -> bool:
    """The recipient of the message unsubscribes: the message says so and its contact is
    unsubscribed (contacts' `set_status`, which lists the address). When the contact was
    deleted since, the address the message went to is listed all the same, so that it is
    not mailed again when it comes back. False when there is no such message."""
    async with db.transaction() as conn:
        row = await repository.system_message(conn, message_id, lock=True)
        if row is None:
            return False
        if row["is_test"]:
            return True
        principal = principal_of(row)
        if row["contact_id"] is not None:
            await repository.mark_unsubscribed(Scoped(conn, principal), message_id)
            await contacts.set_status(conn, principal, int(row["contact_id"]), "unsubscribed")
        elif row["to_email"]:
            await repository.mark_unsubscribed(Scoped(conn, principal), message_id)
            await consent.lock_addresses(conn, [str(row["to_email"])])
            await consent.suppress(
                conn, principal, str(row["to_email"]), "unsubscribed", "unsubscribe"
            )
    return True


class UnsubscribePage(TypedDict):
    """What the unsubscribe page of a message shows."""

    test: bool  # a test copy: the page says so and changes nothing
    sender: str | None  # the brand (or sender) the email came from
    subscribed: bool  # its contact exists and may still receive mail
    groups: list[dict[str, str]]  # the contact's public groups: {id, name}


async def unsubscribe_page(db: Database, message_id: int) -> UnsubscribePage | None:
    """What the unsubscribe link of the message shows (None: no such message). A read."""
    row = await repository.system_message(db, message_id)
    if row is None:
        return None
    principal = principal_of(row)
    sender = await privacy.sender_name(db, principal, row["campaign_id"], row["automation_id"])
    if row["is_test"] or row["contact_id"] is None:
        return {"test": bool(row["is_test"]), "sender": sender, "subscribed": False, "groups": []}
    contact_id = int(row["contact_id"])
    groups = await privacy.public_groups(db, principal, contact_id)
    status = await privacy.contact_status(db, principal, contact_id)
    return {
        "test": False,
        "sender": sender,
        "subscribed": status not in (None, "unsubscribed"),
        "groups": [{"id": str(g["id"]), "name": str(g["name"])} for g in groups],
    }


async def save_preferences(db: Database, message_id: int, keep: Sequence[str]) -> bool | None:
    """The recipient of the message stays subscribed and leaves the public groups it
    did not keep (ids of other groups are passed over). None when there is no such
    message; False for a test copy (nothing changes), else True."""
    async with db.transaction() as conn:
        row = await repository.system_message(conn, message_id, lock=True)
        if row is None:
            return None
        if row["is_test"]:
            return False
        if row["contact_id"] is not None:
            await privacy.leave_groups(conn, principal_of(row), int(row["contact_id"]), keep)
    return True


async def emails_of_contact(
    db: Database, principal: Principal, contact_id: int, limit: int
) -> list[Row]:
    """The latest `limit` emails sent (or to be sent) to a contact, newest first, with the
    name of their campaign or automation."""
    return await repository.of_contact(db, principal, contact_id, None, limit)
