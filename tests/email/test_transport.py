"""The SMTP settings and the sorting of failures; the rate cap; captured mail retention."""

from __future__ import annotations

import time
from pathlib import Path

import aiosmtplib
import pytest
from conftest import _new_account, fresh_database, running_app
from helpers import created, give_postal_address, wait_for
from smtp import smtp_server

from activecommerce.accounts.service import create_account
from activecommerce.config import Settings
from activecommerce.email.sender import prune_captured
from activecommerce.email.transport import (
    PermanentFailure,
    SmtpTarget,
    TemporaryFailure,
    classify,
)
from activecommerce.kit.clock import after
from activecommerce.kit.db import connect


def test_smtp_urls() -> None:
    relay = SmtpTarget.parse("smtp://us%40er:p%3Ass@relay.example.com:587?starttls=true")
    assert (relay.host, relay.port, relay.use_tls, relay.start_tls) == (
        "relay.example.com",
        587,
        False,
        True,
    )
    assert (relay.username, relay.password) == ("us@er", "p:ss")
    tls = SmtpTarget.parse("smtps://relay.example.com")
    assert (tls.port, tls.use_tls, tls.start_tls) == (465, True, None)
    plain = SmtpTarget.parse("smtp://127.0.0.1:2525?starttls=false")
    assert (plain.port, plain.start_tls, plain.username) == (2525, False, None)
    with pytest.raises(ValueError, match="smtp://"):
        SmtpTarget.parse("http://relay.example.com")


def test_failures_are_sorted_by_who_failed() -> None:
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@x.io")]
    )
    bounce = classify(refused)
    assert isinstance(bounce, PermanentFailure)
    assert bounce.bounce
    later = classify(
        aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(452, "full", "a@x.io")])
    )
    assert isinstance(later, TemporaryFailure)
    assert not later.relay  # the mailbox's answer: counts against the recipient
    throttled = classify(aiosmtplib.SMTPResponseException(421, "slow down"))
    assert isinstance(throttled, TemporaryFailure)
    assert throttled.relay
    content = classify(aiosmtplib.SMTPDataError(554, "rejected"))
    assert isinstance(content, PermanentFailure)
    assert not content.bounce  # the message was refused, not the address
    down = classify(aiosmtplib.SMTPConnectError("refused"))
    assert isinstance(down, TemporaryFailure)
    assert down.relay


async def test_the_rate_cap_spaces_messages_out(tmp_path: Path, settings: Settings) -> None:
    """10 messages at 4 per second cannot all go within the first 2 seconds."""
    async with fresh_database(tmp_path) as url:
        with smtp_server() as (inbox, port):
            overrides = {
                "database_url": url,
                "smtp_url": f"smtp://127.0.0.1:{port}",
                "smtp_rate": 4.0,
            }
            async with running_app(settings, **overrides) as app:
                account = await _new_account(app)
                api = account.live
                group = await created(api, "/v3/contactGroups", {"name": "All"})
                for i in range(10):
                    contact = await created(api, "/v3/contacts", {"email": f"c{i}@x.io"})
                    await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
                body = {"name": "N", "subject": "S", "fromEmail": "n@shop.io"}
                campaign = await created(api, "/v3/emailCampaigns", body)
                await give_postal_address(api)
                started = time.monotonic()
                r = await api.post(
                    f"/v3/emailCampaigns/{campaign['id']}/send",
                    json={"audience": {"groupIds": [group["id"]]}},
                )
                assert r.status_code == 202
                await wait_for(lambda: inbox.count() == 10, timeout=20, what="10 messages")
                assert time.monotonic() - started >= 2.0
                await account.close()


async def test_captured_mail_is_pruned_after_its_retention(tmp_path: Path) -> None:
    async with fresh_database(tmp_path) as url:  # no worker here prunes before the test
        db = await connect(url)
        try:
            info = await create_account(db, b"k" * 32, name="Pruned", plan="free")
            async with db.transaction() as conn:
                for age_days in (10, 8, 1):
                    await conn.execute(
                        "INSERT INTO captured_emails (account_id, env, to_email, from_header,"
                        " subject, headers, created_at)"
                        " VALUES (?, 'sandbox', 'a@x.io', 'n@shop.io', 'S', '{}', ?)",
                        (int(info["accountId"]), after(-age_days * 86400)),
                    )
            assert await prune_captured(db, 7) == 2
            rows = await db.fetchall("SELECT created_at FROM captured_emails")
            assert len(rows) == 1
            assert rows[0]["created_at"] > after(-7 * 86400)
        finally:
            await db.close()
