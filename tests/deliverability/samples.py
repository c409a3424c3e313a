"""What the deliverability tests share: sent messages made straight in the database (as
the sender leaves them), what a contact's state is, and reports written by hand as real
relays and mailbox providers write them (a Postfix DSN per RFC 3464, an ARF report per
RFC 5965)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI

from activecommerce.kit.clock import now
from activecommerce.kit.db import Database, Row


async def new_contact(api: Any, address: str) -> int:
    r = await api.post("/v3/contacts", json={"email": address, "firstName": "Ann"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def sent_message(
    db: Database,
    account: Any,
    contact_id: int | None,
    to: str,
    *,
    env: str = "sandbox",
    is_test: bool = False,
) -> int:
    """A message recorded as sent to `to` (its contact's address), as the sender leaves
    it; its id."""
    stamp = now()
    async with db.transaction() as conn:
        row = await conn.fetchone(
            "INSERT INTO email_messages (account_id, env, contact_id, is_test, to_email,"
            " status, due_at, sent_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, 'sent', ?, ?, ?, ?) RETURNING id",
            (int(account.id), env, contact_id, is_test, to, stamp, stamp, stamp, stamp),
        )
    assert row is not None
    return int(row["id"])


async def message(db: Database, account: Any, message_id: int) -> Row:
    row = await db.fetchone(
        "SELECT * FROM email_messages WHERE account_id = ? AND id = ?",
        (int(account.id), message_id),
    )
    assert row is not None
    return row


async def reports_of(db: Database, account: Any, message_id: int) -> list[tuple[str, str]]:
    """(kind, source) of the message's reports, in order."""
    rows = await db.fetchall(
        "SELECT kind, source FROM email_reports WHERE account_id = ? AND message_id = ?"
        " ORDER BY id",
        (int(account.id), message_id),
    )
    return [(str(r["kind"]), str(r["source"])) for r in rows]


async def status_of(api: Any, contact_id: int) -> str:
    r = await api.get(f"/v3/contacts/{contact_id}")
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


async def suppression_of(api: Any, address: str) -> str | None:
    """The reason the address is suppressed for, or None."""
    r = await api.get("/v3/suppressions", params={"email": address})
    assert r.status_code == 200, r.text
    entries = r.json()["data"]
    return str(entries[0]["reason"]) if entries else None


async def events_about(app: FastAPI, account: Any, message_id: int, *types: str) -> list[str]:
    """The types of the account's events of these types about the message, in order."""
    rows = await app.state.services.db.fetchall(
        "SELECT type, data FROM events WHERE account_id = ? ORDER BY id", (int(account.id),)
    )
    found = []
    for row in rows:
        data = orjson.loads(row["data"])
        if row["type"] in types and str(data.get("id")) == str(message_id):
            found.append(str(row["type"]))
    return found


def postfix_dsn(
    return_path: str,
    recipient: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "550 5.1.1 <{to}>: Recipient address rejected: User unknown in local"
    " recipient table",
    quoted_message_id: str = "<1.live@shop.io>",
) -> bytes:
    """A delivery status notification as Postfix writes it (RFC 3464)."""
    diagnostic = diagnostic.format(to=recipient)
    return (
        "Return-Path: <>\r\n"
        "Received: by mx.example.net (Postfix) id 4Xabc; Tue,  8 Dec 2026 00:10:05 +0000 (UTC)\r\n"
        "Date: Tue,  8 Dec 2026 00:10:05 +0000 (UTC)\r\n"
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"To: {return_path}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        '\tboundary="4Xabc.1765152605/mx.example.net"\r\n'
        "Message-Id: <20261208001005.4Xabc@mx.example.net>\r\n"
        "\r\n"
        "This is a MIME-encapsulated message.\r\n"
        "\r\n"
        "--4Xabc.1765152605/mx.example.net\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host mx.example.net.\r\n"
        "\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients. It's attached below.\r\n"
        "\r\n"
        f"<{recipient}>: host mx.example.org[203.0.113.7] said: {diagnostic}\r\n"
        "\r\n"
        "--4Xabc.1765152605/mx.example.net\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "X-Postfix-Queue-ID: 4Xabc\r\n"
        f"X-Postfix-Sender: rfc822; {return_path}\r\n"
        "Arrival-Date: Tue,  8 Dec 2026 00:10:00 +0000 (UTC)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mx.example.org\r\n"
        f"Diagnostic-Code: smtp; {diagnostic[:60]}\r\n"
        f"    {diagnostic[60:] or 'x'}\r\n"
        "\r\n"
        "--4Xabc.1765152605/mx.example.net\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"Return-Path: <{return_path}>\r\n"
        "From: News <news@shop.io>\r\n"
        f"To: {recipient}\r\n"
        "Subject: Hi\r\n"
        f"Message-ID: {quoted_message_id}\r\n"
        "\r\n"
        "--4Xabc.1765152605/mx.example.net--\r\n"
    ).encode()


def arf_report(
    return_path: str,
    recipient: str,
    *,
    feedback_type: str = "abuse",
    quoted_message_id: str = "<1.live@shop.io>",
) -> bytes:
    """An abuse report from a mailbox provider's feedback loop (RFC 5965, ARF)."""
    return (
        "From: <staff@feedback.example.org>\r\n"
        "Date: Tue, 8 Dec 2026 00:20:00 +0000\r\n"
        "Subject: FW: Hi\r\n"
        f"To: <{return_path}>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=feedback-report;\r\n"
        '    boundary="part1_13d.2e68ed54_boundary"\r\n'
        "\r\n"
        "--part1_13d.2e68ed54_boundary\r\n"
        'Content-Type: text/plain; charset="US-ASCII"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
        "This is an email abuse report for an email message received from IP\r\n"
        "192.0.2.1 on Tue, 8 Dec 2026 00:10:00 +0000.\r\n"
        "\r\n"
        "--part1_13d.2e68ed54_boundary\r\n"
        "Content-Type: message/feedback-report\r\n"
        "\r\n"
        f"Feedback-Type: {feedback_type}\r\n"
        "User-Agent: SomeGenerator/1.0\r\n"
        "Version: 1\r\n"
        f"Original-Mail-From: <{return_path}>\r\n"
        f"Original-Rcpt-To: <{recipient}>\r\n"
        "Arrival-Date: Tue, 8 Dec 2026 00:10:00 +0000\r\n"
        "Reporting-MTA: dns; mail.example.org\r\n"
        "Source-IP: 192.0.2.1\r\n"
        "\r\n"
        "--part1_13d.2e68ed54_boundary\r\n"
        "Content-Type: message/rfc822\r\n"
        "Content-Disposition: inline\r\n"
        "\r\n"
        "From: <news@shop.io>\r\n"
        "Received: from mailserver.shop.io (mailserver.shop.io [192.0.2.1])\r\n"
        "    by mail.example.org; Tue, 8 Dec 2026 00:10:00 +0000\r\n"
        f"To: <{recipient}>\r\n"
        "Subject: Hi\r\n"
        f"Message-ID: {quoted_message_id}\r\n"
        "Date: Tue, 8 Dec 2026 00:09:55 +0000\r\n"
        "\r\n"
        "Hello\r\n"
        "\r\n"
        "--part1_13d.2e68ed54_boundary--\r\n"
    ).encode()


def auto_reply(to: str) -> bytes:
    """Not a report: an out-of-office reply that went to the return path."""
    return (
        "From: Ann <ann@example.org>\r\n"
        f"To: {to}\r\n"
        "Subject: Out of office\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "I am away until Monday.\r\n"
    ).encode()
