"""Live marketing email needs a postal address, its brand's or the account's default:
sending or scheduling a live campaign, activating a live automation (or changing its
brand while active) without one is a 422 that says so; the sandbox is exempt. The footer
shows the brand's address, else the account's. The console's preview carries the
headers the sender adds (List-Id, Feedback-ID, Precedence) and the same footer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import EMAIL, created, give_postal_address, problem, wait_for

from activecommerce.email.preview import preview
from activecommerce.email.service import NO_POSTAL_ADDRESS
from activecommerce.kit.principal import Principal

HTML = {"htmlContent": "<p>Hi {{ contact.firstName }}</p>"}


async def _audience(api: httpx.AsyncClient, email: str = "ann@example.com") -> dict[str, Any]:
    group = await created(api, "/v3/contactGroups", {"name": "Readers"})
    contact = await created(api, "/v3/contacts", {"email": email, "firstName": "Ann"})
    await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
    return {"audience": {"groupIds": [group["id"]]}}


async def test_a_live_campaign_without_an_address_is_refused(account: Account) -> None:
    api = account.live
    body = await _audience(api)
    campaign = await created(api, "/v3/emailCampaigns", {**EMAIL, **HTML})
    path = f"/v3/emailCampaigns/{campaign['id']}/send"
    refused = problem(await api.post(path, json=body), 422)
    assert refused["detail"] == NO_POSTAL_ADDRESS
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    problem(await api.post(path, json={**body, "scheduledAt": later}), 422)
    assert (await api.get(f"/v3/emailCampaigns/{campaign['id']}")).json()["status"] == "draft"
    # A brand whose address is blank is no address either.
    blank = await created(api, "/v3/brands", {"name": "Blank", "postalAddress": " "})
    await api.patch(f"/v3/emailCampaigns/{campaign['id']}", json={"brandId": blank["id"]})
    problem(await api.post(path, json=body), 422)
    # The brand's address is enough.
    brand = await created(api, "/v3/brands", {"name": "Shop", "postalAddress": "1 Main St"})
    await api.patch(f"/v3/emailCampaigns/{campaign['id']}", json={"brandId": brand["id"]})
    assert (await api.post(path, json=body)).status_code == 202
    # So is the account's default.
    other = await created(api, "/v3/emailCampaigns", {**EMAIL, **HTML})
    other_path = f"/v3/emailCampaigns/{other['id']}/send"
    problem(await api.post(other_path, json=body), 422)
    await give_postal_address(api)
    assert (await api.post(other_path, json=body)).status_code == 202


async def test_the_sandbox_is_exempt(account: Account) -> None:
    api = account.sandbox
    body = await _audience(api)
    campaign = await created(api, "/v3/emailCampaigns", {**EMAIL, **HTML})
    r = await api.post(f"/v3/emailCampaigns/{campaign['id']}/send", json=body)
    assert r.status_code == 202, r.text
    tag = await created(api, "/v3/contactTags", {"name": "t"})
    trigger = {"type": "tag_added", "tagId": tag["id"]}
    await created(api, "/v3/emailAutomations", {**EMAIL, "trigger": trigger})


async def test_activating_a_live_automation_needs_an_address(account: Account) -> None:
    api = account.live
    tag = await created(api, "/v3/contactTags", {"name": "t"})
    body = {**EMAIL, "trigger": {"type": "tag_added", "tagId": tag["id"]}}
    refused = problem(await api.post("/v3/emailAutomations", json=body), 422)
    assert refused["detail"] == NO_POSTAL_ADDRESS
    paused = await created(api, "/v3/emailAutomations", {**body, "status": "paused"})
    path = f"/v3/emailAutomations/{paused['id']}"
    problem(await api.patch(path, json={"status": "active"}), 422)
    assert (await api.patch(path, json={"name": "Renamed"})).status_code == 200  # still paused
    brand = await created(api, "/v3/brands", {"name": "Shop", "postalAddress": "1 Main St"})
    r = await api.patch(path, json={"status": "active", "brandId": brand["id"]})
    assert r.status_code == 200, r.text
    # Active: moving it to a brand without an address is refused too.
    bare = await created(api, "/v3/brands", {"name": "Bare"})
    problem(await api.patch(path, json={"brandId": bare["id"]}), 422)
    await give_postal_address(api)
    assert (await api.patch(path, json={"brandId": bare["id"]})).status_code == 200


async def _captured_html(api: httpx.AsyncClient, campaign_id: str) -> str:
    mail: list[dict[str, Any]] = []

    async def arrived() -> bool:
        r = await api.get("/v3/sandbox/emails", params={"campaignId": campaign_id})
        mail[:] = r.json()["data"]
        return len(mail) == 1

    await wait_for(arrived, what="the captured email")
    return f"{mail[0]['html']}\n{mail[0]['text']}"


async def test_the_footer_shows_the_brands_address_else_the_accounts(account: Account) -> None:
    api = account.sandbox
    await give_postal_address(api, "9 Default Road")
    body = await _audience(api)
    plain = await created(api, "/v3/emailCampaigns", {**EMAIL, **HTML})
    await api.post(f"/v3/emailCampaigns/{plain['id']}/send", json=body)
    shown = await _captured_html(api, plain["id"])
    assert shown.count("9 Default Road") == 2  # the HTML part and the text part

    brand = await created(api, "/v3/brands", {"name": "Shop", "postalAddress": "1 Brand St"})
    branded = await created(api, "/v3/emailCampaigns", {**EMAIL, **HTML, "brandId": brand["id"]})
    await api.post(f"/v3/emailCampaigns/{branded['id']}/send", json=body)
    shown = await _captured_html(api, branded["id"])
    assert "1 Brand St" in shown
    assert "9 Default Road" not in shown


async def test_the_preview_has_the_senders_headers_and_footer(
    app: FastAPI, account: Account
) -> None:
    api = account.live
    await give_postal_address(api, "9 Default Road")
    brand = await created(api, "/v3/brands", {"name": "Shop"})
    principal = Principal.acting_for(int(account.id), "live")
    services = app.state.services
    content = {**EMAIL, **HTML, "brandId": brand["id"]}
    shown = await preview(
        services.db, principal, services.email.links(), content, None, source_id=12
    )
    assert shown.composed is not None, shown.errors
    headers = shown.composed.headers
    assert headers["List-Id"].startswith('"Shop" <b' + brand["id"] + "." + account.id + ".")
    assert headers["Feedback-ID"] == f"c12:{account.id}:activecommerce"
    assert headers["Precedence"] == "bulk"
    assert "9 Default Road" in shown.composed.text
    # A new campaign (not saved yet): no Feedback-ID, the rest the same.
    new = await preview(services.db, principal, services.email.links(), content, None)
    assert new.composed is not None
    assert "Feedback-ID" not in new.composed.headers
    assert new.composed.headers["List-Id"] == headers["List-Id"]
