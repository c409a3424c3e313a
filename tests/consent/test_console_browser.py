"""The Suppressions page and a contact's consent history in Chromium, at phone width:
search and filter, add and remove a manual entry, a 409 shown on the contact's status."""

from __future__ import annotations

from browser import PHONE, Signed, api_client, axe, fits, made
from playwright.sync_api import expect


def test_suppressions_page_and_the_contacts_consent_history(signed_in: Signed) -> None:
    page = signed_in.page
    page.set_viewport_size({"width": PHONE, "height": 844})
    with api_client(signed_in) as api:
        ann = made(api, "/v3/contacts", {"email": "ann@example.com"})
        made(api, "/v3/contacts", {"email": "bob@example.com"})
        r = api.patch(f"/v3/contacts/{ann['id']}", json={"status": "unsubscribed"})
        assert r.status_code == 200

    page.goto("/suppressions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Suppressions")
    expect(page.get_by_role("row", name="ann@example.com")).to_contain_text("unsubscribed")
    fits(page)
    axe(page)
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_role("button", name="Add to the list").click()
    expect(page.get_by_role("row", name="bob@example.com")).to_contain_text("manual")
    # Search by address (any case), and filter by reason.
    page.get_by_role("searchbox", name="Address").fill("BOB@example.com")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("row", name="ann@example.com")).to_have_count(0)
    page.get_by_role("searchbox", name="Address").fill("")
    page.get_by_label("Reason").select_option("unsubscribed")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("row", name="bob@example.com")).to_have_count(0)
    expect(page.get_by_role("row", name="ann@example.com")).to_be_visible()
    fits(page)

    # The contact's page: its consent history; its status cannot go back to active.
    page.goto(f"/contacts/{ann['id']}")
    consents = page.get_by_test_id("consents")
    expect(consents).to_contain_text("withdrawn")
    expect(consents).to_contain_text("granted")
    fits(page)
    axe(page)
    page.goto(f"/contacts/{ann['id']}/edit")
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#f-status-help")).to_contain_text("only the person can subscribe again")
    fits(page)
    axe(page)

    # Remove bob's manual entry.
    page.goto("/suppressions?reason=manual")
    page.get_by_role("button", name="Remove bob@example.com").click()
    expect(page.get_by_role("row", name="bob@example.com")).to_have_count(0)
