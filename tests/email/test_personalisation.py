"""Personalisation of contacts without some fields: a missing value takes the template's
`default(...)`, alone it prints nothing; the same in a send, a test copy and the preview."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import created, wait_for

from activecommerce.email.compose import compose, prepare_content
from activecommerce.email.preview import preview
from activecommerce.kit.principal import Principal

SUBJECT = "Hi {{ contact.firstName | default('there') }}!"
TEXT = "Dear [{{ contact.firstName }}] [{{ contact.lastName|d('reader') }}] {{ contact.email }}"
CAMPAIGN = {
    "name": "Spring",
    "subject": SUBJECT,
    "fromEmail": "news@shop.io",
    "plaintextContent": TEXT,
}


def test_a_missing_value_takes_the_default_and_alone_prints_nothing(app: FastAPI) -> None:
    row = {
        "subject": SUBJECT,
        "html_content": None,
        "plaintext_content": TEXT,
        "from_email": "news@shop.io",
        "from_name": None,
        "reply_to_email": None,
    }
    content = prepare_content(row, None)
    signer = app.state.services.email.links()

    def rendered(contact: dict[str, Any]) -> tuple[str, str]:
        message = compose(
            content, message_id=1, env="sandbox", to="a@b.io", contact=contact, signer=signer
        )
        return message.subject, message.text.split("\n")[0]

    ann = {"email": "ann@b.io", "firstName": "Ann", "lastName": "Lee", "phone": ""}
    assert rendered(ann) == ("Hi Ann!", "Dear [Ann] [Lee] ann@b.io")
    for missing in ("", None, "  "):
        nameless = {"email": "x@b.io", "firstName": missing, "lastName": missing, "phone": None}
        assert rendered(nameless) == ("Hi there!", "Dear [] [reader] x@b.io")


async def _mail(api: httpx.AsyncClient, campaign: dict[str, Any], count: int) -> dict[str, str]:
    found: list[dict[str, Any]] = []

    async def arrived() -> bool:
        r = await api.get("/v3/sandbox/emails", params={"campaignId": campaign["id"]})
        found[:] = r.json()["data"]
        return len(found) == count

    await wait_for(arrived, what=f"{count} emails")
    return {m["to"]: m["subject"] for m in found}


async def test_sends_test_copies_and_the_preview_take_the_default(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    group = await created(api, "/v3/contactGroups", {"name": "Spring"})
    for body in ({"email": "ann@example.com", "firstName": "Ann"}, {"email": "nob@example.com"}):
        contact = await created(api, "/v3/contacts", body)
        await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")

    # Test copies: for the matching contact, or with empty fields.
    campaign = await created(api, "/v3/emailCampaigns", CAMPAIGN)
    emails = ["ann@example.com", "nob@example.com", "qa@x.io"]
    r = await api.post(f"/v3/emailCampaigns/{campaign['id']}/test", json={"emails": emails})
    assert r.status_code == 202, r.text
    assert await _mail(api, campaign, 3) == {
        "ann@example.com": "[Test] Hi Ann!",
        "nob@example.com": "[Test] Hi there!",
        "qa@x.io": "[Test] Hi there!",
    }

    # The send itself.
    sent = await created(api, "/v3/emailCampaigns", {**CAMPAIGN, "name": "Sent"})
    r = await api.post(
        f"/v3/emailCampaigns/{sent['id']}/send", json={"audience": {"groupIds": [group["id"]]}}
    )
    assert r.status_code == 202, r.text
    assert await _mail(api, sent, 2) == {
        "ann@example.com": "Hi Ann!",
        "nob@example.com": "Hi there!",
    }

    # The console's preview, for either contact.
    me = Principal(int(account.id), "sandbox", "plus", key_id=0)
    signer = app.state.services.email.links()
    content = {"subject": SUBJECT, "plaintextContent": TEXT, "fromEmail": "news@shop.io"}
    db = app.state.services.db
    for email, subject, text in (
        ("ann@example.com", "Hi Ann!", "Dear [Ann] [reader] ann@example.com"),
        ("nob@example.com", "Hi there!", "Dear [] [reader] nob@example.com"),
    ):
        shown = await preview(db, me, signer, content, email)
        assert shown.composed is not None, shown.errors
        assert shown.contact_found
        assert (shown.composed.subject, shown.composed.text.split("\n")[0]) == (subject, text)


FIELDS_SUBJECT = "From {{ contact.fields.city | default('somewhere') }}"
FIELDS_TEXT = (
    "[{{ contact.fields.city }}] [{{ contact.fields.topics }}] [{{ contact.fields.nokey }}]"
    "{% if contact.fields.vip %} VIP{% endif %}"
)


async def test_custom_fields_in_sends_test_copies_and_the_preview(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    await created(api, "/v3/contactFields", {"name": "City", "key": "city", "type": "text"})
    await created(api, "/v3/contactFields", {"name": "VIP", "key": "vip", "type": "boolean"})
    await created(
        api,
        "/v3/contactFields",
        {"name": "Topics", "key": "topics", "type": "multiselect", "options": ["a", "b"]},
    )
    group = await created(api, "/v3/contactGroups", {"name": "Fields"})
    for body in (
        {"email": "ann@example.com", "fields": {"city": "Oslo", "topics": ["b", "a"], "vip": True}},
        {"email": "nob@example.com"},
    ):
        contact = await created(api, "/v3/contacts", body)
        await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
    campaign_body = {**CAMPAIGN, "subject": FIELDS_SUBJECT, "plaintextContent": FIELDS_TEXT}

    sent = await created(api, "/v3/emailCampaigns", campaign_body)
    r = await api.post(
        f"/v3/emailCampaigns/{sent['id']}/send", json={"audience": {"groupIds": [group["id"]]}}
    )
    assert r.status_code == 202, r.text
    assert await _mail(api, sent, 2) == {
        "ann@example.com": "From Oslo",
        "nob@example.com": "From somewhere",
    }
    mail = (await api.get("/v3/sandbox/emails", params={"to": "ann@example.com"})).json()
    assert mail["data"][0]["text"].split("\n")[0] == "[Oslo] [a, b] [] VIP"

    test = await created(api, "/v3/emailCampaigns", {**campaign_body, "name": "Test"})
    r = await api.post(
        f"/v3/emailCampaigns/{test['id']}/test", json={"emails": ["ann@example.com", "qa@x.io"]}
    )
    assert r.status_code == 202, r.text
    assert await _mail(api, test, 2) == {
        "ann@example.com": "[Test] From Oslo",
        "qa@x.io": "[Test] From somewhere",
    }

    # An automation's email, for a contact made after it.
    automation = await created(
        api,
        "/v3/emailAutomations",
        {**campaign_body, "name": "Welcome", "trigger": {"type": "contact_created"}},
    )
    await created(api, "/v3/contacts", {"email": "eve@example.com", "fields": {"city": "Rome"}})

    async def welcomed() -> bool:
        r = await api.get("/v3/sandbox/emails", params={"automationId": automation["id"]})
        return [m["subject"] for m in r.json()["data"]] == ["From Rome"]

    await wait_for(welcomed, what="the automation's email")

    me = Principal(int(account.id), "sandbox", "plus", key_id=0)
    signer = app.state.services.email.links()
    content = {"subject": FIELDS_SUBJECT, "plaintextContent": FIELDS_TEXT, "fromEmail": "n@s.io"}
    db = app.state.services.db
    for email, subject, text in (
        ("ann@example.com", "From Oslo", "[Oslo] [a, b] [] VIP"),
        ("nob@example.com", "From somewhere", "[] [] []"),
        ("qa@x.io", "From somewhere", "[] [] []"),
    ):
        shown = await preview(db, me, signer, content, email)
        assert shown.composed is not None, shown.errors
        assert (shown.composed.subject, shown.composed.text.split("\n")[0]) == (subject, text)
