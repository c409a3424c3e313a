"""Signup forms in Chromium: a person fills the hosted form at phone width (no key, no
cookie), reads the confirmation email, opens the link and confirms; the owner builds a
form in the console, copies its link and embed code, and sees its submissions, with
HTML typed by the person shown as text. Every page axe-clean and phone-wide."""

from __future__ import annotations

import html
import re
import time

from browser import Signed, api_client, axe, fits, made, open_page
from playwright.sync_api import Browser, expect

EVIL = "<script>alert(1)</script>"


def _confirmation_path(signed: Signed, address: str) -> str:
    with api_client(signed, "sandbox") as api:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            listed = api.get("/v3/sandbox/emails", params={"pageSize": "100"}).json()["data"]
            mine = [m for m in listed if m["to"] == address]
            if mine:
                whole = api.get(f"/v3/sandbox/emails/{mine[0]['id']}").json()
                found = re.search(r'href="[^"]*(/f/confirm/[^"]+)"', whole["html"])
                assert found, whole["html"]
                assert EVIL not in whole["html"]
                return html.unescape(found.group(1))
            time.sleep(0.1)
    raise AssertionError(f"no confirmation email to {address}")


def test_hosted_form_and_confirmation_in_a_browser(chromium: Browser, signed_in: Signed) -> None:
    with api_client(signed_in, "sandbox") as api:
        group = made(api, "/v3/contactGroups", {"name": "Newsletter"})
        form = made(
            api,
            "/v3/forms",
            {
                "name": "Join our newsletter",
                "fields": [{"key": "firstName", "required": True}, {"key": "lastName"}],
                "groupIds": [group["id"]],
            },
        )
    page, violations = open_page(chromium, signed_in.server, width=390)
    page.goto(f"/f/{form['publicId']}")
    expect(page.get_by_role("heading", name="Join our newsletter")).to_be_visible()
    axe(page)
    fits(page)
    # Submitted empty: the page again, with the errors next to the fields.
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text("Email is required")).to_be_visible()
    axe(page)
    page.get_by_label("Email").fill("reader@example.com")
    page.get_by_label("First name").fill(EVIL)
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text("Check your inbox")).to_be_visible()
    fits(page)
    assert not page.context.cookies()
    link = _confirmation_path(signed_in, "reader@example.com")
    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
    axe(page)
    fits(page)
    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading", name="Subscription confirmed")).to_be_visible()
    axe(page)
    with api_client(signed_in, "sandbox") as api:
        found = api.get("/v3/contacts", params={"email": "reader@example.com"}).json()["data"]
        assert found[0]["status"] == "active"
        assert found[0]["firstName"] == EVIL
    page.context.close()
    assert not violations, violations


def test_console_builds_a_form_and_shows_its_submissions(
    chromium: Browser, signed_in: Signed
) -> None:
    page = signed_in.page
    page.goto("/forms")
    expect(page.get_by_role("heading", name="Signup forms", level=1)).to_be_visible()
    axe(page)
    page.get_by_role("button", name="New form").click()
    page.get_by_label("Name", exact=True).fill(f"Deals {EVIL}")
    page.get_by_label("Last name").first.check()
    page.get_by_role("button", name="Create form").click()
    expect(page.get_by_text("created")).to_be_visible()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(f"Deals {EVIL}")
    hosted = page.get_by_label("Hosted page").input_value()
    assert "/f/" in hosted
    embed = page.get_by_label("Embed code (a plain HTML form: paste it into any page)")
    assert 'name="lastName"' in embed.input_value()
    axe(page)
    # A person submits it (the console runs live here; its mail is captured too).
    visitor, _ = open_page(chromium, signed_in.server, width=390)
    visitor.goto(hosted.replace(signed_in.server.base, ""))
    visitor.get_by_label("Email").fill("buyer@example.com")
    visitor.get_by_label("Last name").fill(EVIL)
    visitor.get_by_role("button", name="Subscribe").click()
    expect(visitor.get_by_text("Check your inbox")).to_be_visible()
    visitor.context.close()
    page.reload()
    table = page.get_by_test_id("submissions")
    expect(table).to_contain_text("buyer@example.com")
    expect(table).to_contain_text(EVIL)  # shown as text
    expect(page.get_by_test_id("stats")).to_contain_text("Submissions: 1")
    expect(page.locator("iframe.email-preview")).to_be_visible()
    axe(page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    fits(page)
    page.goto("/forms")
    expect(page.get_by_test_id("forms")).to_contain_text(f"Deals {EVIL}")
    fits(page)
