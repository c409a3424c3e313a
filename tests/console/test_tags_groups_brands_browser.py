"""Tags, groups and brands, and the contacts list's "select all matching", in Chromium:
at phone width (no horizontal scroll), axe clean with and without a form's errors."""

from __future__ import annotations

import re

import httpx
from browser import PHONE, Signed, api_client, axe, fits, made, open_page, sign_in
from playwright.sync_api import Browser, expect


def _put(api: httpx.Client, path: str) -> None:
    assert api.put(path).status_code == 204


def test_tags_groups_and_brands_at_phone_width(chromium: Browser, signed_in: Signed) -> None:
    with api_client(signed_in) as api:
        people = [
            made(api, "/v3/contacts", {"email": f"person{i}@example.com"})["id"] for i in range(3)
        ]
        staff = made(api, "/v3/contactGroups", {"name": "staff"})
        _put(api, f"/v3/contacts/{people[0]}/groups/{staff['id']}")
    page, violations = open_page(chromium, signed_in.server, width=PHONE)
    sign_in(page, signed_in.owner.email)

    page.goto("/contacts")
    page.get_by_role("button", name="Tags", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tags")
    expect(page.get_by_text("No tags yet.")).to_be_visible()
    fits(page)
    axe(page)
    page.get_by_label("Name", exact=True).fill(
        "a-rather-long-tag-name-that-must-not-widen-the-page"
    )
    page.get_by_role("button", name="Create tag").click()
    expect(page.get_by_role("status")).to_contain_text("created")
    page.get_by_label("Name", exact=True).fill("vip")
    page.get_by_role("button", name="Create tag").click()
    expect(page.get_by_role("status")).to_contain_text("“vip” created")
    page.get_by_label("Name", exact=True).fill("vip")
    page.get_by_role("button", name="Create tag").click()
    expect(page.locator("#f-name-help")).to_contain_text("is taken by another tag")
    axe(page)  # with the form's error shown
    fits(page)

    with api_client(signed_in) as api:
        (vip,) = [t for t in api.get("/v3/contactTags").json()["data"] if t["name"] == "vip"]
        for contact_id in people[:2]:
            _put(api, f"/v3/contacts/{contact_id}/tags/{vip['id']}")
    page.goto("/contacts/tags")
    count = page.get_by_test_id(f"count-{vip['id']}")
    expect(count).to_have_text(re.compile(r"^2"))
    fits(page)
    count.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")
    expect(page.get_by_test_id("total")).to_have_text("2 contacts")
    expect(page.get_by_label("Tag", exact=True)).to_have_value(vip["id"])

    page.goto("/contacts/tags")
    page.get_by_role("link", name="vip", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tag vip")
    fits(page)
    axe(page)
    page.get_by_label("Name", exact=True).fill("VIP customers")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("“VIP customers” saved")
    page.get_by_role("link", name="Delete tag VIP customers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete the tag VIP customers?")
    expect(page.get_by_text("2 contacts lose this tag")).to_be_visible()
    fits(page)
    axe(page)
    page.get_by_role("button", name="Delete tag").click()
    expect(page.get_by_role("status")).to_contain_text("Tag deleted")
    expect(page.get_by_role("link", name="VIP customers")).to_have_count(0)

    page.get_by_role("link", name="Groups", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Groups")
    expect(page.get_by_test_id(f"count-{staff['id']}")).to_have_text(re.compile(r"^1"))
    fits(page)
    axe(page)

    page.goto("/campaigns")
    page.get_by_role("link", name="Brands").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Brands")
    fits(page)
    axe(page)
    page.get_by_label("Name", exact=True).fill("Shop")
    page.get_by_label("From email").fill("not-an-email")
    page.get_by_role("button", name="Create brand").click()
    expect(page.locator("#f-from_email-help")).to_be_visible()
    axe(page)
    fits(page)
    page.get_by_label("From email").fill("news@a-very-long-domain-name-for-a-shop.example")
    page.get_by_label("From name").fill("The Shop")
    page.get_by_label("Postal address").fill("1 Main Street\nSpringfield")
    page.get_by_role("button", name="Create brand").click()
    expect(page.get_by_role("status")).to_contain_text("“Shop” created")
    fits(page)
    page.get_by_role("link", name="Shop", exact=True).click()
    expect(page.get_by_label("Postal address")).to_have_value("1 Main Street\nSpringfield")
    fits(page)
    axe(page)
    page.get_by_label("Name", exact=True).fill("Shop & Co")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("“Shop & Co” saved")
    with api_client(signed_in) as api:
        (brand,) = api.get("/v3/brands").json()["data"]
        assert brand["name"] == "Shop & Co"
        # As the browser sent it (a textarea's lines end with CRLF in a form).
        assert brand["postalAddress"].splitlines() == ["1 Main Street", "Springfield"]
    page.get_by_role("link", name="Delete brand Shop & Co").click()
    axe(page)
    page.get_by_role("button", name="Delete brand").click()
    expect(page.get_by_role("status")).to_contain_text("Brand deleted")
    expect(page.get_by_text("No brands yet.")).to_be_visible()
    page.context.close()
    assert not violations, violations


def test_select_all_matching_tags_and_deletes_every_match(
    chromium: Browser, signed_in: Signed
) -> None:
    with api_client(signed_in) as api:
        fans = made(api, "/v3/contactGroups", {"name": "fans"})
        fan_ids = []
        for i in range(30):  # more than a page of 25
            fan_ids.append(made(api, "/v3/contacts", {"email": f"fan{i}@example.com"})["id"])
            _put(api, f"/v3/contacts/{fan_ids[-1]}/groups/{fans['id']}")
        other = made(api, "/v3/contacts", {"email": "other@example.com"})
    page, violations = open_page(chromium, signed_in.server, width=PHONE)
    sign_in(page, signed_in.owner.email)
    page.goto("/contacts")
    page.get_by_label("Group", exact=True).select_option(label="fans")
    expect(page.get_by_test_id("total")).to_have_text("30 contacts")
    fits(page)
    axe(page)
    page.get_by_label("All 30 contacts matching these filters").check()
    page.get_by_label("Or a new tag").fill("every fan")
    page.get_by_role("button", name="Tag selected", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("30 contacts tagged")
    with api_client(signed_in) as api:
        (tag,) = [t for t in api.get("/v3/contactTags").json()["data"] if t["name"] == "every fan"]
        listed = api.get("/v3/contacts", params={"tagId": tag["id"], "pageSize": 100}).json()
        assert {c["id"] for c in listed["data"]} == set(fan_ids)
        assert api.get(f"/v3/contacts/{other['id']}/tags").json()["data"] == []

    page.get_by_label("All 30 contacts matching these filters").check()
    page.get_by_role("button", name="Delete selected…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete 30 contacts?")
    fits(page)
    axe(page)
    page.get_by_label("Type 30 to confirm").fill("29")
    page.get_by_role("button", name="Delete contacts").click()
    expect(page.locator("#f-confirm-help")).to_contain_text("type 30")
    axe(page)
    page.get_by_label("Type 30 to confirm").fill("30")
    page.get_by_role("button", name="Delete contacts").click()
    expect(page.get_by_role("status")).to_contain_text("30 contacts deleted")
    expect(page.get_by_test_id("total")).to_have_text("0 contacts")
    with api_client(signed_in) as api:
        assert api.get(f"/v3/contacts/{other['id']}").status_code == 200
        assert api.get(f"/v3/contacts/{fan_ids[0]}").status_code == 404
    # A large selection's progress page (here, one that is no longer running).
    page.goto("/contacts/bulk/999999999")
    expect(page.get_by_test_id("bulk-status")).to_have_text("Finished")
    fits(page)
    axe(page)
    page.context.close()
    assert not violations, violations
