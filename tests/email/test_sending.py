"""Campaigns and automations that send (SPEC §5), through HTTP, on the capture transport
(the sandbox): who receives what, once; the message itself; tracking and unsubscribe."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import Account
from fastapi import FastAPI
from helpers import EMAIL, created, field_errors, problem, recorded_events, wait_for

CAMPAIGN = {
    **EMAIL,
    "subject": "Hello {{ contact.firstName }}",
    "fromName": "Shop",
    "replyToEmail": "help@shop.io",
    "htmlContent": (
        "<html><body><p>Hi {{ contact.firstName }},</p>"
        '<a href="https://shop.io/sale?a=1&amp;b=%C3%A9#top">Sale</a></body></html>'
    ),
}


async def _emails(api: httpx.AsyncClient, **query: str) -> list[dict[str, Any]]:
    r = await api.get("/v3/sandbox/emails", params={"pageSize": "100", **query})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def _status(api: httpx.AsyncClient, campaign: dict[str, Any]) -> str:
    r = await api.get(f"/v3/emailCampaigns/{campaign['id']}")
    return str(r.json()["status"])


async def _audience(api: httpx.AsyncClient) -> dict[str, Any]:
    """A group and a tag; ann in both, bob in the group, cid (unsubscribed) in the tag,
    dan in neither."""
    group = await created(api, "/v3/contactGroups", {"name": "Customers"})
    tag = await created(api, "/v3/contactTags", {"name": "VIP"})
    people = {}
    for name, status in (
        ("ann", "active"),
        ("bob", "active"),
        ("cid", "unsubscribed"),
        ("dan", "active"),
    ):
        people[name] = await created(
            api,
            "/v3/contacts",
            {"email": f"{name}@example.com", "firstName": name.title(), "status": status},
        )
    for name in ("ann", "bob"):
        r = await api.put(f"/v3/contacts/{people[name]['id']}/groups/{group['id']}")
        assert r.status_code == 204
    for name in ("ann", "cid"):
        r = await api.put(f"/v3/contacts/{people[name]['id']}/tags/{tag['id']}")
        assert r.status_code == 204
    return {"group": group, "tag": tag, **people}


async def _sent_campaign(
    api: httpx.AsyncClient, setup: dict[str, Any], **body: Any
) -> dict[str, Any]:
    brand = await created(
        api, "/v3/brands", {"name": "Shop", "postalAddress": "1 Main St, Springfield"}
    )
    campaign = await created(api, "/v3/emailCampaigns", {**CAMPAIGN, "brandId": brand["id"]})
    audience = {"groupIds": [setup["group"]["id"]], "tagIds": [setup["tag"]["id"]]}
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send", json={"audience": audience, **body}
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


async def test_a_campaign_reaches_each_active_member_once_and_is_sent(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    setup = await _audience(api)
    campaign = await _sent_campaign(api, setup)
    assert campaign["status"] == "sending"

    async def done() -> bool:
        return await _status(api, campaign) == "sent"

    await wait_for(done, what="the campaign to be sent")
    mail = await _emails(api, campaignId=campaign["id"])
    assert sorted(m["to"] for m in mail) == ["ann@example.com", "bob@example.com"]
    report = (await api.get(f"/v3/emailCampaigns/{campaign['id']}/report")).json()
    assert report["recipients"] == 2
    assert report["sent"] == 2
    assert report["failed"] == 0
    sent = await recorded_events(app, account, "email.sent", "emailCampaign.sent")
    assert [t for t, _ in sent] == ["email.sent", "email.sent", "emailCampaign.sent"]
    assert sent[-1][1]["sentAt"] is not None
    # Sent once: a second send is refused, and so is an edit.
    again = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send",
        json={"audience": {"groupIds": [setup["group"]["id"]]}},
    )
    problem(again, 409)
    problem(await api.patch(f"/v3/emailCampaigns/{campaign['id']}", json={"name": "x"}), 409)


async def test_the_message_is_whole_personal_and_escaped(api: httpx.AsyncClient) -> None:
    setup = await _audience(api)
    r = await api.patch(
        f"/v3/contacts/{setup['ann']['id']}", json={"firstName": "<script>x</script>"}
    )
    assert r.status_code == 200
    await _sent_campaign(api, setup)

    async def arrived() -> bool:
        return len(await _emails(api, to="ANN@example.com")) == 1

    await wait_for(arrived, what="ann's email")
    listed = (await _emails(api, to="ann@example.com"))[0]
    whole = (await api.get(f"/v3/sandbox/emails/{listed['id']}")).json()
    headers = whole["headers"]
    assert whole["subject"] == "Hello <script>x</script>"  # a subject is text
    assert headers["From"] == "Shop <news@shop.io>"
    assert headers["Reply-To"] == "help@shop.io"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = headers["List-Unsubscribe"].strip("<>")
    assert urlsplit(unsubscribe).path.startswith("/e/u/")
    assert headers["Message-ID"].startswith("<")
    assert headers["Message-ID"].endswith(">")
    assert email.utils.parsedate_to_datetime(headers["Date"]).tzinfo is not None
    # HTML escapes the contact's fields; the text part is derived from it.
    assert "&lt;script&gt;x&lt;/script&gt;" in whole["html"]
    assert "<script>" not in whole["html"]
    assert "1 Main St, Springfield" in whole["html"]
    assert "1 Main St, Springfield" in whole["text"]
    assert "Hi <script>x</script>," in whole["text"]
    assert unsubscribe in whole["text"]
    # The link goes through the redirect, the unsubscribe link does not.
    assert "https://shop.io/sale" not in whole["html"]
    assert "/e/c/" in whole["html"]


def _link(html: str, kind: str) -> str:
    start = html.index(f"/e/{kind}/")
    end = min(i for i in (html.find('"', start), html.find("'", start)) if i != -1)
    return html[start:end].replace("&amp;", "&")


async def test_tracking_links_count_and_redirect_only_to_the_original(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    setup = await _audience(api)
    campaign = await _sent_campaign(api, setup)

    async def arrived() -> bool:
        return len(await _emails(api, to="bob@example.com")) == 1

    await wait_for(arrived, what="bob's email")
    html = (await _emails(api, to="bob@example.com"))[0]["html"]
    links = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    async with links:
        click = _link(html, "c")
        r = await links.get(click)
        assert r.status_code == 302
        assert r.headers["location"] == "https://shop.io/sale?a=1&b=%C3%A9#top"
        # Altered target, forged signature, another message: 404, never a redirect.
        path, _, query = click.partition("?")
        for forged in (
            f"{path}?u=https%3A%2F%2Fevil.example%2F",
            f"{path[:-3]}AAA?{query}",
            path.replace(path.split("/")[3], str(int(path.split("/")[3]) + 1), 1) + "?" + query,
        ):
            bad = await links.get(forged)
            assert bad.status_code == 404, forged
            assert "location" not in bad.headers
        pixel = await links.get(_link(html, "o"))
        assert pixel.status_code == 200
        assert pixel.headers["content-type"] == "image/gif"
    report = (await api.get(f"/v3/emailCampaigns/{campaign['id']}/report")).json()
    assert (report["opens"], report["uniqueOpens"], report["clicks"], report["uniqueClicks"]) == (
        1,
        1,
        1,
        1,
    )
    types = [t for t, _ in await recorded_events(app, account, "email.opened", "email.clicked")]
    assert types == ["email.clicked", "email.opened"]


async def test_unsubscribe_asks_first_and_one_click_works(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    setup = await _audience(api)
    campaign = await _sent_campaign(api, setup)

    async def arrived() -> bool:
        return len(await _emails(api, campaignId=campaign["id"])) == 2

    await wait_for(arrived, what="both emails")
    mail = {m["to"]: m for m in await _emails(api, campaignId=campaign["id"])}
    links = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    async with links:
        ann_link = urlsplit(mail["ann@example.com"]["headers"]["List-Unsubscribe"].strip("<>")).path
        page = await links.get(ann_link)  # what a mail scanner does
        assert page.status_code == 200
        assert 'method="post"' in page.text
        assert (await api.get(f"/v3/contacts/{setup['ann']['id']}")).json()["status"] == "active"
        confirmed = await links.post(ann_link)
        assert confirmed.status_code == 200
        assert (await api.get(f"/v3/contacts/{setup['ann']['id']}")).json()[
            "status"
        ] == "unsubscribed"
        # RFC 8058 one-click: a POST with that body and no CSRF token.
        bob_link = urlsplit(mail["bob@example.com"]["headers"]["List-Unsubscribe"].strip("<>")).path
        one_click = await links.post(
            bob_link,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert one_click.status_code == 200
        assert (await links.post(bob_link[:-2] + "xx")).status_code == 404
    assert (await api.get(f"/v3/contacts/{setup['bob']['id']}")).json()["status"] == "unsubscribed"
    unsubscribed = await recorded_events(app, account, "contact.unsubscribed")
    assert sorted(d["email"] for _, d in unsubscribed) == ["ann@example.com", "bob@example.com"]
    report = (await api.get(f"/v3/emailCampaigns/{campaign['id']}/report")).json()
    assert report["unsubscribes"] == 2


async def test_scheduled_cancel_and_test_copies(api: httpx.AsyncClient) -> None:
    setup = await _audience(api)
    later = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    campaign = await _sent_campaign(api, setup, scheduledAt=later)
    assert campaign["status"] == "scheduled"
    assert campaign["scheduledAt"] is not None
    canceled = await api.post(f"/v3/emailCampaigns/{campaign['id']}/cancel")
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    problem(await api.post(f"/v3/emailCampaigns/{campaign['id']}/cancel"), 409)

    soon = (datetime.now(UTC) + timedelta(seconds=0.5)).isoformat()
    other = await _sent_campaign(api, setup, scheduledAt=soon)
    assert other["status"] == "scheduled"

    async def sent() -> bool:
        return await _status(api, other) == "sent"

    await wait_for(sent, what="the scheduled campaign to be sent")
    assert await _status(api, campaign) == "canceled"
    assert await _emails(api, campaignId=campaign["id"]) == []

    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/test", json={"emails": ["ann@example.com", "qa@x.io"]}
    )
    assert r.status_code == 202, r.text

    async def copies() -> bool:
        return len(await _emails(api, campaignId=campaign["id"])) == 2

    await wait_for(copies, what="the test copies")
    tests = {m["to"]: m for m in await _emails(api, campaignId=campaign["id"])}
    assert tests["ann@example.com"]["subject"] == "[Test] Hello Ann"
    assert tests["qa@x.io"]["subject"] == "[Test] Hello"
    report = (await api.get(f"/v3/emailCampaigns/{campaign['id']}/report")).json()
    assert report["recipients"] == 0


async def test_bad_sends_are_refused(api: httpx.AsyncClient, other: Account) -> None:
    setup = await _audience(api)
    campaign = await created(api, "/v3/emailCampaigns", CAMPAIGN)
    path = f"/v3/emailCampaigns/{campaign['id']}/send"
    assert field_errors(await api.post(path, json={"audience": {}})) == {"audience"}
    foreign = await created(other.sandbox, "/v3/contactGroups", {"name": "Theirs"})
    r = await api.post(path, json={"audience": {"groupIds": [foreign["id"]]}})
    assert field_errors(r) == {"audience.groupIds.0"}
    r = await api.post(
        path,
        json={"audience": {"tagIds": [setup["tag"]["id"]]}, "scheduledAt": "2030-01-01T10:00:00"},
    )
    assert "scheduledAt" in field_errors(r)
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/test",
        json={"emails": [f"a{i}@x.io" for i in range(11)]},
    )
    assert field_errors(r) == {"emails"}
    problem(await other.sandbox.post(path, json={"audience": {"tagIds": ["1"]}}), 404)
    assert await _status(api, campaign) == "draft"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
        "{{ 'x' * 1000000000 }}",
    ],
)
async def test_templates_cannot_reach_internals_or_run_away(
    api: httpx.AsyncClient, template: str
) -> None:
    r = await api.post("/v3/emailCampaigns", json={**CAMPAIGN, "htmlContent": template})
    assert field_errors(r) == {"htmlContent"}


async def test_captured_mail_is_the_sandboxs_own(account: Account, other: Account) -> None:
    problem(await account.live.get("/v3/sandbox/emails"), 403)
    problem(await account.live.get("/v3/sandbox/emails/1"), 403)
    setup = await _audience(account.sandbox)
    campaign = await _sent_campaign(account.sandbox, setup)

    async def arrived() -> bool:
        return len(await _emails(account.sandbox, campaignId=campaign["id"])) == 2

    await wait_for(arrived, what="the emails")
    mine = await _emails(account.sandbox, campaignId=campaign["id"])
    problem(await other.sandbox.get(f"/v3/sandbox/emails/{mine[0]['id']}"), 404)
    assert await _emails(other.sandbox, campaignId=campaign["id"]) == []


async def test_automations_send_once_later_and_wait_while_paused(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    tag = await created(api, "/v3/contactTags", {"name": "Trial"})
    automation = await created(
        api,
        "/v3/emailAutomations",
        {
            **CAMPAIGN,
            "name": "Welcome",
            "trigger": {"type": "tag_added", "tagId": tag["id"]},
            "delaySeconds": 1,
        },
    )
    eve = await created(api, "/v3/contacts", {"email": "eve@example.com", "firstName": "Eve"})
    assert (await api.put(f"/v3/contacts/{eve['id']}/tags/{tag['id']}")).status_code == 204
    # Tagged again: still one email.
    assert (await api.delete(f"/v3/contacts/{eve['id']}/tags/{tag['id']}")).status_code == 204
    assert (await api.put(f"/v3/contacts/{eve['id']}/tags/{tag['id']}")).status_code == 204
    assert await _emails(api, automationId=automation["id"]) == []  # later, not now

    async def one() -> bool:
        return len(await _emails(api, automationId=automation["id"])) == 1

    await wait_for(one, what="the automation's email")
    assert (await _emails(api, automationId=automation["id"]))[0]["subject"] == "Hello Eve"

    # Paused: due emails wait, and go out on resume.
    r = await api.patch(
        f"/v3/emailAutomations/{automation['id']}", json={"status": "paused", "delaySeconds": 0}
    )
    assert r.status_code == 200
    fay = await created(api, "/v3/contacts", {"email": "fay@example.com"})
    assert (
        await api.put(f"/v3/contacts/{fay['id']}/tags/{tag['id']}")
    ).status_code == 204  # paused: no one enrolled
    r = await api.patch(f"/v3/emailAutomations/{automation['id']}", json={"status": "active"})
    assert r.status_code == 200
    gus = await created(api, "/v3/contacts", {"email": "gus@example.com"})
    r = await api.patch(f"/v3/emailAutomations/{automation['id']}", json={"delaySeconds": 1})
    assert (await api.put(f"/v3/contacts/{gus['id']}/tags/{tag['id']}")).status_code == 204
    r = await api.patch(f"/v3/emailAutomations/{automation['id']}", json={"status": "paused"})

    async def held() -> bool:
        row = await app.state.services.db.fetchone(
            "SELECT status FROM email_messages WHERE contact_id = ?", (int(gus["id"]),)
        )
        return row is not None and row["status"] == "held"

    await wait_for(held, what="gus's email to be held")
    assert len(await _emails(api, automationId=automation["id"])) == 1
    r = await api.patch(f"/v3/emailAutomations/{automation['id']}", json={"status": "active"})

    async def two() -> bool:
        return len(await _emails(api, automationId=automation["id"])) == 2

    await wait_for(two, what="gus's email after the resume")
    report = (await api.get(f"/v3/emailAutomations/{automation['id']}/report")).json()
    assert (report["enrolled"], report["sent"]) == (2, 2)
    assert sorted(m["to"] for m in await _emails(api, automationId=automation["id"])) == [
        "eve@example.com",
        "gus@example.com",
    ]


async def test_contact_created_trigger_skips_contacts_no_longer_active(
    api: httpx.AsyncClient,
) -> None:
    automation = await created(
        api,
        "/v3/emailAutomations",
        {**CAMPAIGN, "trigger": {"type": "contact_created"}, "delaySeconds": 1},
    )
    kept = await created(api, "/v3/contacts", {"email": "kept@example.com"})
    gone = await created(api, "/v3/contacts", {"email": "gone@example.com"})
    r = await api.patch(f"/v3/contacts/{gone['id']}", json={"status": "unsubscribed"})
    assert r.status_code == 200

    async def decided() -> bool:
        report = (await api.get(f"/v3/emailAutomations/{automation['id']}/report")).json()
        return bool(report["enrolled"] == 2 and report["sent"] == 1)

    await wait_for(decided, what="both enrolments to be decided")
    assert [m["to"] for m in await _emails(api, automationId=automation["id"])] == [kept["email"]]
