"""Tracking flags of campaigns and automations (SPEC §14): `trackOpens` and `trackClicks`,
on by default; off, no open pixel / no click redirect. The pixel is an ordinary image,
and captured mail has the raw message on its single GET."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import httpx
from helpers import EMAIL, created, wait_for

from activecommerce.email.links import LinkSigner, track, without_open_pixel

HTML = '<html><body><p>Hi</p><a href="https://shop.io/sale">Sale</a></body></html>'


async def _sent(api: httpx.AsyncClient, name: str, **flags: bool) -> dict[str, Any]:
    """A campaign with `flags` sent to one contact: its captured message (list item)."""
    group = await created(api, "/v3/contactGroups", {"name": f"Readers {name}"})
    contact = await created(api, "/v3/contacts", {"email": f"{name}@example.com"})
    await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
    body = {**EMAIL, "subject": f"News for {name}", "htmlContent": HTML, **flags}
    campaign = await created(api, "/v3/emailCampaigns", body)
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send", json={"audience": {"groupIds": [group["id"]]}}
    )
    assert r.status_code == 202, r.text
    mail: list[dict[str, Any]] = []

    async def arrived() -> bool:
        r = await api.get("/v3/sandbox/emails", params={"campaignId": campaign["id"]})
        mail[:] = r.json()["data"]
        return len(mail) == 1

    await wait_for(arrived, what=f"{name}'s email")
    return mail[0]


async def test_flags_default_true_and_round_trip(api: httpx.AsyncClient) -> None:
    campaign = await created(api, "/v3/emailCampaigns", EMAIL)
    assert (campaign["trackOpens"], campaign["trackClicks"]) == (True, True)
    r = await api.patch(f"/v3/emailCampaigns/{campaign['id']}", json={"trackOpens": False})
    assert r.status_code == 200, r.text
    got = (await api.get(f"/v3/emailCampaigns/{campaign['id']}")).json()
    assert (got["trackOpens"], got["trackClicks"]) == (False, True)
    # A patch of another field leaves them as they are.
    r = await api.patch(f"/v3/emailCampaigns/{campaign['id']}", json={"name": "Renamed"})
    assert (r.json()["trackOpens"], r.json()["trackClicks"]) == (False, True)

    tag = await created(api, "/v3/contactTags", {"name": "vip"})
    trigger = {"type": "tag_added", "tagId": tag["id"]}
    automation = await created(api, "/v3/emailAutomations", {**EMAIL, "trigger": trigger})
    assert (automation["trackOpens"], automation["trackClicks"]) == (True, True)
    body = {**EMAIL, "trigger": trigger, "trackOpens": True, "trackClicks": False}
    automation = await created(api, "/v3/emailAutomations", body)
    got = (await api.get(f"/v3/emailAutomations/{automation['id']}")).json()
    assert (got["trackOpens"], got["trackClicks"]) == (True, False)


async def test_tracked_by_default_with_a_visible_pixel(api: httpx.AsyncClient) -> None:
    html = (await _sent(api, "ann"))["html"]
    assert "/e/o/" in html
    assert "/e/c/" in html
    assert "display:none" not in html.replace(" ", "")
    assert 'width="1" height="1"' in html


async def test_without_open_tracking_no_pixel(api: httpx.AsyncClient) -> None:
    html = (await _sent(api, "bob", trackOpens=False))["html"]
    assert "/e/o/" not in html
    assert "<img" not in html
    assert "/e/c/" in html  # clicks still tracked


async def test_without_click_tracking_links_are_direct(api: httpx.AsyncClient) -> None:
    html = (await _sent(api, "cid", trackClicks=False))["html"]
    assert "/e/c/" not in html
    assert 'href="https://shop.io/sale"' in html
    assert "/e/o/" in html  # opens still tracked


async def test_raw_on_get_by_id_parses_with_the_same_subject(api: httpx.AsyncClient) -> None:
    item = await _sent(api, "dee")
    assert "raw" not in item  # lists stay small
    r = await api.get(f"/v3/sandbox/emails/{item['id']}")
    assert r.status_code == 200, r.text
    one = r.json()
    raw = one["raw"]
    assert isinstance(raw, str)
    message = email.message_from_string(raw, policy=email.policy.default)
    assert message["Subject"] == one["subject"] == "News for dee"
    assert message["To"] == "dee@example.com"
    assert message.is_multipart()
    part = message.get_body(("html",))
    assert part is not None
    assert "/e/o/" in part.get_content()


def test_the_inbox_strips_the_pixel_old_and_new() -> None:
    signer = LinkSigner(b"secret", "https://ac.test")
    body = track('<html><body><a href="https://a.io/">a</a></body></html>', signer, 5)
    assert 'alt="">' in body
    hidden = body.replace('alt="">', 'alt="" style="display:none">')  # before SPEC §14
    for shown in (body, hidden):
        stripped = without_open_pixel(shown, signer)
        assert "/e/o/" not in stripped
        assert "/e/c/" in stripped
    plain = '<body><a href="https://a.io/">a</a></body>'
    assert track(plain, signer, 5, opens=False, clicks=False) == plain
