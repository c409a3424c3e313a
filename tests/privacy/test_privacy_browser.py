"""The unsubscribe page with preferences and the console's erasure, in Chromium: at phone
width, axe clean, nothing refused by the CSP, no JavaScript needed."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from browser import PHONE, Signed, api_client, axe, fits, made, open_page, sign_in
from playwright.sync_api import Browser, expect


def _put(api: httpx.Client, path: str) -> None:
    assert api.put(path).status_code == 204


def _captured(api: httpx.Client, to: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = api.get("/v3/sandbox/emails", params={"to": to}).json()["data"]
        if found:
            return dict(found[0])
        time.sleep(0.1)
    raise AssertionError(f"no email to {to}")


def test_the_unsubscribe_page_keeps_a_list_at_phone_width(
    chromium: Browser, signed_in: Signed
) -> None:
    address = f"pat-{uuid.uuid4().hex[:8]}@example.com"
    with api_client(signed_in, "sandbox") as api:
        news = made(api, "/v3/contactGroups", {"name": "Weekly news", "public": True})
        offers = made(api, "/v3/contactGroups", {"name": "Offers", "public": True})
        staff = made(api, "/v3/contactGroups", {"name": "Staff", "public": False})
        pat = made(api, "/v3/contacts", {"email": address, "firstName": "Pat"})
        for group in (news, offers, staff):
            _put(api, f"/v3/contacts/{pat['id']}/groups/{group['id']}")
        brand = made(api, "/v3/brands", {"name": "Acme Shop", "postalAddress": "1 Main St"})
        campaign = made(
            api,
            "/v3/emailCampaigns",
            {
                "name": "Launch",
                "subject": "Hi",
                "fromEmail": "news@shop.io",
                "brandId": brand["id"],
            },
        )
        sent = api.post(
            f"/v3/emailCampaigns/{campaign['id']}/send",
            json={"audience": {"groupIds": [news["id"]]}},
        )
        assert sent.status_code == 202, sent.text
        link = urlsplit(_captured(api, address)["headers"]["List-Unsubscribe"].strip("<>")).path

    page, violations = open_page(chromium, signed_in.server, width=PHONE)
    page.context.set_extra_http_headers({})
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Email preferences")
    expect(page.get_by_text("Acme Shop")).to_be_visible()
    expect(page.get_by_label("Weekly news")).to_be_checked()
    expect(page.get_by_label("Staff")).to_have_count(0)
    fits(page)
    axe(page)
    page.get_by_label("Offers").uncheck()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Preferences saved")
    fits(page)
    axe(page)
    assert not violations, violations
    page.context.close()
    with api_client(signed_in, "sandbox") as api:
        contact = api.get(f"/v3/contacts/{pat['id']}").json()
        assert contact["status"] == "active"
        groups = {g["id"] for g in api.get(f"/v3/contacts/{pat['id']}/groups").json()["data"]}
        assert groups == {news["id"], staff["id"]}


def test_the_console_erases_a_contact_after_a_confirmation(
    chromium: Browser, signed_in: Signed
) -> None:
    address = f"erin-{uuid.uuid4().hex[:8]}@example.com"
    with api_client(signed_in) as api:
        erin = made(api, "/v3/contacts", {"email": address, "firstName": "Erin"})
    page, violations = open_page(chromium, signed_in.server, width=PHONE)
    sign_in(page, signed_in.owner.email)
    page.goto(f"/contacts/{erin['id']}")
    fits(page)
    expect(page.get_by_role("button", name="Download personal data")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download personal data").click()
    assert address in download.value.path().read_text()
    page.get_by_role("button", name="Erase personal data").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(address)
    fits(page)
    axe(page)
    page.get_by_role("button", name=f"Erase {address}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")
    expect(page.get_by_role("status")).to_contain_text("Contact erased")
    assert not violations, violations
    page.context.close()
    with api_client(signed_in) as api:
        assert api.get(f"/v3/contacts/{erin['id']}").status_code == 404
