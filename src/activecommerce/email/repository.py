"""Sending's records: one message per recipient (its outcome, opens, clicks) and the
mail captured instead of sent. Every statement runs within the message's account and
environment (`Scoped`), except the few that must find a message by its id alone (the
sending job's claim, the links in emails) or cross accounts (retention): `@system`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson

from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped, lock_clause, system

# What a message was sent for: a campaign or an automation.
Source = Literal["campaign", "automation"]
_SOURCE_COLUMN: dict[Source, str] = {"campaign": "campaign_id", "automation": "automation_id"}


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


# ---------------------------------------------------------------- recording recipients


async def add_recipients(scope: Scoped, campaign_id: int, contact_ids: Sequence[int]) -> list[int]:
    """Record a campaign's recipients among these contacts (the active ones, each once:
    a contact already recorded is left alone). The ids of the new records."""
    stamp = now()
    rows = await scope.fetchall(
        "INSERT INTO email_messages (account_id, env, campaign_id, contact_id, is_test,"
        " status, attempts, due_at, open_count, click_count, created_at, updated_at)"
        " SELECT account_id, env, ?, id, ?, 'queued', 0, ?, 0, 0, ?, ? FROM contacts"
        f" WHERE @tenant AND status = 'active' AND id IN ({_marks(contact_ids)})"
        " ORDER BY id ON CONFLICT DO NOTHING RETURNING id",
        (campaign_id, False, stamp, stamp, stamp, *contact_ids),
    )
    return sorted(int(r["id"]) for r in rows)


async def enrol(scope: Scoped, automation_id: int, contact_id: int, due_at: str) -> int | None:
    """An automation's record for one contact, once ever: its id, or None if the contact
    was enrolled before.

    A plain read first: an enrolment that exists is seen without a lock. The INSERT's
    conflict check would instead wait for a worker's transaction that is recording that
    message's outcome (a tagging request waiting for the email worker's group commit,
    which on PostgreSQL made deadlocks with the contact's row lock)."""
    known = await scope.fetchone(
        "SELECT id FROM email_messages WHERE automation_id = ? AND contact_id = ? AND @tenant",
        (automation_id, contact_id),
    )
    if known is not None:
        return None
    stamp = now()
    row = await scope.db.fetchone(
        "INSERT INTO email_messages (account_id, env, automation_id, contact_id, is_test,"
        " status, attempts, due_at, open_count, click_count, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, 0, 0, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        (*scope.values, automation_id, contact_id, False, due_at, stamp, stamp),
    )
    return None if row is None else int(row["id"])


async def add_test_copy(scope: Scoped, campaign_id: int, contact_id: int | None, to: str) -> int:
    stamp = now()
    row = await scope.db.fetchone(
        "INSERT INTO email_messages (account_id, env, campaign_id, contact_id, is_test,"
        " to_email, status, attempts, due_at, open_count, click_count, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, 0, 0, ?, ?) RETURNING id",
        (*scope.values, campaign_id, contact_id, True, to, stamp, stamp, stamp),
    )
    assert row is not None
    return int(row["id"])


# ---------------------------------------------------------------- sending

# A message with what sending it needs: the contact as it is now.
_QUEUED = (
    "SELECT m.id, m.account_id, m.env, m.campaign_id, m.automation_id, m.contact_id,"
    " m.is_test, m.to_email, m.attempts, c.email AS contact_email, c.first_name,"
    " c.last_name, c.phone, c.status AS contact_status, c.fields AS contact_fields"
    " FROM email_messages m LEFT JOIN contacts c ON c.id = m.contact_id"
)


@system
async def system_queued(db: Database, ids: Sequence[int]) -> list[Row]:
    """A sending job's messages still queued, by id: the job names its messages, not
    their account (each row carries it; the rest of the job is scoped by it)."""
    if not ids:
        return []
    return await db.fetchall(
        f"{_QUEUED} WHERE m.id IN ({_marks(ids)}) AND m.status = 'queued' ORDER BY m.id",
        list(ids),
    )


async def decide(
    scope: Scoped,
    message_id: int,
    status: str,
    *,
    to: str | None,
    error: str | None = None,
) -> Row | None:
    """Record a message's outcome, once: None when it was already decided (by another
    attempt), so that nothing it causes is recorded twice."""
    stamp = now()
    return await scope.fetchone(
        "UPDATE email_messages SET status = ?, to_email = coalesce(?, to_email), error = ?,"
        " sent_at = ?, updated_at = ? WHERE id = ? AND @tenant"
        " AND status = 'queued' RETURNING *",
        (
            status,
            to,
            error,
            stamp if status == "sent" else None,
            stamp,
            message_id,
        ),
    )


async def postpone(scope: Scoped, message_ids: Sequence[int], error: str, counts: bool) -> None:
    """Temporary failures: the messages stay queued (the job comes back for them). Only a
    recipient's own refusals count against its attempts, not a relay that is down."""
    if not message_ids:
        return
    bump = "attempts + 1" if counts else "attempts"
    await scope.execute(
        f"UPDATE email_messages SET attempts = {bump}, error = ?, updated_at = ?"
        f" WHERE id IN ({_marks(message_ids)}) AND @tenant AND status = 'queued'",
        (error, now(), *message_ids),
    )


async def paused_reason(scope: Scoped, campaign_id: int) -> str | None:
    """The latest error left on a campaign's queued messages (see `postpone`)."""
    row = await scope.fetchone(
        "SELECT error FROM email_messages WHERE campaign_id = ? AND @tenant"
        " AND status = 'queued' AND error IS NOT NULL ORDER BY updated_at DESC, id DESC LIMIT 1",
        (campaign_id,),
    )
    return None if row is None else str(row["error"])


async def pause(scope: Scoped, message_ids: Sequence[int]) -> None:
    """Queued messages of a paused automation: set aside (status `held`) until it is
    resumed."""
    await scope.execute(
        "UPDATE email_messages SET status = 'held', updated_at = ?"
        f" WHERE id IN ({_marks(message_ids)}) AND @tenant AND status = 'queued'",
        (now(), *message_ids),
    )


async def unpause(scope: Scoped, automation_id: int) -> list[int]:
    """An automation's messages set aside by `pause`, queued again: their ids."""
    rows = await scope.fetchall(
        "UPDATE email_messages SET status = 'queued', updated_at = ?"
        " WHERE automation_id = ? AND @tenant AND status = 'held' RETURNING id",
        (now(), automation_id),
    )
    return sorted(int(r["id"]) for r in rows)


async def queued_of_campaign(scope: Scoped, campaign_id: int) -> list[int]:
    """A campaign's recipients still to be sent to: their ids (the (campaign, status)
    index)."""
    rows = await scope.fetchall(
        "SELECT id FROM email_messages WHERE campaign_id = ? AND @tenant"
        " AND status = 'queued' AND NOT is_test ORDER BY id",
        (campaign_id,),
    )
    return [int(r["id"]) for r in rows]


async def capture(conn: Connection, message: Row | Mapping[str, Any], composed: Any) -> None:
    """Store a message whole instead of sending it (the capture transport), in the
    message's account and environment (its row, or a one-off's: ids None)."""
    await conn.execute(
        "INSERT INTO captured_emails (account_id, env, message_id, campaign_id, automation_id,"
        " contact_id, to_email, from_header, subject, html, text, headers, raw, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            message["account_id"],
            message["env"],
            message["id"],
            message["campaign_id"],
            message["automation_id"],
            message["contact_id"],
            composed.to,
            composed.from_header,
            composed.subject,
            composed.html,
            composed.text,
            orjson.dumps(composed.headers).decode(),
            _raw_text(composed.raw),
            now(),
        ),
    )


def _raw_text(raw: bytes | None) -> str | None:
    """The composed bytes as text (UTF-8, as the message is built: 8-bit parts and
    SMTPUTF8 headers are UTF-8)."""
    return None if raw is None else raw.decode("utf-8", "replace")


async def any_queued(scope: Scoped, campaign_id: int) -> bool:
    row = await scope.fetchone(
        "SELECT 1 AS one FROM email_messages WHERE campaign_id = ? AND @tenant"
        " AND status = 'queued' AND NOT is_test LIMIT 1",
        (campaign_id,),
    )
    return row is not None


# ---------------------------------------------------------------- the links in emails


@system
async def system_message(
    db: Database | Connection, message_id: int, lock: bool = False
) -> Row | None:
    """A message by its id alone: what a link in an email carries (its signature is the
    proof). What the link then changes is scoped by the message's account."""
    sql = "SELECT * FROM email_messages WHERE id = ?"
    if lock:
        sql += lock_clause(db)
    return await db.fetchone(sql, (message_id,))


async def count_open(scope: Scoped, message_id: int, first_only: bool = False) -> Row | None:
    """Counts an open of the message: its row after, or None (no such message, or with
    `first_only`, an open was already counted)."""
    stamp = now()
    first = " AND open_count = 0" if first_only else ""
    return await scope.fetchone(
        "UPDATE email_messages SET open_count = open_count + 1,"
        " opened_at = coalesce(opened_at, ?), updated_at = ?"
        f" WHERE id = ? AND @tenant{first} RETURNING *",
        (stamp, stamp, message_id),
    )


async def count_click(scope: Scoped, message_id: int, first_only: bool = False) -> Row | None:
    """`count_open` for a click."""
    stamp = now()
    first = " AND click_count = 0" if first_only else ""
    # A click proves the email was opened, even when its images were blocked.
    return await scope.fetchone(
        "UPDATE email_messages SET click_count = click_count + 1,"
        " clicked_at = coalesce(clicked_at, ?), opened_at = coalesce(opened_at, ?),"
        f" updated_at = ? WHERE id = ? AND @tenant{first} RETURNING *",
        (stamp, stamp, stamp, message_id),
    )


async def mark_unsubscribed(scope: Scoped, message_id: int) -> None:
    stamp = now()
    await scope.execute(
        "UPDATE email_messages SET unsubscribed_at = coalesce(unsubscribed_at, ?),"
        " updated_at = ? WHERE id = ? AND @tenant",
        (stamp, stamp, message_id),
    )


# ---------------------------------------------------------------- reports

REPORT_COUNTS = (
    "recipients",
    "sent",
    "delivered",
    "bounced",
    "hard_bounces",
    "soft_bounces",
    "failed",
    "complaints",
    "opens",
    "unique_opens",
    "clicks",
    "unique_clicks",
    "unsubscribes",
)

# What became of a message (NULL: nothing went wrong): `hard`, `soft` (a bounce, at send
# time or by a later report) or `policy` (refused for a policy or reputation reason).
# A bounce recorded before its kind was (a 5.1.x at send time) is a hard one; a message
# given up after the relay's temporary refusals is a soft bounce.
_OUTCOME = (
    "CASE WHEN bounce_kind IS NOT NULL THEN bounce_kind"
    " WHEN bounced_at IS NOT NULL THEN 'hard'"
    " WHEN status = 'failed' AND substr(error, 1, 12) = 'soft bounce:' THEN 'soft' END"
)
# Every decided message is one of: delivered (sent, nothing went wrong), bounced (hard
# or soft), failed (not sent for another reason, or refused for a policy one), skipped.
_REPORT = (
    "SELECT count(*) AS recipients,"
    " coalesce(sum(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0) AS sent,"
    " coalesce(sum(CASE WHEN status = 'sent' AND outcome IS NULL THEN 1 ELSE 0 END), 0)"
    " AS delivered,"
    " coalesce(sum(CASE WHEN outcome = 'hard' THEN 1 ELSE 0 END), 0) AS hard_bounces,"
    " coalesce(sum(CASE WHEN outcome = 'soft' THEN 1 ELSE 0 END), 0) AS soft_bounces,"
    " coalesce(sum(CASE WHEN outcome = 'policy' OR (status = 'failed' AND outcome IS NULL)"
    " THEN 1 ELSE 0 END), 0) AS failed,"
    " coalesce(sum(CASE WHEN complained_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS complaints,"
    " coalesce(sum(open_count), 0) AS opens,"
    " coalesce(sum(CASE WHEN opened_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS unique_opens,"
    " coalesce(sum(click_count), 0) AS clicks,"
    " coalesce(sum(CASE WHEN clicked_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS unique_clicks,"
    " coalesce(sum(CASE WHEN unsubscribed_at IS NOT NULL THEN 1 ELSE 0 END), 0)"
    " AS unsubscribes"
    f" FROM (SELECT status, complained_at, open_count, opened_at, click_count, clicked_at,"
    f" unsubscribed_at, {_OUTCOME} AS outcome FROM email_messages WHERE {{where}}) m"
)


async def report(scope: Scoped, source: Source, source_id: int) -> dict[str, int]:
    """Counts over a campaign's or automation's records (off the event loop on SQLite:
    it reads every recipient)."""
    where = f"{_SOURCE_COLUMN[source]} = ? AND @tenant AND NOT is_test"
    rows = await scope.scan(_REPORT.format(where=where), (source_id,))
    counts = {key: int(rows[0][key] or 0) for key in REPORT_COUNTS if key != "bounced"}
    counts["bounced"] = counts["hard_bounces"] + counts["soft_bounces"]
    return counts


REASONS_SHOWN = 10


async def reasons(scope: Scoped, source: Source, source_id: int) -> list[Row]:
    """The most frequent reasons of a campaign's or automation's bounced and failed
    messages (rows of outcome 'bounced'|'failed', reason, n), the most frequent first.
    One GROUP BY over those messages alone: the failed ones through the (source, status)
    index; those sent that a later report turned into a bounce or a policy refusal among
    the sent ones."""
    column = _SOURCE_COLUMN[source]
    return await scope.scan(
        "SELECT CASE WHEN outcome IN ('hard', 'soft') THEN 'bounced' ELSE 'failed' END"
        " AS outcome, reason, count(*) AS n FROM ("
        f" SELECT {_OUTCOME} AS outcome, error AS reason FROM email_messages"
        f" WHERE {column} = ? AND @tenant AND NOT is_test AND status IN ('failed', 'sent')"
        " AND (status = 'failed' OR bounce_kind IS NOT NULL OR bounced_at IS NOT NULL)) m"
        " GROUP BY CASE WHEN outcome IN ('hard', 'soft') THEN 'bounced' ELSE 'failed' END,"
        " reason ORDER BY n DESC, outcome, reason LIMIT ?",
        (source_id, REASONS_SHOWN),
    )


async def hourly_opens_and_clicks(scope: Scoped, source: Source, source_id: int) -> list[Row]:
    """A campaign's or automation's first opens and first clicks per hour (rows of kind
    'open'|'click', hour (the stamp's first 13 characters, e.g. 2026-11-28T09), n). Off
    the event loop: it reads every recipient."""
    where = f"{_SOURCE_COLUMN[source]} = ? AND @tenant AND NOT is_test"
    return await scope.scan(
        "SELECT 'open' AS kind, substr(opened_at, 1, 13) AS hour, count(*) AS n"
        f" FROM email_messages WHERE {where} AND opened_at IS NOT NULL"
        " GROUP BY substr(opened_at, 1, 13)"
        " UNION ALL SELECT 'click' AS kind, substr(clicked_at, 1, 13) AS hour, count(*) AS n"
        f" FROM email_messages WHERE {where} AND clicked_at IS NOT NULL"
        " GROUP BY substr(clicked_at, 1, 13)",
        (source_id, source_id),
    )


async def of_contact(
    db: Database, principal: Principal, contact_id: int, before: int | None, limit: int
) -> list[Row]:
    """The emails sent (or to be sent) to a contact, newest first, with the name of their
    campaign or automation (keyset paging on the contact_id index)."""
    sql = (
        "SELECT m.id, m.campaign_id, m.automation_id, m.status, m.sent_at, m.opened_at,"
        " m.open_count, m.clicked_at, m.click_count, m.bounced_at, m.unsubscribed_at,"
        " c.name AS campaign_name, a.name AS automation_name"
        " FROM email_messages m"
        " LEFT JOIN email_campaigns c ON c.id = m.campaign_id"
        " LEFT JOIN email_automations a ON a.id = m.automation_id"
        " WHERE m.contact_id = ? AND @tenant(m) AND NOT m.is_test"
    )
    params: list[Any] = [contact_id]
    if before is not None:
        sql += " AND m.id < ?"
        params.append(before)
    scope = Scoped(db, principal)
    return await scope.fetchall(sql + " ORDER BY m.id DESC LIMIT ?", [*params, limit])


# ---------------------------------------------------------------- captured mail


# A list's columns: every one but `raw` (the whole message again, shown one at a time).
_LISTED = (
    "id, account_id, env, message_id, campaign_id, automation_id, contact_id, to_email,"
    " from_header, subject, html, text, headers, created_at"
)


async def captured_page(
    scope: Scoped, filters: dict[str, Any], page: int, page_size: int
) -> tuple[int, list[Row]]:
    where = ["@tenant"]
    params: list[Any] = []
    if filters.get("to"):
        where.append("lower(to_email) = lower(?)")
        params.append(filters["to"])
    for name, column in (("campaignId", "campaign_id"), ("automationId", "automation_id")):
        if filters.get(name) is not None:
            where.append(f"{column} = ?")
            params.append(filters[name])
    clause = " AND ".join(where)
    count = f"SELECT count(*) AS n FROM captured_emails WHERE {clause}"
    total = await scope.fetchone(count, params)
    rows = await scope.fetchall(
        f"SELECT {_LISTED} FROM captured_emails WHERE {clause} ORDER BY id DESC LIMIT ? OFFSET ?",
        (*params, page_size, (page - 1) * page_size),
    )
    return (int(total["n"]) if total else 0), rows


async def captured(scope: Scoped, captured_id: int) -> Row | None:
    return await scope.fetchone(
        "SELECT * FROM captured_emails WHERE id = ? AND @tenant", (captured_id,)
    )


async def captured_after(
    scope: Scoped, to: str | None, before_id: int | None, limit: int
) -> list[Row]:
    """A page of captured mail, newest first, by cursor (ids below `before_id`), for one
    recipient or all: `limit` rows at most."""
    where = ["@tenant"]
    params: list[Any] = []
    if to:
        where.append("lower(to_email) = lower(?)")
        params.append(to)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    return await scope.fetchall(
        "SELECT id, to_email, from_header, subject, campaign_id, automation_id, created_at"
        f" FROM captured_emails WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    )


@system
async def system_prune_captured(db: Database, cutoff: str, batch: int = 20) -> int:
    """Delete captured mail (of every account) older than `cutoff`, the oldest first, a
    small batch per transaction (a message may be a megabyte) with a yield in between."""
    total = 0
    while True:
        await asyncio.sleep(0)
        async with db.transaction() as conn:
            deleted = await conn.execute(
                "DELETE FROM captured_emails WHERE id IN (SELECT id FROM captured_emails"
                " WHERE created_at < ? ORDER BY created_at LIMIT ?)",
                (cutoff, batch),
            )
        total += deleted
        if deleted < batch:
            return total
