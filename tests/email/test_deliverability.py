"""SPEC §14, first bullet (issue 23): the deliverability headers, RFC 5322 folding and the
998 limit, non-ASCII local parts (RFC 6531), and an SMTP session that no failure leaves
half-way through a transaction for the next message."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from conftest import _new_account, fresh_database, running_app
from fastapi import FastAPI
from helpers import created, give_postal_address, wait_for
from servers import free_port
from smtp import Inbox

from activecommerce.config import Settings
from activecommerce.email.compose import Content, Unsendable, compose, prepare_content
from activecommerce.email.transport import (
    Connection,
    PermanentFailure,
    SmtpTarget,
    TemporaryFailure,
)
from activecommerce.kit.db import connect

ROW = {
    "id": 12,
    "subject": "Hi {{ contact.firstName }}",
    "html_content": None,
    "plaintext_content": "Hello",
    "from_email": "news@shop.io",
    "from_name": "Shop",
    "reply_to_email": None,
}
BRAND = {"id": 5, "name": 'Zoë "the" Shop', "from_name": None, "postal_address": "1 Road"}


class Hostile(Inbox):
    """A sink that misbehaves, at one SMTP stage, for one chosen address."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_mail: set[str] = set()
        self.drop_rcpt: set[str] = set()
        self.refuse_data: set[str] = set()
        self.drop_data: set[str] = set()
        self.sessions = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse_mail:
            return "550 5.7.1 Sender refused"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.drop_rcpt:
            server.transport.close()
            return "421 4.4.2 Bye"
        return str(await super().handle_RCPT(server, session, envelope, address, rcpt_options))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if set(envelope.rcpt_tos) & self.refuse_data:
            return "554 5.6.0 Content refused"
        if set(envelope.rcpt_tos) & self.drop_data:
            server.transport.close()
            return "421 4.4.2 Bye"
        return str(await super().handle_DATA(server, session, envelope))


@contextmanager
def sink(inbox: Inbox, *, smtputf8: bool) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def _raw(to: str, subject: str = "Hello") -> bytes:
    return (
        f"From: news@shop.io\r\nTo: {to}\r\nSubject: {subject}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nHi\r\n"
    ).encode()


def _content(**row: Any) -> Content:
    return prepare_content({**ROW, **row}, BRAND, account_id=7, kind="campaign")


def _compose(app: FastAPI, content: Content, to: str = "ann@b.io") -> Any:
    return compose(
        content,
        message_id=99,
        env="live",
        to=to,
        contact={"email": to, "firstName": "Ann"},
        signer=app.state.services.email.links(),
    )


def _lines_fit(raw: bytes) -> None:
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))


def test_marketing_headers(app: FastAPI) -> None:
    host = httpx.URL(app.state.services.email.links().base).host
    raw = _compose(app, _content()).raw
    assert b"List-Id: =?utf-8?" in raw  # a non-ASCII brand name as an encoded word
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["List-Id"] == f'Zoë "the" Shop <b5.7.{host}>'
    assert message["Feedback-ID"] == "c12:7:activecommerce"
    assert message["Precedence"] == "bulk"
    assert message["List-Unsubscribe"].startswith("<http")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # An automation's: bulk too (no auto-replies to it); without a brand, the account's list.
    automation = prepare_content(ROW, None, account_id=7, kind="automation")
    message = email.message_from_bytes(_compose(app, automation).raw, policy=email.policy.default)
    assert message["List-Id"] == f"<a7.{host}>"
    assert message["Feedback-ID"] == "a12:7:activecommerce"
    assert message["Precedence"] == "bulk"
    ascii_brand = prepare_content(ROW, {**BRAND, "name": 'The "A" Shop'}, account_id=7)
    raw = _compose(app, ascii_brand).raw
    assert f'List-Id: "The \\"A\\" Shop" <b5.7.{host}>\r\n'.encode() in raw


async def test_long_headers_are_folded_and_accepted(app: FastAPI) -> None:
    """Subjects of up to 998 characters, ASCII and not (the latter ~3,000 octets once
    encoded), are folded; a real SMTP server accepts them and they parse back whole."""
    inbox = Inbox()
    subjects = ["word " * 199 + "end", "zoë " * 248 + "fin", "x" * 990]
    with sink(inbox, smtputf8=False) as port:
        connection = Connection(SmtpTarget.parse(f"smtp://127.0.0.1:{port}"), 5.0)
        try:
            for subject in subjects:
                composed = _compose(app, _content(subject=subject))
                assert len(composed.raw.split(b"\r\n\r\n", 1)[0]) > 998
                _lines_fit(composed.raw)
                await connection.send("news@shop.io", "ann@b.io", composed.raw)
        finally:
            await connection.close()
    assert [m["Subject"] for m in inbox.messages()] == subjects


def test_a_subject_rendered_over_998_characters_is_unsendable(app: FastAPI) -> None:
    content = _content(subject="{{ contact.firstName }}")
    with pytest.raises(Unsendable, match="3000 characters"):
        compose(
            content,
            message_id=1,
            env="live",
            to="a@b.io",
            contact={"firstName": "y" * 3000},
            signer=app.state.services.email.links(),
        )


async def test_subjects_over_998_characters_are_refused_when_saved(
    api: httpx.AsyncClient,
) -> None:
    body = {"name": "Long", "subject": "s" * 999, "fromEmail": "news@shop.io"}
    r = await api.post("/v3/emailCampaigns", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await api.post(
        "/v3/emailAutomations", json={**body, "trigger": {"type": "contact_created"}}
    )
    assert r.status_code == 422, r.text


async def test_non_ascii_local_parts_are_valid_contact_emails(api: httpx.AsyncClient) -> None:
    r = await api.post("/v3/contacts", json={"email": "zoë@example.com"})
    assert r.status_code == 201, r.text
    assert r.json()["email"] == "zoë@example.com"


async def test_smtputf8_when_the_relay_offers_it(app: FastAPI) -> None:
    inbox = Inbox()
    with sink(inbox, smtputf8=True) as port:
        connection = Connection(SmtpTarget.parse(f"smtp://127.0.0.1:{port}"), 5.0)
        try:
            composed = _compose(app, _content(), to="zoë@b.io")
            assert b"To: zo\xc3\xab@b.io\r\n" in composed.raw
            await connection.send("news@shop.io", "zoë@b.io", composed.raw)
            await connection.send("news@shop.io", "ann@b.io", _raw("ann@b.io"))
        finally:
            await connection.close()
    assert inbox.recipients() == ["zoë@b.io", "ann@b.io"]


async def test_one_bad_recipient_never_affects_the_next_message() -> None:
    """One connection; before and after each message that fails at some stage of the SMTP
    transaction, a good message goes through the same connection. The bad one fails for
    good, or counts against its own attempts (so it is given up): never a relay failure
    that is retried for ever."""
    inbox = Hostile()
    inbox.refuse[bad_rcpt := "refused-rcpt@b.io"] = "550 5.1.1 No such user"
    inbox.drop_rcpt.add(dropped_rcpt := "drop-rcpt@b.io")
    inbox.refuse_data.add(refused_data := "refused-data@b.io")
    inbox.drop_data.add(dropped_data := "drop-data@b.io")
    inbox.refuse_mail.add(bad_sender := "blocked@shop.io")
    cases: list[tuple[str, str, type[Exception]]] = [
        (bad_sender, "a@b.io", PermanentFailure),
        ("news@shop.io", bad_rcpt, PermanentFailure),
        ("news@shop.io", refused_data, PermanentFailure),
        ("news@shop.io", "zoë@b.io", PermanentFailure),  # no SMTPUTF8 offered
        ("zoë@shop.io", "a@b.io", PermanentFailure),  # a non-ASCII sender: the same
        ("news@shop.io", dropped_rcpt, TemporaryFailure),
        ("news@shop.io", dropped_data, TemporaryFailure),
    ]
    good = 0
    with sink(inbox, smtputf8=False) as port:
        connection = Connection(SmtpTarget.parse(f"smtp://127.0.0.1:{port}"), 5.0)
        try:
            for sender, to, expected in cases:
                with pytest.raises(expected) as raised:
                    await connection.send(sender, to, _raw(to))
                failure = raised.value
                if isinstance(failure, TemporaryFailure):
                    assert not failure.relay, (to, failure)
                if isinstance(failure, PermanentFailure) and "zoë" in sender + to:
                    assert "SMTPUTF8" in str(failure)
                good += 1
                await connection.send("news@shop.io", f"good{good}@b.io", _raw("x"))
        finally:
            await connection.close()
    assert inbox.recipients() == [f"good{i}@b.io" for i in range(1, good + 1)]


async def test_a_campaign_through_a_hostile_relay(tmp_path: Path, settings: Settings) -> None:
    """End to end, one SMTP connection: the recipients that the relay refuses, drops, or
    cannot take (non-ASCII, no SMTPUTF8), and one whose subject renders too long, fail
    alone with their reasons; every other recipient gets its message; the campaign ends."""
    inbox = Hostile()
    inbox.refuse["refused@b.io"] = "550 5.1.1 No such user"
    inbox.refuse_data.add("content@b.io")
    inbox.drop_data.add("dropped@b.io")
    bad = ["refused@b.io", "content@b.io", "dropped@b.io", "zoë@b.io", "long@b.io"]
    good = [f"ok{i}@b.io" for i in range(6)]
    async with fresh_database(tmp_path) as url:
        with sink(inbox, smtputf8=False) as port:
            overrides = {
                "database_url": url,
                "smtp_url": f"smtp://127.0.0.1:{port}",
                "smtp_connections": 1,
                "smtp_timeout_seconds": 5.0,
                "email_retry_seconds": 0.1,
                "email_max_attempts": 2,
            }
            async with running_app(settings, **overrides) as app:
                account = await _new_account(app)
                api = account.live
                group = await created(api, "/v3/contactGroups", {"name": "All"})
                for address in bad + good:
                    name = "y" * 200 if address == "long@b.io" else "Ann"
                    body = {"email": address, "firstName": name}
                    contact = await created(api, "/v3/contacts", body)
                    await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
                subject = "{{ contact.firstName }} " * 6  # 1,206 characters for long@
                body = {"name": "N", "subject": subject, "fromEmail": "news@shop.io"}
                campaign = await created(api, "/v3/emailCampaigns", body)
                await give_postal_address(api)
                r = await api.post(
                    f"/v3/emailCampaigns/{campaign['id']}/send",
                    json={"audience": {"groupIds": [group["id"]]}},
                )
                assert r.status_code == 202, r.text

                async def done() -> bool:
                    r = await api.get(f"/v3/emailCampaigns/{campaign['id']}")
                    return bool(r.json()["status"] == "sent")

                await wait_for(done, timeout=30, what="the campaign to end")
                assert sorted(inbox.recipients()) == sorted(good)
                report = (await api.get(f"/v3/emailCampaigns/{campaign['id']}/report")).json()
                assert (report["sent"], report["delivered"]) == (len(good), len(good))
                # refused@ bounces (5.1.1); the others fail, each with its reason.
                assert (report["hardBounces"], report["bounced"]) == (1, 1)
                assert report["failed"] == len(bad) - 1
                assert sum(r["count"] for r in report["reasons"]) == len(bad)
                await account.close()
        db = await connect(url)
        try:
            rows = await db.fetchall(
                "SELECT c.email AS to_email, m.error FROM email_messages m"
                " JOIN contacts c ON c.id = m.contact_id WHERE m.status <> 'sent'"
            )
        finally:
            await db.close()
    errors = {row["to_email"]: row["error"] for row in rows}
    assert sorted(errors) == sorted(bad)
    assert "550 5.1.1" in errors["refused@b.io"]
    assert "554 5.6.0" in errors["content@b.io"]
    assert "gave up after 2 attempts" in errors["dropped@b.io"]
    assert "SMTPUTF8" in errors["zoë@b.io"]
    assert "subject renders to" in errors["long@b.io"]
