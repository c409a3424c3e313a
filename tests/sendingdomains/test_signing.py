"""DKIM signing of sent mail: a campaign from a verified sending domain reaches a real SMTP
server signed (checked with dkimpy against the published record); from a pending domain or
another domain, unsigned; captured sandbox mail's `raw` carries the signature too."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

import dkim
import httpx
import pytest
from conftest import _new_account, fresh_database, running_app
from dnsserver import Zone, dns_server
from helpers import created, give_postal_address, wait_for
from smtp import smtp_server

from activecommerce.config import Settings
from activecommerce.email.compose import compose, prepare_content
from activecommerce.email.dkim import SIGNED_HEADERS, load_key, new_key_pair, sign
from activecommerce.email.links import LinkSigner

HTML = "<html><body><p>Hello  {{ contact.firstName }}</p>\n\n<a href='https://x.test'>x</a>"


def dns_of(zone: Zone) -> Any:
    """dkimpy's DNS lookup, answered from the zone the test's DNS server serves."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        values = zone.records.get((name.decode().rstrip(".").lower(), "TXT"))
        return values[0].encode() if values else None

    return lookup


def signed_headers(raw: bytes) -> list[str]:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    signature = str(message["DKIM-Signature"])
    tags = dict(
        part.strip().split("=", 1) for part in "".join(signature.split()).split(";") if part
    )
    return tags["h"].split(":")


async def verified_domain(api: httpx.AsyncClient, zone: Zone, name: str) -> dict[str, Any]:
    domain = await created(api, "/v3/sendingDomains", {"domain": name})
    for record in domain["records"]:
        zone.set(record["name"], record["type"], record["value"])
    r = await api.post(f"/v3/sendingDomains/{domain['id']}/verify")
    assert r.json()["status"] == "verified", r.text
    return dict(r.json())


async def send_campaign(api: httpx.AsyncClient, from_email: str, to: list[str]) -> str:
    group = await created(api, "/v3/contactGroups", {"name": f"To {from_email}"})
    for address in to:
        contact = await created(api, "/v3/contacts", {"email": address, "firstName": "Zoë"})
        await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
    body = {
        "name": "Signed",
        "subject": "Hello {{ contact.firstName }}",
        "fromEmail": from_email,
        "fromName": "The Shop",
        "replyToEmail": "help@shop.io",
        "htmlContent": HTML,
    }
    await give_postal_address(api)
    campaign = await created(api, "/v3/emailCampaigns", body)
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send",
        json={"audience": {"groupIds": [group["id"]]}},
    )
    assert r.status_code == 202, r.text

    async def done() -> bool:
        got = await api.get(f"/v3/emailCampaigns/{campaign['id']}")
        return bool(got.json()["status"] == "sent")

    await wait_for(done, timeout=30, what="the campaign to be sent")
    return str(campaign["id"])


async def test_campaign_mail_is_signed_from_verified_domains_only(
    tmp_path: Path, settings: Settings
) -> None:
    with dns_server() as (zone, address), smtp_server() as (inbox, port):
        async with fresh_database(tmp_path) as url:
            overrides = {
                "database_url": url,
                "smtp_url": f"smtp://127.0.0.1:{port}",
                "dns_servers": address,
                "email_retry_seconds": 0.1,
            }
            async with running_app(settings, **overrides) as app:
                account = await _new_account(app)
                api = account.live
                try:
                    await verified_domain(api, zone, "signedshop.io")
                    # A pending domain (nothing published) and a domain with no entry.
                    await created(api, "/v3/sendingDomains", {"domain": "pendingshop.io"})
                    await send_campaign(api, "News@SignedShop.IO", ["a@example.com"])
                    await send_campaign(api, "news@pendingshop.io", ["b@example.com"])
                    await send_campaign(api, "news@othershop.io", ["c@example.com"])
                finally:
                    await account.close()
        by_rcpt = {rcpts[0]: raw for rcpts, raw in inbox.received}
    signed = by_rcpt["a@example.com"]
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert b"d=signedshop.io;" in signed
    assert dkim.verify(signed, dnsfunc=dns_of(zone))
    covered = signed_headers(signed)
    for name in ("from", "to", "subject", "date", "message-id", "list-unsubscribe"):
        assert name in covered
    for name in ("list-unsubscribe-post", "mime-version", "content-type", "reply-to"):
        assert name in covered
    assert "list-id" in covered
    assert "feedback-id" in covered
    # A changed body or a changed subject no longer verifies.
    assert not dkim.verify(signed.replace(b"Hello", b"Hallo"), dnsfunc=dns_of(zone))
    for unsigned in (by_rcpt["b@example.com"], by_rcpt["c@example.com"]):
        assert b"DKIM-Signature" not in unsigned


async def test_captured_sandbox_mail_carries_the_signature(settings: Settings) -> None:
    with dns_server() as (zone, address):
        overrides = {"dns_servers": address}
        async with running_app(settings, **overrides) as app:
            account = await _new_account(app)
            api = account.sandbox
            try:
                await verified_domain(api, zone, "capturedshop.io")
                campaign_id = await send_campaign(api, "hi@capturedshop.io", ["d@example.com"])
                listed = await api.get("/v3/sandbox/emails", params={"campaignId": campaign_id})
                item = listed.json()["data"][0]
                one = (await api.get(f"/v3/sandbox/emails/{item['id']}")).json()
            finally:
                await account.close()
    raw = one["raw"].encode()
    assert raw.startswith(b"DKIM-Signature:")
    assert b"d=capturedshop.io;" in raw
    assert dkim.verify(raw, dnsfunc=dns_of(zone))


# ---------------------------------------------------------------- the signer alone

KEY = load_key("shop.test", "s1", new_key_pair()[0])


def _record(key: Any) -> bytes:
    import base64

    from cryptography.hazmat.primitives import serialization

    public = key.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


@pytest.mark.parametrize(
    ("html", "text", "subject"),
    [
        (None, "plain text only", "Short"),
        ("<p>trailing   spaces   </p>\n\n\n", None, "Zoë " * 60),  # folded, encoded
        (None, "", "empty body"),
    ],
)
def test_signatures_verify_with_dkimpy(html: str | None, text: str | None, subject: str) -> None:
    row = {
        "id": 3,
        "subject": subject,
        "html_content": html,
        "plaintext_content": text,
        "from_email": "news@shop.test",
        "from_name": "Shop",
        "reply_to_email": None,
    }
    content = prepare_content(row, None, account_id=1, kind="campaign")
    raw = compose(
        content,
        message_id=1,
        env="live",
        to="ann@b.test",
        contact={},
        signer=LinkSigner(b"k" * 32, "https://mail.example.test"),
    ).raw
    signed = sign(raw, KEY)
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: _record(KEY))
    covered = signed_headers(signed)
    if html is None:  # one part: its MIME headers are the message's
        assert "content-transfer-encoding" in covered
    assert set(covered) <= {h.lower() for h in SIGNED_HEADERS}
