"""`activecommerce inbound` over a real SMTP client (aiosmtplib) on loopback: delivery
status notifications (RFC 3464) and abuse reports (RFC 5965) as relays and mailbox
providers write them, each applied to the message its signed return path names; forged
return paths refused at RCPT; a 451 when the database cannot take a report, so that the
relay tries again and nothing is lost."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiosmtplib
import pytest
from conftest import POSTGRES_ADMIN_URL, Account
from fastapi import FastAPI

from activecommerce.deliverability.inbound import Intake, start
from activecommerce.deliverability.verp import Verp
from activecommerce.kit.db import connect, sqlite_path

from .samples import (
    arf_report,
    auto_reply,
    events_about,
    message,
    new_contact,
    postfix_dsn,
    reports_of,
    sent_message,
    status_of,
    suppression_of,
)

DOMAIN = "bounces.shop.io"


@dataclass
class Inbound:
    verp: Verp
    port: int

    async def send(self, rcpt: str, raw: bytes) -> None:
        await relay(self.port, rcpt, raw)


async def relay(port: int, rcpt: str, raw: bytes, sender: str = "") -> None:
    """What a relay does with a report: MAIL FROM:<> (reports have no return path)."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10) as smtp:
        await smtp.sendmail(sender, [rcpt], raw)


@pytest.fixture
async def inbound(app: FastAPI) -> AsyncIterator[Inbound]:
    verp = Verp(app.state.services.authenticator.secret, DOMAIN)
    server = await start(Intake(app.state.services.db, verp), "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    yield Inbound(verp, port)
    server.close()
    await server.wait_closed()


@dataclass
class Sent:
    contact_id: int
    message_id: int
    address: str
    return_path: str


async def _sent(app: FastAPI, account: Account, inbound: Inbound) -> Sent:
    address = f"ann.{uuid.uuid4().hex[:10]}@example.org"
    contact_id = await new_contact(account.sandbox, address)
    message_id = await sent_message(app.state.services.db, account, contact_id, address)
    return Sent(contact_id, message_id, address, inbound.verp.return_path(message_id, "sandbox"))


async def test_a_hard_bounce(app: FastAPI, account: Account, inbound: Inbound) -> None:
    db = app.state.services.db
    sent = await _sent(app, account, inbound)
    await inbound.send(sent.return_path, postfix_dsn(sent.return_path, sent.address))
    assert await status_of(account.sandbox, sent.contact_id) == "bounced"
    assert await suppression_of(account.sandbox, sent.address) == "bounced"
    row = await message(db, account, sent.message_id)
    assert row["bounce_kind"] == "hard"
    assert "User unknown in local recipient table" in str(row["error"])
    assert await reports_of(db, account, sent.message_id) == [("hard", "dsn")]
    assert await events_about(app, account, sent.message_id, "email.bounced") == ["email.bounced"]
    # The relay sends it again (it did not see our 250): counted once.
    await inbound.send(sent.return_path.upper(), postfix_dsn(sent.return_path, sent.address))
    assert await reports_of(db, account, sent.message_id) == [("hard", "dsn")]


async def test_a_soft_bounce_a_delay_and_a_delivery(
    app: FastAPI, account: Account, inbound: Inbound
) -> None:
    db = app.state.services.db
    soft, delayed, delivered = [await _sent(app, account, inbound) for _ in range(3)]
    full = "452 4.2.2 <{to}>: Mailbox full"
    await inbound.send(
        soft.return_path,
        postfix_dsn(soft.return_path, soft.address, status="4.2.2", diagnostic=full),
    )
    later = "451 4.4.1 Connection timed out"
    await inbound.send(
        delayed.return_path,
        postfix_dsn(
            delayed.return_path, delayed.address, action="delayed", status="4.4.1", diagnostic=later
        ),
    )
    await inbound.send(
        delivered.return_path,
        postfix_dsn(
            delivered.return_path,
            delivered.address,
            action="delivered",
            status="2.0.0",
            diagnostic="250 2.0.0 Ok: queued as 4Xdef",
        ),
    )
    assert await reports_of(db, account, soft.message_id) == [("soft", "dsn")]
    assert (await message(db, account, soft.message_id))["bounce_kind"] == "soft"
    assert await status_of(account.sandbox, soft.contact_id) == "active"
    # A delay says nothing yet: the relay is still trying.
    assert await reports_of(db, account, delayed.message_id) == []
    row = await message(db, account, delayed.message_id)
    assert (row["bounce_kind"], row["delivered_at"]) == (None, None)
    assert await reports_of(db, account, delivered.message_id) == [("delivered", "dsn")]
    assert (await message(db, account, delivered.message_id))["delivered_at"] is not None
    for sent in (soft, delayed, delivered):
        assert await status_of(account.sandbox, sent.contact_id) == "active"


async def test_a_complaint_names_the_return_paths_message_only(
    app: FastAPI, account: Account, inbound: Inbound
) -> None:
    db = app.state.services.db
    reported, quoted = await _sent(app, account, inbound), await _sent(app, account, inbound)
    # The report quotes the other message's Message-ID: only the return path counts.
    other_id = f"<{quoted.message_id}.sandbox@127.0.0.1>"
    raw = arf_report(reported.return_path, reported.address, quoted_message_id=other_id)
    await inbound.send(reported.return_path, raw)
    assert await status_of(account.sandbox, reported.contact_id) == "complained"
    assert await suppression_of(account.sandbox, reported.address) == "complained"
    assert (await message(db, account, reported.message_id))["complained_at"] is not None
    events = await events_about(app, account, reported.message_id, "email.complained")
    assert events == ["email.complained"]
    assert await reports_of(db, account, reported.message_id) == [("complaint", "arf")]
    assert await status_of(account.sandbox, quoted.contact_id) == "active"
    assert await reports_of(db, account, quoted.message_id) == []
    # "Not spam" is no complaint.
    third = await _sent(app, account, inbound)
    raw = arf_report(third.return_path, third.address, feedback_type="not-spam")
    await inbound.send(third.return_path, raw)
    assert await status_of(account.sandbox, third.contact_id) == "active"


async def test_a_forged_return_path_is_refused_at_rcpt(
    app: FastAPI, account: Account, inbound: Inbound
) -> None:
    db = app.state.services.db
    sent = await _sent(app, account, inbound)
    local, _, domain = sent.return_path.partition("@")
    forged = [
        f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}",  # a guessed signature
        f"b-{sent.message_id}-l-{local.rsplit('-', 1)[1]}@{domain}",  # the live message
        f"{local}@bounces.other.io",
        "postmaster@" + DOMAIN,
    ]
    for rcpt in forged:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await inbound.send(rcpt, postfix_dsn(rcpt, sent.address))
        assert refused.value.recipients[0].code == 550
    assert await status_of(account.sandbox, sent.contact_id) == "active"
    assert await reports_of(db, account, sent.message_id) == []


async def test_mail_that_is_no_report_is_accepted_and_changes_nothing(
    app: FastAPI, account: Account, inbound: Inbound
) -> None:
    db = app.state.services.db
    sent = await _sent(app, account, inbound)
    await inbound.send(sent.return_path, auto_reply(sent.return_path))
    await inbound.send(sent.return_path, b"Subject: \xff\xfe\r\n\r\n\x00garbage")
    assert await status_of(account.sandbox, sent.contact_id) == "active"
    assert await reports_of(db, account, sent.message_id) == []


async def test_the_unsubscribe_mailto(app: FastAPI, account: Account, inbound: Inbound) -> None:
    db = app.state.services.db
    sent = await _sent(app, account, inbound)
    address = inbound.verp.unsubscribe_address(sent.message_id, "sandbox")
    raw = (f"From: {sent.address}\r\nTo: {address}\r\nSubject: unsubscribe\r\n\r\n\r\n").encode()
    await relay(inbound.port, address, raw, sender=sent.address)
    assert await status_of(account.sandbox, sent.contact_id) == "unsubscribed"
    assert await suppression_of(account.sandbox, sent.address) == "unsubscribed"
    assert (await message(db, account, sent.message_id))["unsubscribed_at"] is not None


async def test_a_report_the_database_cannot_take_is_answered_451_and_kept_by_the_relay(
    app: FastAPI, account: Account, inbound: Inbound, database_url: str
) -> None:
    sent = await _sent(app, account, inbound)
    raw = postfix_dsn(sent.return_path, sent.address)
    # The inbound server's own database connection, with short waits, while another
    # client holds the lock a report's write needs.
    db = await connect(database_url, acquire_timeout=0.3, statement_timeout=0.3, retry_after=0.1)
    server = await start(Intake(db, inbound.verp, timeout=5.0), "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        async with _held(database_url):
            with pytest.raises(aiosmtplib.SMTPDataError) as refused:
                await relay(port, sent.return_path, raw)
            assert refused.value.code == 451
        assert await status_of(account.sandbox, sent.contact_id) == "active"
        # The relay tries again once the database answers: applied.
        await asyncio.sleep(0.15)  # past the fail-fast window after the failure
        await relay(port, sent.return_path, raw)
    finally:
        server.close()
        await server.wait_closed()
        await db.close()
    assert await status_of(account.sandbox, sent.contact_id) == "bounced"


class _held:
    """Another client holds what a report's write needs: SQLite's write lock, or on
    PostgreSQL the delivery report table."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.release: asyncio.Event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        if POSTGRES_ADMIN_URL:
            import psycopg

            self.pg = await psycopg.AsyncConnection.connect(self.url)
            await self.pg.execute("LOCK TABLE email_reports IN ACCESS EXCLUSIVE MODE")
        else:
            self.lite = sqlite3.connect(sqlite_path(self.url), isolation_level=None)
            self.lite.execute("BEGIN IMMEDIATE")

    async def __aexit__(self, *exc: object) -> None:
        if POSTGRES_ADMIN_URL:
            await self.pg.rollback()
            await self.pg.close()
        else:
            self.lite.execute("ROLLBACK")
            self.lite.close()


async def test_sessions_over_the_limit_are_told_to_come_back(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each session may hold a message in memory: past MAX_SESSIONS a new one gets 421
    (the relay tries again later), and a closed session frees its place."""
    monkeypatch.setattr("activecommerce.deliverability.inbound.MAX_SESSIONS", 2)
    verp = Verp(app.state.services.authenticator.secret, DOMAIN)
    server = await start(Intake(app.state.services.db, verp), "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        held = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10) for _ in range(2)]
        for client in held:
            await client.connect()
        with pytest.raises(aiosmtplib.SMTPConnectError) as refused:
            await aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10).connect()
        assert "421" in str(refused.value)
        await held[0].quit()
        await asyncio.sleep(0.1)  # the server sees the connection closed
        again = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10)
        await again.connect()
        await again.quit()
        await held[1].quit()
    finally:
        server.close()
        await server.wait_closed()
