"""Send-time classification of SMTP refusals (SPEC §14, "Classification"), through a real
SMTP server (aiosmtpd on loopback): only a mailbox that does not exist (5.1.x) bounces
its contact; a policy refusal (5.7.x) fails the message alone; a relay that refuses the
sender pauses the campaign with its reason and marks no contact; a 4xx is retried."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
from conftest import _new_account, fresh_database, running_app
from helpers import created, give_postal_address, recorded_events, wait_for
from smtp import Inbox, smtp_server

from activecommerce.config import Settings
from activecommerce.email.transport import (
    Connection,
    PermanentFailure,
    SenderRefused,
    SmtpTarget,
    TemporaryFailure,
    classify,
    mailbox_gone,
)


class RefusesSender(Inbox):
    """A relay that refuses every MAIL FROM with `reply`."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        return self.reply


def _overrides(url: str, port: int) -> dict[str, Any]:
    return {
        "database_url": url,
        "smtp_url": f"smtp://127.0.0.1:{port}",
        "smtp_connections": 2,
        "smtp_timeout_seconds": 2.0,
        "email_retry_seconds": 0.1,
        "public_url": "https://mail.shop.io",
    }


async def _send_to(api: httpx.AsyncClient, people: list[str]) -> tuple[str, dict[str, str]]:
    """A campaign sent to these addresses: its id, and each address's contact id."""
    group = await created(api, "/v3/contactGroups", {"name": "All"})
    ids = {}
    for address in people:
        contact = await created(api, "/v3/contacts", {"email": address, "firstName": "Ann"})
        ids[address] = str(contact["id"])
        r = await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
        assert r.status_code == 204
    body = {"name": "N", "subject": "Hi", "fromEmail": "news@shop.io", "plaintextContent": "Hi"}
    campaign = await created(api, "/v3/emailCampaigns", body)
    await give_postal_address(api)
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send", json={"audience": {"groupIds": [group["id"]]}}
    )
    assert r.status_code == 202, r.text
    return str(campaign["id"]), ids


async def _contact_status(api: httpx.AsyncClient, contact_id: str) -> str:
    return str((await api.get(f"/v3/contacts/{contact_id}")).json()["status"])


async def _errors(app: Any) -> dict[str, tuple[str, str | None]]:
    rows = await app.state.services.db.fetchall(
        "SELECT c.email AS address, m.status, m.error FROM email_messages m"
        " JOIN contacts c ON c.id = m.contact_id"
    )
    return {row["address"]: (row["status"], row["error"]) for row in rows}


def test_the_classification_of_replies() -> None:
    assert mailbox_gone(550, "5.1.1 No such user")
    assert mailbox_gone(550, "User unknown")  # no enhanced code: the text says so
    assert not mailbox_gone(550, "5.7.1 Message refused by policy")
    assert not mailbox_gone(550, "Mailbox unavailable")  # could be anything: not blamed
    assert not mailbox_gone(550, "5.1.8 Bad sender's system address")
    assert not mailbox_gone(451, "4.1.1 Try later")

    def rcpt(code: int, text: str) -> Exception:
        return aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(code, text, "a")])

    gone = classify(rcpt(550, "5.1.1 No such user"))
    assert isinstance(gone, PermanentFailure)
    assert gone.bounce
    policy = classify(rcpt(550, "5.7.1 Refused by policy"))
    assert type(policy) is PermanentFailure
    assert not policy.bounce
    assert isinstance(classify(rcpt(554, "5.7.1 Relay access denied")), SenderRefused)
    assert isinstance(classify(rcpt(451, "4.7.1 Later")), TemporaryFailure)
    sender = aiosmtplib.SMTPSenderRefused(553, "5.7.1 Sender not allowed", "news@shop.io")
    assert isinstance(classify(sender), SenderRefused)
    assert isinstance(classify(aiosmtplib.SMTPAuthenticationError(535, "5.7.8 No")), SenderRefused)
    greeting = aiosmtplib.SMTPConnectResponseError(554, "5.3.2 Not now")
    assert isinstance(classify(greeting, connecting=True), SenderRefused)


async def test_only_a_missing_mailbox_bounces_its_contact(
    tmp_path: Path, settings: Settings
) -> None:
    inbox = Inbox(
        refuse={
            "gone@b.io": "550 5.1.1 No such user",
            "policy@b.io": "550 5.7.1 Message refused by policy",
        },
        defer={"slow@b.io": 1},
    )
    async with fresh_database(tmp_path) as url:
        with smtp_server(inbox=inbox) as (_, port):
            async with running_app(settings, **_overrides(url, port)) as app:
                account = await _new_account(app)
                api = account.live
                people = ["ann@b.io", "gone@b.io", "policy@b.io", "slow@b.io"]
                campaign_id, ids = await _send_to(api, people)

                async def sent() -> bool:
                    r = await api.get(f"/v3/emailCampaigns/{campaign_id}")
                    return bool(r.json()["status"] == "sent")

                await wait_for(sent, timeout=20, what="the campaign to be sent")
                statuses = {a: await _contact_status(api, ids[a]) for a in people}
                report = (await api.get(f"/v3/emailCampaigns/{campaign_id}/report")).json()
                bounced = await recorded_events(app, account, "email.bounced")
                errors = await _errors(app)
                await account.close()
    assert sorted(inbox.recipients()) == ["ann@b.io", "slow@b.io"]
    assert inbox.defer["slow@b.io"] == 0  # deferred once (451), then delivered
    assert statuses == {
        "ann@b.io": "active",
        "gone@b.io": "bounced",
        "policy@b.io": "active",
        "slow@b.io": "active",
    }
    # gone@ bounced (hard), policy@ failed: each counted once, with its reason.
    assert (report["sent"], report["delivered"], report["failed"]) == (2, 2, 1)
    assert (report["bounced"], report["hardBounces"], report["bounces"]) == (1, 1, 1)
    assert {(r["outcome"], r["count"]) for r in report["reasons"]} == {
        ("bounced", 1),
        ("failed", 1),
    }
    assert report["pausedReason"] is None
    assert [data["to"] for _, data in bounced] == ["gone@b.io"]
    assert errors["policy@b.io"][0] == "failed"
    assert "550 5.7.1 Message refused by policy" in str(errors["policy@b.io"][1])


@pytest.mark.parametrize(
    "reply", ["553 5.7.1 Sender not allowed", "530 5.7.0 Authentication required"]
)
async def test_a_relay_that_refuses_the_sender_pauses_the_campaign(
    tmp_path: Path, settings: Settings, reply: str
) -> None:
    inbox = RefusesSender(reply)
    async with fresh_database(tmp_path) as url:
        with smtp_server(inbox=inbox) as (_, port):
            async with running_app(settings, **_overrides(url, port)) as app:
                account = await _new_account(app)
                api = account.live
                people = ["ann@b.io", "bob@b.io", "cy@b.io"]
                campaign_id, ids = await _send_to(api, people)

                async def paused() -> bool:
                    r = await api.get(f"/v3/emailCampaigns/{campaign_id}")
                    return bool(r.json()["status"] == "paused")

                await wait_for(paused, timeout=20, what="the campaign to be paused")
                statuses = {a: await _contact_status(api, ids[a]) for a in people}
                report = (await api.get(f"/v3/emailCampaigns/{campaign_id}/report")).json()
                bounced = await recorded_events(app, account, "email.bounced")
                errors = await _errors(app)
                # A paused campaign can be canceled (resuming is not built yet).
                r = await api.post(f"/v3/emailCampaigns/{campaign_id}/cancel")
                assert r.status_code == 200, r.text
                await account.close()
    assert inbox.recipients() == []
    assert statuses == dict.fromkeys(people, "active")
    assert bounced == []
    assert (report["status"], report["sent"], report["failed"], report["bounces"]) == (
        "paused",
        0,
        0,
        0,
    )
    assert report["pausedReason"] == f"the relay refused the sender: {reply}"
    # Not sent, not failed: queued, to go once the relay takes the sender.
    assert {status for status, _ in errors.values()} == {"queued"}


async def test_a_relay_that_greets_with_a_5xx_refuses_the_sender() -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"554 5.3.2 No service for you\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connection = Connection(SmtpTarget.parse(f"smtp://127.0.0.1:{port}"), 2.0)
    try:
        with pytest.raises(SenderRefused, match=r"554 5\.3\.2"):
            await connection.send("news@shop.io", "ann@b.io", b"Subject: x\r\n\r\nx\r\n")
    finally:
        await connection.close()
        server.close()
        await server.wait_closed()


class RefusesUntilFixed(RefusesSender):
    """A relay that refuses the sender until its configuration is put right (`fixed`)."""

    fixed = False

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self.fixed:
            envelope.mail_from = address
            return "250 OK"
        return self.reply


async def test_a_paused_campaign_resumed_sends_each_email_once(
    tmp_path: Path, settings: Settings
) -> None:
    """Resumed (twice at once: one 200, one 409), the campaign sends what was left queued,
    each email once, and ends `sent`; a campaign that is not paused can't be resumed."""
    inbox = RefusesUntilFixed("553 5.7.1 Sender not allowed")
    async with fresh_database(tmp_path) as url:
        with smtp_server(inbox=inbox) as (_, port):
            async with running_app(settings, **_overrides(url, port)) as app:
                account = await _new_account(app)
                api = account.live
                people = [f"p{i}@b.io" for i in range(7)]
                campaign_id, _ = await _send_to(api, people)

                async def status_is(wanted: str) -> bool:
                    r = await api.get(f"/v3/emailCampaigns/{campaign_id}")
                    return bool(r.json()["status"] == wanted)

                await wait_for(lambda: status_is("paused"), timeout=20, what="a pause")
                inbox.fixed = True
                answers = await asyncio.gather(
                    api.post(f"/v3/emailCampaigns/{campaign_id}/resume"),
                    api.post(f"/v3/emailCampaigns/{campaign_id}/resume"),
                )
                assert sorted(a.status_code for a in answers) == [200, 409], [
                    a.text for a in answers
                ]
                resumed = next(a for a in answers if a.status_code == 200).json()
                assert resumed["status"] == "sending"
                await wait_for(lambda: status_is("sent"), timeout=20, what="the campaign sent")
                again = await api.post(f"/v3/emailCampaigns/{campaign_id}/resume")
                report = (await api.get(f"/v3/emailCampaigns/{campaign_id}/report")).json()
                await account.close()
    assert again.status_code == 409
    assert "only a paused one can be resumed" in again.json()["detail"]
    assert sorted(inbox.recipients()) == sorted(people)  # each once
    assert (report["sent"], report["delivered"], report["pausedReason"]) == (7, 7, None)
