"""Sending's queries: recipients' records, captured mail, reports."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson

from activecommerce.jobs import queue
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import TENANT, lock_clause, tenant

# Job kinds: resolve a campaign's audience (at its scheduled time); send some messages.
START = "campaign.start"
SEND = "email.send"


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


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
    await queue.enqueue(
        conn,
        SEND,
        {"ids": list(ids), "campaign": campaign_id, "automation": automation_id, "test": test},
        delay_seconds,
        account_id=principal.account_id,
        lane=lane,
    )


async def add_recipients(
    conn: Connection,
    principal: Principal,
    *,
    campaign_id: int,
    contact_ids: Sequence[int],
) -> list[int]:
    """Record a campaign's recipients among these contacts (the active ones, each once:
    a contact already recorded is left alone). The ids of the new records."""
    stamp = now()
    rows = await conn.fetchall(
        "INSERT INTO email_messages (account_id, env, campaign_id, contact_id, is_test,"
        " status, attempts, due_at, open_count, click_count, created_at, updated_at)"
        " SELECT account_id, env, ?, id, ?, 'queued', 0, ?, 0, 0, ?, ? FROM contacts"
        f" WHERE {TENANT} AND status = 'active' AND id IN ({_marks(contact_ids)})"
        " ORDER BY id ON CONFLICT DO NOTHING RETURNING id",
        (campaign_id, False, stamp, stamp, stamp, *tenant(principal), *contact_ids),
    )
    return sorted(int(r["id"]) for r in rows)


async def enrol(
    conn: Connection, principal: Principal, automation_id: int, contact_id: int, due_at: str
) -> int | None:
    """An automation's record for one contact, once ever: its id, or None if the contact
    was enrolled before.

    A plain read first: an enrolment that exists is seen without a lock. The INSERT's
    conflict check would instead wait for a worker's transaction that is recording that
    message's outcome (a tagging request waiting for the email worker's group commit,
    which on PostgreSQL made deadlocks with the contact's row lock)."""
    known = await conn.fetchone(
        "SELECT id FROM email_messages WHERE automation_id = ? AND contact_id = ?",
        (automation_id, contact_id),
    )
    if known is not None:
        return None
    stamp = now()
    row = await conn.fetchone(
        "INSERT INTO email_messages (account_id, env, automation_id, contact_id, is_test,"
        " status, attempts, due_at, open_count, click_count, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, 0, 0, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        (*tenant(principal), automation_id, contact_id, False, due_at, stamp, stamp),
    )
    return None if row is None else int(row["id"])


async def add_test_copies(
    conn: Connection, principal: Principal, campaign_id: int, contact_id: int | None, to: list[str]
) -> list[int]:
    stamp = now()
    ids = []
    for address in to:
        row = await conn.fetchone(
            "INSERT INTO email_messages (account_id, env, campaign_id, contact_id, is_test,"
            " to_email, status, attempts, due_at, open_count, click_count, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, 0, 0, ?, ?) RETURNING id",
            (*tenant(principal), campaign_id, contact_id, True, address, stamp, stamp, stamp),
        )
        assert row is not None
        ids.append(int(row["id"]))
    return ids


async def member_ids(
    db: Database, principal: Principal, table: str, column: str, target: int, after: int, limit: int
) -> list[int]:
    """A page of the contacts in a group or tag, in id order (an index range scan)."""
    rows = await db.fetchall(
        f"SELECT contact_id FROM {table} WHERE {column} = ? AND contact_id > ? AND {TENANT}"
        " ORDER BY contact_id LIMIT ?",
        (target, after, *tenant(principal), limit),
    )
    return [int(r["contact_id"]) for r in rows]


# A message with what sending it needs: the contact as it is now.
_QUEUED = (
    "SELECT m.id, m.account_id, m.env, m.campaign_id, m.automation_id, m.contact_id,"
    " m.is_test, m.to_email, m.attempts, c.email AS contact_email, c.first_name,"
    " c.last_name, c.phone, c.status AS contact_status"
    " FROM email_messages m LEFT JOIN contacts c ON c.id = m.contact_id"
)


async def queued(db: Database, ids: Sequence[int]) -> list[Row]:
    if not ids:
        return []
    return await db.fetchall(
        f"{_QUEUED} WHERE m.id IN ({_marks(ids)}) AND m.status = 'queued' ORDER BY m.id",
        list(ids),
    )


async def source_row(db: Database | Connection, table: str, source_id: int) -> Row | None:
    return await db.fetchone(f"SELECT * FROM {table} WHERE id = ?", (source_id,))


async def brand_row(db: Database, brand_id: int | None) -> Row | None:
    if brand_id is None:
        return None
    return await db.fetchone("SELECT * FROM brands WHERE id = ?", (brand_id,))


async def decide(
    conn: Connection,
    message_id: int,
    status: str,
    *,
    to: str | None,
    error: str | None = None,
    bounced: bool = False,
) -> Row | None:
    """Record a message's outcome, once: None when it was already decided (by another
    attempt), so that nothing it causes is recorded twice."""
    stamp = now()
    return await conn.fetchone(
        "UPDATE email_messages SET status = ?, to_email = coalesce(?, to_email), error = ?,"
        " sent_at = ?, bounced_at = ?, updated_at = ? WHERE id = ? AND status = 'queued'"
        " RETURNING *",
        (
            status,
            to,
            error,
            stamp if status == "sent" else None,
            stamp if bounced else None,
            stamp,
            message_id,
        ),
    )


async def postpone(conn: Connection, message_ids: Sequence[int], error: str, counts: bool) -> None:
    """Temporary failures: the messages stay queued (the job comes back for them). Only a
    recipient's own refusals count against its attempts, not a relay that is down."""
    if not message_ids:
        return
    bump = "attempts + 1" if counts else "attempts"
    await conn.execute(
        f"UPDATE email_messages SET attempts = {bump}, error = ?, updated_at = ?"
        f" WHERE id IN ({_marks(message_ids)}) AND status = 'queued'",
        (error, now(), *message_ids),
    )


async def hold(conn: Connection, message_ids: Sequence[int]) -> None:
    await conn.execute(
        f"UPDATE email_messages SET status = 'held', updated_at = ?"
        f" WHERE id IN ({_marks(message_ids)}) AND status = 'queued'",
        (now(), *message_ids),
    )


async def release_held(conn: Connection, automation_id: int) -> list[int]:
    rows = await conn.fetchall(
        "UPDATE email_messages SET status = 'queued', updated_at = ?"
        " WHERE automation_id = ? AND status = 'held' RETURNING id",
        (now(), automation_id),
    )
    return sorted(int(r["id"]) for r in rows)


async def bounce_contact(conn: Connection, contact_id: int) -> tuple[Row, Row] | None:
    """Mark a contact bounced: (before, after), or None if it was already not active."""
    return await _contact_status(conn, contact_id, "bounced")


async def unsubscribe_contact(conn: Connection, contact_id: int) -> tuple[Row, Row] | None:
    return await _contact_status(conn, contact_id, "unsubscribed")


async def _contact_status(conn: Connection, contact_id: int, status: str) -> tuple[Row, Row] | None:
    before = await conn.fetchone(
        f"SELECT * FROM contacts WHERE id = ?{lock_clause(conn)}", (contact_id,)
    )
    if before is None or before["status"] == status:
        return None
    if status == "bounced" and before["status"] != "active":
        return None  # an unsubscribed contact stays unsubscribed
    after = await conn.fetchone(
        "UPDATE contacts SET status = ?, updated_at = ? WHERE id = ? RETURNING *",
        (status, now(), contact_id),
    )
    assert after is not None
    return before, after


async def capture(conn: Connection, message: Row, composed: Any) -> None:
    """Store a message whole instead of sending it (the capture transport)."""
    await conn.execute(
        "INSERT INTO captured_emails (account_id, env, message_id, campaign_id, automation_id,"
        " contact_id, to_email, from_header, subject, html, text, headers, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            now(),
        ),
    )


async def lock_source(conn: Connection, table: str, source_id: int, mode: str) -> Row | None:
    return await conn.fetchone(
        f"SELECT * FROM {table} WHERE id = ?{lock_clause(conn, mode)}", (source_id,)
    )


async def any_queued(conn: Connection, campaign_id: int) -> bool:
    row = await conn.fetchone(
        "SELECT 1 AS one FROM email_messages WHERE campaign_id = ? AND status = 'queued'"
        " AND NOT is_test LIMIT 1",
        (campaign_id,),
    )
    return row is not None


async def message(db: Database | Connection, message_id: int, lock: bool = False) -> Row | None:
    sql = "SELECT * FROM email_messages WHERE id = ?"
    if lock:
        sql += lock_clause(db)
    return await db.fetchone(sql, (message_id,))


async def count_open(conn: Connection, message_id: int, first_only: bool = False) -> Row | None:
    """Counts an open of the message: its row after, or None (no such message, or with
    `first_only`, an open was already counted)."""
    stamp = now()
    first = " AND open_count = 0" if first_only else ""
    return await conn.fetchone(
        "UPDATE email_messages SET open_count = open_count + 1,"
        f" opened_at = coalesce(opened_at, ?), updated_at = ? WHERE id = ?{first} RETURNING *",
        (stamp, stamp, message_id),
    )


async def count_click(conn: Connection, message_id: int, first_only: bool = False) -> Row | None:
    """`count_open` for a click."""
    stamp = now()
    first = " AND click_count = 0" if first_only else ""
    # A click proves the email was opened, even when its images were blocked.
    return await conn.fetchone(
        "UPDATE email_messages SET click_count = click_count + 1,"
        " clicked_at = coalesce(clicked_at, ?), opened_at = coalesce(opened_at, ?),"
        f" updated_at = ? WHERE id = ?{first} RETURNING *",
        (stamp, stamp, stamp, message_id),
    )


async def mark_unsubscribed(conn: Connection, message_id: int) -> None:
    stamp = now()
    await conn.execute(
        "UPDATE email_messages SET unsubscribed_at = coalesce(unsubscribed_at, ?),"
        " updated_at = ? WHERE id = ?",
        (stamp, stamp, message_id),
    )


REPORT_COUNTS = (
    "recipients",
    "sent",
    "failed",
    "opens",
    "unique_opens",
    "clicks",
    "unique_clicks",
    "unsubscribes",
    "bounces",
)
_REPORT = (
    "SELECT count(*) AS recipients,"
    " coalesce(sum(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0) AS sent,"
    " coalesce(sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS failed,"
    " coalesce(sum(open_count), 0) AS opens,"
    " coalesce(sum(CASE WHEN opened_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS unique_opens,"
    " coalesce(sum(click_count), 0) AS clicks,"
    " coalesce(sum(CASE WHEN clicked_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS unique_clicks,"
    " coalesce(sum(CASE WHEN unsubscribed_at IS NOT NULL THEN 1 ELSE 0 END), 0)"
    " AS unsubscribes,"
    " coalesce(sum(CASE WHEN bounced_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS bounces"
    " FROM email_messages"
)


async def report(db: Database, column: str, source_id: int) -> dict[str, int]:
    """Counts over a campaign's or automation's records (off the event loop on SQLite:
    it reads every recipient)."""
    rows = await db.scan(f"{_REPORT} WHERE {column} = ? AND NOT is_test", (source_id,))
    return {key: int(rows[0][key] or 0) for key in REPORT_COUNTS}


async def captured_page(
    db: Database, principal: Principal, filters: dict[str, Any], page: int, page_size: int
) -> tuple[int, list[Row]]:
    where = [TENANT]
    params: list[Any] = [*tenant(principal)]
    if filters.get("to"):
        where.append("lower(to_email) = lower(?)")
        params.append(filters["to"])
    for name, column in (("campaignId", "campaign_id"), ("automationId", "automation_id")):
        if filters.get(name) is not None:
            where.append(f"{column} = ?")
            params.append(filters[name])
    clause = " AND ".join(where)
    total = await db.fetchone(f"SELECT count(*) AS n FROM captured_emails WHERE {clause}", params)
    rows = await db.fetchall(
        f"SELECT * FROM captured_emails WHERE {clause} ORDER BY id DESC LIMIT ? OFFSET ?",
        (*params, page_size, (page - 1) * page_size),
    )
    return (int(total["n"]) if total else 0), rows


async def captured(db: Database, principal: Principal, captured_id: int) -> Row | None:
    return await db.fetchone(
        f"SELECT * FROM captured_emails WHERE id = ? AND {TENANT}",
        (captured_id, *tenant(principal)),
    )


async def prune_captured(db: Database, cutoff: str, batch: int = 20) -> int:
    """Delete captured mail older than `cutoff`, the oldest first, a small batch per
    transaction (a message may be a megabyte) with a yield in between."""
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


async def hourly_opens_and_clicks(db: Database, column: str, source_id: int) -> list[Row]:
    """A campaign's or automation's first opens and first clicks per hour (rows of kind
    'open'|'click', hour (the stamp's first 13 characters, e.g. 2026-11-28T09), n). Off
    the event loop: it reads every recipient."""
    where = f"{column} = ? AND NOT is_test"
    return await db.scan(
        "SELECT 'open' AS kind, substr(opened_at, 1, 13) AS hour, count(*) AS n"
        f" FROM email_messages WHERE {where} AND opened_at IS NOT NULL"
        " GROUP BY substr(opened_at, 1, 13)"
        " UNION ALL SELECT 'click' AS kind, substr(clicked_at, 1, 13) AS hour, count(*) AS n"
        f" FROM email_messages WHERE {where} AND clicked_at IS NOT NULL"
        " GROUP BY substr(clicked_at, 1, 13)",
        (source_id, source_id),
    )


async def captured_after(
    db: Database, principal: Principal, to: str | None, before_id: int | None, limit: int
) -> list[Row]:
    """A page of captured mail, newest first, by cursor (ids below `before_id`), for one
    recipient or all: `limit` rows at most."""
    where = [TENANT]
    params: list[Any] = [*tenant(principal)]
    if to:
        where.append("lower(to_email) = lower(?)")
        params.append(to)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    return await db.fetchall(
        "SELECT id, to_email, from_header, subject, campaign_id, automation_id, created_at"
        f" FROM captured_emails WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    )


async def contact_by_email(
    db: Database | Connection, principal: Principal, address: str
) -> Row | None:
    """The contact with this address (compared case-insensitively), if there is one."""
    return await db.fetchone(
        "SELECT id, email, first_name, last_name, phone FROM contacts"
        f" WHERE {TENANT} AND lower(email) = lower(?)",
        (*tenant(principal), address),
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
        " WHERE m.contact_id = ? AND m.account_id = ? AND m.env = ? AND NOT m.is_test"
    )
    params: list[Any] = [contact_id, *tenant(principal)]
    if before is not None:
        sql += " AND m.id < ?"
        params.append(before)
    return await db.fetchall(sql + " ORDER BY m.id DESC LIMIT ?", [*params, limit])
