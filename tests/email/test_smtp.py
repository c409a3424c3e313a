"""Live email through a real SMTP server (aiosmtpd on loopback): what arrives, parsed
with the standard library; refused recipients bounce, deferred ones are retried, a relay
that is down holds the campaign in `sending` until it is back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from conftest import Account, _new_account, fresh_database, running_app
from helpers import created, recorded_events, wait_for
from servers import free_port
from smtp import Inbox, smtp_server, tls_auth_server

from activecommerce.config import Settings

CAMPAIGN = {
    "name": "Launch",
    "subject": "Hi {{ contact.firstName }}",
    "fromEmail": "news@shop.io",
    "fromName": "Shop",
    "replyToEmail": "help@shop.io",
    "htmlContent": '<p>Hello {{ contact.firstName }}</p><a href="https://shop.io/x">Shop</a>',
    "plaintextContent": "Hello {{ contact.firstName }}, see https://shop.io/x",
}


async def _campaign_to(api: httpx.AsyncClient, people: list[str]) -> dict[str, Any]:
    brand = await created(api, "/v3/brands", {"name": "Shop", "postalAddress": "2 Side St"})
    group = await created(api, "/v3/contactGroups", {"name": "All"})
    contacts = {}
    for address in people:
        first = address.split("@")[0].title()
        contacts[address] = await created(
            api, "/v3/contacts", {"email": address, "firstName": first}
        )
        r = await api.put(f"/v3/contacts/{contacts[address]['id']}/groups/{group['id']}")
        assert r.status_code == 204
    campaign = await created(api, "/v3/emailCampaigns", {**CAMPAIGN, "brandId": brand["id"]})
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send", json={"audience": {"groupIds": [group["id"]]}}
    )
    assert r.status_code == 202, r.text
    return {"campaign": campaign, "contacts": contacts}


async def _status(api: httpx.AsyncClient, campaign: dict[str, Any]) -> str:
    return str((await api.get(f"/v3/emailCampaigns/{campaign['id']}")).json()["status"])


def _smtp_settings(settings: Settings, url: str, port: int) -> dict[str, Any]:
    return {
        "database_url": url,
        "smtp_url": f"smtp://127.0.0.1:{port}",
        "smtp_connections": 2,
        "smtp_timeout_seconds": 2.0,
        "email_retry_seconds": 0.1,
        "public_url": "https://mail.shop.io",
    }


async def test_live_mail_goes_through_smtp_bounces_and_retries(
    tmp_path: Path, settings: Settings
) -> None:
    inbox = Inbox(
        refuse={"nobody@example.com": "550 5.1.1 No such user"},
        defer={"slow@example.com": 2},
    )
    async with fresh_database(tmp_path) as url:
        with smtp_server(inbox=inbox) as (_, port):
            async with running_app(settings, **_smtp_settings(settings, url, port)) as app:
                account = await _new_account(app)
                api = account.live
                people = ["ann@example.com", "nobody@example.com", "slow@example.com"]
                sent = await _campaign_to(api, people)
                campaign = sent["campaign"]

                async def done() -> bool:
                    return await _status(api, campaign) == "sent"

                await wait_for(done, timeout=20, what="the campaign to be sent")
                report = (await api.get(f"/v3/emailCampaigns/{campaign['id']}/report")).json()
                nobody = sent["contacts"]["nobody@example.com"]
                contact = (await api.get(f"/v3/contacts/{nobody['id']}")).json()
                bounced = await recorded_events(app, account, "email.bounced")
                await _check_messages(inbox)
                await account.close()
    assert sorted(inbox.recipients()) == ["ann@example.com", "slow@example.com"]
    assert inbox.defer["slow@example.com"] == 0  # refused twice, then delivered once
    # nobody@ bounced (hard): a bounce, not a failure; the other two delivered.
    assert (report["recipients"], report["sent"], report["delivered"]) == (3, 2, 2)
    assert (report["failed"], report["bounced"], report["hardBounces"]) == (0, 1, 1)
    assert report["bounces"] == 1
    assert [(r["outcome"], r["count"]) for r in report["reasons"]] == [("bounced", 1)]
    assert contact["status"] == "bounced"
    assert [data["to"] for _, data in bounced] == ["nobody@example.com"]


async def _check_messages(inbox: Inbox) -> None:
    by_to = {str(m["To"]): m for m in inbox.messages()}
    message = by_to["ann@example.com"]
    assert message["From"] == "Shop <news@shop.io>"
    assert message["Reply-To"] == "help@shop.io"
    assert message["Subject"] == "Hi Ann"
    assert message["List-Unsubscribe"].startswith("<https://mail.shop.io/e/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"].endswith("@mail.shop.io>")
    assert message["Date"].datetime.tzinfo is not None
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    text_body, html_body = text.get_content(), html.get_content()
    assert text_body.startswith("Hello Ann, see https://shop.io/x")
    assert "2 Side St" in text_body
    assert "Unsubscribe: https://mail.shop.io/e/u/" in text_body
    assert "<p>Hello Ann</p>" in html_body
    assert "https://mail.shop.io/e/c/" in html_body
    assert "https://mail.shop.io/e/o/" in html_body
    assert "2 Side St" in html_body
    ids = {str(m["Message-ID"]) for m in inbox.messages()}
    assert len(ids) == len(inbox.messages())  # one per recipient


async def test_a_relay_that_is_down_holds_the_campaign_until_it_is_back(
    tmp_path: Path, settings: Settings
) -> None:
    port = free_port()
    async with (
        fresh_database(tmp_path) as url,
        running_app(settings, **_smtp_settings(settings, url, port)) as app,
    ):
        account: Account = await _new_account(app)
        api = account.live
        sent = await _campaign_to(api, ["a@example.com", "b@example.com"])
        campaign = sent["campaign"]
        db = app.state.services.db

        async def tried_twice() -> bool:
            row = await db.fetchone("SELECT min(attempts) AS n FROM jobs WHERE kind = 'email.send'")
            return row is not None and (row["n"] or 0) >= 2

        await wait_for(tried_twice, timeout=20, what="two failed attempts")
        assert await _status(api, campaign) == "sending"
        queued = await db.fetchall(
            "SELECT status, attempts FROM email_messages WHERE campaign_id = ?",
            (int(campaign["id"]),),
        )
        # Queued still; a relay that is down does not count against the recipients.
        assert [(r["status"], r["attempts"]) for r in queued] == [("queued", 0)] * 2
        with smtp_server(port=port) as (inbox, _):

            async def done() -> bool:
                return await _status(api, campaign) == "sent"

            await wait_for(done, timeout=30, what="the campaign to be sent")
            assert sorted(inbox.recipients()) == ["a@example.com", "b@example.com"]
        await account.close()


async def test_starttls_and_auth(tmp_path: Path, settings: Settings) -> None:
    """A relay that requires STARTTLS and then a login (its certificate is self-signed:
    `verify=false`)."""
    with tls_auth_server(tmp_path, "mailer", "p@ss:word") as (inbox, port, logins):
        smtp_url = f"smtp://mailer:p%40ss%3Aword@127.0.0.1:{port}?starttls=true&verify=false"
        async with fresh_database(tmp_path) as url:
            overrides = {**_smtp_settings(settings, url, port), "smtp_url": smtp_url}
            async with running_app(settings, **overrides) as app:
                account = await _new_account(app)
                sent = await _campaign_to(account.live, ["tls@example.com"])

                async def done() -> bool:
                    return await _status(account.live, sent["campaign"]) == "sent"

                await wait_for(done, timeout=20, what="the campaign to be sent")
                await account.close()
    assert inbox.recipients() == ["tls@example.com"]
    assert logins == ["mailer"]
