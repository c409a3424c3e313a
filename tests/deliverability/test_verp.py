"""Signed return paths (VERP): what they name, what a forgery gets (nothing), and that a
live message goes out with its return path as the envelope sender and a `mailto:` in
List-Unsubscribe once a bounce domain is set."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

import pytest
from conftest import _new_account, fresh_database, running_app
from helpers import created, give_postal_address, wait_for
from pydantic import ValidationError
from smtp import Inbox, smtp_server

from activecommerce.config import Settings
from activecommerce.deliverability import verp as verp_module
from activecommerce.deliverability.verp import Address, Verp

SECRET = b"s" * 32


def test_a_return_path_names_its_message_and_environment() -> None:
    verp = Verp(SECRET, "Bounces.Shop.io.")
    address = verp.return_path(1234567, "live")
    local, _, domain = address.partition("@")
    assert domain == "bounces.shop.io"
    assert local.startswith("b-1234567-l-")
    assert local.isascii()
    assert local == local.lower()
    assert len(local) < 40
    assert verp.parse(address) == Address("b", 1234567, "live")
    assert verp_module.parse(verp, address) == (1234567, "live")
    # Relays may change the case of a local part, or keep the angle brackets.
    assert verp.parse(address.upper()) == Address("b", 1234567, "live")
    assert verp.parse(f"<{address}>") == Address("b", 1234567, "live")
    sandbox = verp.return_path(7, "sandbox")
    assert verp.parse(sandbox) == Address("b", 7, "sandbox")
    unsubscribe = verp.unsubscribe_address(7, "sandbox")
    assert verp.parse(unsubscribe) == Address("u", 7, "sandbox")
    assert verp_module.parse(verp, unsubscribe) is None  # not a return path


def test_a_forged_return_path_names_nothing() -> None:
    verp = Verp(SECRET, "bounces.shop.io")
    address = verp.return_path(1234567, "live")
    local, _, domain = address.partition("@")
    _, number, env, sig = local.split("-")
    forgeries = [
        f"b-1234568-{env}-{sig}@{domain}",  # another message
        f"b-{number}-s-{sig}@{domain}",  # the other environment
        f"u-{number}-{env}-{sig}@{domain}",  # another purpose
        f"b-{number}-{env}-{sig[:-1]}{'a' if sig[-1] != 'a' else 'b'}@{domain}",
        f"b-{number}-{env}-{sig}@bounces.other.io",  # another domain
        f"b-{number}-{env}-{sig}x@{domain}",
        f"b-{number}-{env}@{domain}",
        f"b-{'9' * 25}-{env}-{sig}@{domain}",
        "postmaster@bounces.shop.io",
        "",
        "@",
    ]
    for forged in forgeries:
        assert verp.parse(forged) is None, forged
    # Another server's secret signs other addresses.
    assert Verp(b"t" * 32, "bounces.shop.io").parse(address) is None


class Envelopes(Inbox):
    """A relay that also keeps each message's envelope sender."""

    def __init__(self) -> None:
        super().__init__()
        self.senders: list[str] = []

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        self.senders.append(address)
        envelope.mail_from = address
        return "250 OK"


async def test_live_mail_goes_out_with_its_return_path(tmp_path: Path, settings: Settings) -> None:
    inbox = Envelopes()
    async with fresh_database(tmp_path) as url:
        with smtp_server(inbox=inbox) as (_, port):
            overrides = {
                "database_url": url,
                "smtp_url": f"smtp://127.0.0.1:{port}",
                "smtp_connections": 2,
                "public_url": "https://mail.shop.io",
                "bounce_domain": "bounces.shop.io",
            }
            async with running_app(settings, **overrides) as app:
                account = await _new_account(app)
                api = account.live
                group = await created(api, "/v3/contactGroups", {"name": "All"})
                contact = await created(api, "/v3/contacts", {"email": "ann@b.io"})
                r = await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
                assert r.status_code == 204
                await give_postal_address(api)
                body = {"name": "N", "subject": "Hi", "fromEmail": "news@shop.io"}
                campaign = await created(
                    api, "/v3/emailCampaigns", body | {"plaintextContent": "Hi"}
                )
                r = await api.post(
                    f"/v3/emailCampaigns/{campaign['id']}/send",
                    json={"audience": {"groupIds": [group["id"]]}},
                )
                assert r.status_code == 202, r.text
                await wait_for(lambda: inbox.count() == 1, timeout=20, what="the message")
                row = await app.state.services.db.fetchone(
                    "SELECT id FROM email_messages WHERE account_id = ?", (int(account.id),)
                )
                verp = app.state.services.email.verp
                await account.close()
    assert row is not None
    assert verp is not None
    message_id = int(row["id"])
    assert inbox.senders == [verp.return_path(message_id, "live")]
    sent = email.message_from_bytes(inbox.received[0][1], policy=email.policy.default)
    assert sent["From"] == "news@shop.io"  # the From the reader sees is unchanged
    assert "Return-Path" not in sent  # the receiving MTA adds it
    unsubscribe = " ".join(str(sent["List-Unsubscribe"]).split())
    mailto = f"mailto:{verp.unsubscribe_address(message_id, 'live')}?subject=unsubscribe"
    assert unsubscribe.startswith(f"<{mailto}>, <https://mail.shop.io/e/u/{message_id}/")
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_bounce_domain_setting() -> None:
    assert Settings(bounce_domain=" Bounces.Shop.io. ").bounce_domain == "bounces.shop.io"
    assert Settings(bounce_domain="").bounce_domain is None
    for bad in ("localhost", "bounces shop.io", "-x.shop.io", "b@shop.io"):
        with pytest.raises(ValidationError):
            Settings(bounce_domain=bad)
