"""Webhooks and API keys in Chromium (SPEC §11): a webhook's secret shown once, its
delivery log filled by a real receiver, a retry of a failed delivery; a key shown once,
used, revoked; members kept out; accessibility."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from browser import Server, Signed, axe, open_page, sign_in, status_of
from playwright.sync_api import Browser, Page, expect
from receiver import Received, Receiver, Reply


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Answers the first delivery 503 with a Retry-After of an hour (so no automatic
    retry comes during the test), the others 200."""

    def reply(_got: Received, n: int) -> Reply:
        return (503, {"Retry-After": "3600"}, 0.0) if n == 1 else (200, {}, 0.0)

    hook = Receiver(reply=reply)
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


def _reload_until(page: Page, check: Callable[[], bool], seconds: float = 20) -> None:
    """The delivery log is a plain page: reload it until `check` holds."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the delivery log did not change in time"
        time.sleep(0.3)  # a poll with a deadline: the worker delivers in the background
        page.reload()


def test_a_webhook_shows_its_secret_once_logs_deliveries_and_retries(
    signed_in: Signed, receiver: Receiver, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    # The sandbox may send to loopback addresses (the receiver on 127.0.0.1).
    page.get_by_role("button", name="Switch to sandbox").click()
    expect(page.get_by_test_id("env-badge")).to_have_text("Sandbox")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    axe(page)
    page.get_by_label("URL").fill("not a url")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Events").select_option(["contact.created"])
    page.get_by_label("Description").fill("CRM sync")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.get_by_role("status")).to_contain_text("Copy its signing secret now")
    secret = page.get_by_test_id("secret")
    expect(secret).to_contain_text("whsec_")
    expect(page.get_by_text("Copy it now: it is shown only this once.")).to_be_visible()
    axe(page)
    page.reload()
    expect(page.get_by_test_id("secret")).to_have_count(0)  # once only
    expect(page.get_by_text("No deliveries yet.")).to_be_visible()

    key = signed_in.owner.account["sandboxApiKey"]
    created = httpx.post(
        f"{signed_in.server.base}/v3/contacts",
        json={"email": "grace@example.com"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert created.status_code == 201
    rows = page.get_by_test_id("delivery")
    _reload_until(page, lambda: rows.count() == 1)
    expect(rows.first).to_contain_text("contact.created")
    expect(rows.first).to_contain_text("failed")
    expect(rows.first).to_contain_text("503")
    screenshot(page, "webhooks")

    page.get_by_role("button", name="Retry contact.created").click()
    expect(page.get_by_role("status")).to_contain_text("queued to be sent again")
    _reload_until(page, lambda: rows.count() == 2)
    expect(rows.first).to_contain_text("delivered")
    expect(rows.first).to_contain_text("200")
    assert len(receiver.received) == 2
    assert receiver.received[1].headers["webhook-id"] == receiver.received[0].headers["webhook-id"]
    axe(page)

    page.get_by_role("button", name="Turn off").click()
    expect(page.get_by_test_id("state")).to_have_text("Off (turned off)")
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_test_id("state")).to_have_text("On")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete webhook").click()
    expect(page.get_by_role("status")).to_contain_text("Webhook deleted.")
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()


def test_an_api_key_is_shown_once_works_and_is_revoked(
    signed_in: Signed, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    page.get_by_role("button", name="Create a live key").click()
    shown = page.get_by_test_id("new-key")
    expect(shown).to_contain_text("ac_live_")
    key = shown.inner_text().strip()
    axe(page)
    screenshot(page, "keys")
    with httpx.Client(
        base_url=signed_in.server.base, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as api:
        assert api.get("/v3/contacts").status_code == 200
        page.reload()
        expect(page.get_by_test_id("new-key")).to_have_count(0)  # once only
        row = page.get_by_test_id(f"key-{key[:14]}")
        expect(row).not_to_contain_text("never")  # it was just used
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Revoke").click()
        expect(page.get_by_role("status")).to_contain_text("revoked")
        expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
        assert api.get("/v3/contacts").status_code == 401


def test_members_cannot_manage_webhooks_or_keys(chromium: Browser, console_server: Server) -> None:
    owner = console_server.new_account()
    member = console_server.add_user(owner.account_id, role="member")
    page, violations = open_page(chromium, console_server)
    sign_in(page, member)
    for path in ("/webhooks", "/keys"):
        assert status_of(page, path) == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("Owners only")
    axe(page)
    page.context.close()
    assert not violations, violations
