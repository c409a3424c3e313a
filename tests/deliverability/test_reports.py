"""Delivery reports in one place (deliverability/service.py): what each kind changes, the
soft bounces that make a hard one, and what a report never changes (a report received
twice, another environment's message, a test copy). On SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid

from conftest import Account
from fastapi import FastAPI

from activecommerce.deliverability.service import Report, kind_of, receive
from activecommerce.kit.clock import after

from .samples import (
    events_about,
    message,
    new_contact,
    reports_of,
    sent_message,
    status_of,
    suppression_of,
)


def _address() -> str:
    return f"ann.{uuid.uuid4().hex[:10]}@example.org"


async def _sent(app: FastAPI, account: Account) -> tuple[int, int, str]:
    """A contact and a message sent to it: (contact id, message id, address)."""
    address = _address()
    contact_id = await new_contact(account.sandbox, address)
    db = app.state.services.db
    return contact_id, await sent_message(db, account, contact_id, address), address


def test_kinds_by_status_code() -> None:
    assert kind_of("5.1.1", permanent=True) == "hard"
    assert kind_of("5.1.10", permanent=True) == "hard"
    assert kind_of("5.1.8", permanent=True) == "policy"  # the sender's own address
    assert kind_of("5.2.2", permanent=True) == "soft"  # a full mailbox
    assert kind_of("4.4.1", permanent=True) == "soft"
    assert kind_of("5.7.1", permanent=True) == "policy"
    assert kind_of("2.0.0", permanent=True) == "delivered"
    assert kind_of(None, permanent=True) == "policy"
    assert kind_of("garbage", permanent=False) == "soft"


async def test_a_hard_bounce_stops_the_contact(app: FastAPI, account: Account) -> None:
    db = app.state.services.db
    contact_id, message_id, address = await _sent(app, account)
    report = Report(message_id, "hard", "dsn", "5.1.1", "550 5.1.1 User unknown", env="sandbox")
    assert await receive(db, report)
    assert await status_of(account.sandbox, contact_id) == "bounced"
    assert await suppression_of(account.sandbox, address) == "bounced"
    row = await message(db, account, message_id)
    assert row["bounce_kind"] == "hard"
    assert row["bounced_at"] is not None
    assert row["error"] == "550 5.1.1 User unknown"
    assert await events_about(app, account, message_id, "email.bounced") == ["email.bounced"]
    assert await reports_of(db, account, message_id) == [("hard", "dsn")]
    # The same report again (a relay's retry): nothing twice.
    assert not await receive(db, report)
    assert await events_about(app, account, message_id, "email.bounced") == ["email.bounced"]
    assert await reports_of(db, account, message_id) == [("hard", "dsn")]


async def test_three_soft_bounces_within_30_days_make_a_hard_one(
    app: FastAPI, account: Account
) -> None:
    db = app.state.services.db
    address = _address()
    contact_id = await new_contact(account.sandbox, address)
    ids = [await sent_message(db, account, contact_id, address) for _ in range(3)]
    for i, message_id in enumerate(ids):
        assert await receive(db, Report(message_id, "soft", "dsn", "4.2.2", "Mailbox full"))
        expected = "bounced" if i == 2 else "active"
        assert await status_of(account.sandbox, contact_id) == expected
        assert (await message(db, account, message_id))["bounce_kind"] == "soft"
    assert await suppression_of(account.sandbox, address) == "bounced"
    bounced = await events_about(app, account, ids[2], "email.bounced")
    assert bounced == ["email.bounced"]


async def test_soft_bounces_older_than_30_days_do_not_count(app: FastAPI, account: Account) -> None:
    db = app.state.services.db
    address = _address()
    contact_id = await new_contact(account.sandbox, address)
    old = await sent_message(db, account, contact_id, address)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO email_reports (account_id, env, message_id, contact_id, kind, source,"
            " created_at) VALUES (?, 'sandbox', ?, ?, 'soft', 'dsn', ?)",
            (int(account.id), old, contact_id, after(-31 * 86400.0)),
        )
    for _ in range(2):
        message_id = await sent_message(db, account, contact_id, address)
        assert await receive(db, Report(message_id, "soft", "dsn", "4.2.2"))
    assert await status_of(account.sandbox, contact_id) == "active"
    assert await suppression_of(account.sandbox, address) is None


async def test_a_policy_refusal_blames_no_one(app: FastAPI, account: Account) -> None:
    db = app.state.services.db
    contact_id, message_id, address = await _sent(app, account)
    reason = "550 5.7.1 Message rejected as spam"
    assert await receive(db, Report(message_id, "policy", "dsn", "5.7.1", reason))
    assert await status_of(account.sandbox, contact_id) == "active"
    assert await suppression_of(account.sandbox, address) is None
    row = await message(db, account, message_id)
    assert (row["bounce_kind"], row["error"], row["bounced_at"]) == ("policy", reason, None)


async def test_a_complaint_stops_the_contact(app: FastAPI, account: Account) -> None:
    db = app.state.services.db
    contact_id, message_id, address = await _sent(app, account)
    assert await receive(db, Report(message_id, "complaint", "arf", reason="abuse report"))
    assert await status_of(account.sandbox, contact_id) == "complained"
    assert await suppression_of(account.sandbox, address) == "complained"
    assert (await message(db, account, message_id))["complained_at"] is not None
    events = await events_about(app, account, message_id, "email.complained")
    assert events == ["email.complained"]
    assert not await receive(db, Report(message_id, "complaint", "arf"))
    assert await events_about(app, account, message_id, "email.complained") == events


async def test_a_delivery(app: FastAPI, account: Account) -> None:
    db = app.state.services.db
    contact_id, message_id, _ = await _sent(app, account)
    assert await receive(db, Report(message_id, "delivered", "dsn", "2.0.0"))
    row = await message(db, account, message_id)
    assert row["delivered_at"] is not None
    assert row["bounce_kind"] is None
    assert await status_of(account.sandbox, contact_id) == "active"
    assert await reports_of(db, account, message_id) == [("delivered", "dsn")]


async def test_what_a_report_never_changes(app: FastAPI, account: Account) -> None:
    db = app.state.services.db
    contact_id, message_id, address = await _sent(app, account)
    # A report naming the other environment: not about this message.
    assert not await receive(db, Report(message_id, "hard", "dsn", "5.1.1", env="live"))
    # No such message.
    assert not await receive(db, Report(10**12, "hard", "dsn", "5.1.1"))
    # A test copy (POST .../test) to the same address.
    copy = await sent_message(db, account, None, address, is_test=True)
    assert not await receive(db, Report(copy, "complaint", "arf"))
    assert await status_of(account.sandbox, contact_id) == "active"
    assert await suppression_of(account.sandbox, address) is None
    assert await reports_of(db, account, message_id) == []
    assert await reports_of(db, account, copy) == []


async def test_a_deleted_contacts_address_is_suppressed(app: FastAPI, account: Account) -> None:
    db = app.state.services.db
    contact_id, message_id, address = await _sent(app, account)
    r = await account.sandbox.delete(f"/v3/contacts/{contact_id}")
    assert r.status_code in (200, 204), r.text
    assert (await message(db, account, message_id))["contact_id"] is None
    assert await receive(db, Report(message_id, "hard", "dsn", "5.1.1"))
    assert await suppression_of(account.sandbox, address) == "bounced"
    # Creating the address again gives it the suppression's status, never active.
    contact = await account.sandbox.post("/v3/contacts", json={"email": address})
    assert contact.status_code == 201, contact.text
    assert contact.json()["status"] == "bounced"


async def test_a_late_report_is_about_the_address_the_email_went_to(
    app: FastAPI, account: Account
) -> None:
    """A complaint or a hard bounce that arrives after the contact changed its address
    suppresses the address the email went to; the contact, now at another address that
    nobody reported, stays mailable."""
    db = app.state.services.db
    for kind, reason in (("complaint", "complained"), ("hard", "bounced")):
        contact_id, message_id, old = await _sent(app, account)
        new = _address()
        r = await account.sandbox.patch(f"/v3/contacts/{contact_id}", json={"email": new})
        assert r.status_code == 200, r.text
        assert await receive(db, Report(message_id, kind, "arf", "5.1.1", "late"))  # type: ignore[arg-type]
        assert await suppression_of(account.sandbox, old) == reason
        assert await suppression_of(account.sandbox, new) is None
        assert await status_of(account.sandbox, contact_id) == "active"
