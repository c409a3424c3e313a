"""Custom fields in a real browser at phone width: a dropdown field made on the fields
page (its errors shown first), set on a contact through its form, seen on the contact's
page; axe clean and no sideways scrolling on each page."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from browser import PHONE, Signed, api_client, axe, fits, made
from playwright.sync_api import Page, expect


def _fits(page: Page) -> None:
    axe(page)
    fits(page)


def test_a_dropdown_field_set_on_a_contact_through_its_form_at_phone_width(
    signed_in: Signed, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    page.set_viewport_size({"width": PHONE, "height": 844})
    with api_client(signed_in) as api:
        contact = made(api, "/v3/contacts", {"email": "ada@example.com"})
        made(api, "/v3/contactFields", {"name": "City", "key": "city", "type": "text"})

    page.goto("/contacts")
    page.get_by_role("button", name="Fields").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Custom fields")
    _fits(page)

    page.get_by_label("Name", exact=True).fill("Plan")
    page.get_by_label("Key").fill("city")  # taken
    page.get_by_label("Type").select_option("dropdown")
    page.get_by_label("Options").fill("Free\nGold\nPro")
    page.get_by_role("button", name="Create field").click()
    expect(page.locator("#f-key-help")).to_contain_text("taken")
    _fits(page)
    page.get_by_label("Key").fill("plan")
    page.get_by_role("button", name="Create field").click()
    expect(page.get_by_role("status")).to_contain_text("Field “Plan” created")
    row = page.get_by_role("row", name=re.compile("Plan"))
    expect(row).to_contain_text("dropdown")
    expect(row).to_contain_text("Free, Gold, Pro")
    _fits(page)
    screenshot(page, "contact-fields")
    row.get_by_role("link", name="Plan", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Field Plan")
    expect(page.get_by_label("Options")).to_have_value("Free\nGold\nPro")
    _fits(page)
    page.get_by_role("link", name="Delete this field").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete the field Plan?")
    _fits(page)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Field Plan")

    page.goto(f"/contacts/{contact['id']}/edit")
    expect(page.get_by_role("group", name="Custom fields")).to_be_visible()
    page.get_by_label("Plan").select_option("Gold")
    page.get_by_label("City").fill("Oslo")
    _fits(page)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Contact saved")
    expect(page.get_by_test_id("field-plan")).to_have_text("Gold")
    expect(page.get_by_test_id("field-city")).to_have_text("Oslo")
    _fits(page)

    # Back to no plan: the empty choice clears it (the city stays).
    page.get_by_role("button", name="Edit", exact=True).click()
    expect(page.get_by_label("Plan")).to_have_value("Gold")
    page.get_by_label("Plan").select_option("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Contact saved")
    expect(page.get_by_test_id("field-plan")).to_have_count(0)
    with api_client(signed_in) as api:
        assert api.get(f"/v3/contacts/{contact['id']}").json()["fields"] == {"city": "Oslo"}
