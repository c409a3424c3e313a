"""Campaigns, automations and the Sandbox inbox in a real browser (SPEC §5, §11): the
editor's live preview for a chosen contact, a test copy read back in the Sandbox inbox
(its HTML in a sandboxed frame where a script cannot run), the audience's recipient
count, sending and the report with its chart, scheduling and canceling, automations
paused and resumed, and the inbox missing from live."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from browser import Server, Signed, axe, fits, open_page, sign_in, status_of
from helpers import wait_until
from playwright.sync_api import Browser, Dialog, Page, expect

SCRIPTED = (
    '<p id="greeting">Hi {{ contact.firstName }}</p><p id="canary">safe</p>'
    '<p><a href="https://example.com/offer">The offer</a></p>'
    "<script>document.getElementById('canary').textContent = 'ran';</script>"
)


def api(signed: Signed, key: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """The API with the account's `key` ("sandboxApiKey" or "liveApiKey"): a POST with
    `body`, else a GET; its JSON."""
    headers = {"Api-Token": signed.owner.account[key]}
    url = f"{signed.server.base}/v3{path}"
    if body is None:
        answer = httpx.get(url, headers=headers)
    else:
        answer = httpx.post(url, json=body, headers=headers)
    assert answer.status_code < 300, answer.text
    return answer.json() if answer.content else None


def give_postal_address(signed: Signed) -> None:
    """The account's default postal address: live marketing email needs one."""
    headers = {"Api-Token": signed.owner.account["liveApiKey"]}
    body = {"postalAddress": "1 Main St, Springfield"}
    answer = httpx.patch(f"{signed.server.base}/v3/account", json=body, headers=headers)
    assert answer.status_code == 200, answer.text


def to_sandbox(page: Page) -> None:
    page.get_by_role("button", name="Switch to sandbox").click()
    expect(page.get_by_test_id("env-badge")).to_have_text("Sandbox")


def accept_dialogs(page: Page) -> None:
    def accept(dialog: Dialog) -> None:
        dialog.accept()

    page.on("dialog", accept)


def reload_until(page: Page, predicate: Callable[[], bool], what: str) -> None:
    def check() -> bool:
        page.reload()
        return predicate()

    wait_until(check, timeout=20, what=what, interval=0.5)


def test_build_preview_test_send_inbox_audience_send_and_report(
    signed_in: Signed, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    accept_dialogs(page)
    to_sandbox(page)
    tag = uuid.uuid4().hex[:6]
    ada = f"ada-{tag}@example.com"
    group = api(signed_in, "sandboxApiKey", "/contactGroups", {"name": "Newsletter"})
    other_group = api(signed_in, "sandboxApiKey", "/contactGroups", {"name": "Customers"})
    for email, first in ((ada, "Ada"), (f"bob-{tag}@example.com", "Bob")):
        contact = api(signed_in, "sandboxApiKey", "/contacts", {"email": email, "firstName": first})
        for g in (group, other_group):
            answer = httpx.put(
                f"{signed_in.server.base}/v3/contacts/{contact['id']}/groups/{g['id']}",
                headers={"Api-Token": signed_in.owner.account["sandboxApiKey"]},
            )
            assert answer.status_code == 204, answer.text

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Campaigns")
    axe(page)
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name", exact=True).fill("November news")
    page.get_by_label("Subject").fill("Hello {{ contact.firstName }}")
    page.get_by_label("From email").fill("news@example.com")
    page.get_by_label("From name").fill("The Shop")
    page.get_by_label("HTML body").fill(SCRIPTED)
    page.get_by_label("Preview for contact (email)").fill(ada)
    # The live preview: the envelope by htmx, the HTML in the sandboxed frame.
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hello Ada")
    preview = page.frame_locator("#preview-frame")
    expect(preview.locator("#greeting")).to_have_text("Hi Ada")
    expect(preview.locator("#canary")).to_have_text("safe")
    assert page.locator("#preview-frame").get_attribute("sandbox") == ""
    # A template that does not parse: said in the preview, refused on save.
    page.get_by_label("Subject").fill("Hello {{ contact.firstName")
    expect(page.locator("#preview-summary")).to_contain_text("subject is not a valid template")
    page.get_by_role("button", name="Save campaign").click()
    expect(page.locator("#f-subject-help")).to_contain_text("not a valid template")
    axe(page)
    page.get_by_label("Subject").fill("Hello {{ contact.firstName }}")
    page.get_by_role("button", name="Save campaign").click()
    expect(page.get_by_role("status")).to_contain_text("Campaign saved.")
    campaign_id = re.search(r"/campaigns/(\d+)", page.url).group(1)  # type: ignore[union-attr]
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hello Ada")
    expect(preview.locator("#greeting")).to_have_text("Hi Ada")
    axe(page)
    screenshot(page, "campaign-editor")

    # A test copy, read back in the Sandbox inbox.
    page.get_by_label("Test addresses").fill(ada)
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text(f"Test copy sent to {ada}")
    page.get_by_role("link", name="Sandbox inbox").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sandbox inbox")
    subject = page.get_by_role("link", name="[Test] Hello Ada")
    reload_until(page, lambda: subject.count() == 1, "the test copy in the inbox")
    page.get_by_label("Recipient").fill(ada)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("table")).to_contain_text(ada)
    axe(page)
    screenshot(page, "inbox")
    subject.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("[Test] Hello Ada")
    frame = page.get_by_test_id("email-html")
    assert frame.get_attribute("sandbox") == ""  # no allow-scripts, no same-origin
    html = page.frame_locator("[data-testid=email-html]")
    expect(html.locator("#greeting")).to_have_text("Hi Ada")
    expect(html.locator("#canary")).to_have_text("safe")  # the script did not run
    expect(page.get_by_test_id("email-text")).to_contain_text("Hi Ada")
    expect(page.locator(".headers-table")).to_contain_text("List-Unsubscribe")
    axe(page)

    # The audience and its recipient count, then sending, then the report.
    page.goto(f"/campaigns/{campaign_id}")
    page.get_by_role("checkbox", name="Newsletter").check()
    expect(page.get_by_test_id("recipient-count")).to_have_text("2")
    page.get_by_role("checkbox", name="Customers").check()
    expect(page.get_by_test_id("recipient-count")).to_have_text("2")  # distinct contacts
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Report: November news")
    status = page.get_by_test_id("campaign-status")
    reload_until(page, lambda: status.inner_text() == "sent", "the campaign to be sent")
    expect(page.get_by_test_id("count-recipients")).to_have_text("2")
    expect(page.get_by_test_id("count-sent")).to_have_text("2")
    # Ada opens her email and clicks its link (the links the sender put in it).
    mails = api(signed_in, "sandboxApiKey", f"/sandbox/emails?campaignId={campaign_id}&to={ada}")
    sent_html = api(signed_in, "sandboxApiKey", f"/sandbox/emails/{mails['data'][0]['id']}")["html"]
    for link in re.findall(r'(?:src|href)="(http[^"]*/e/[oc]/[^"]*)"', sent_html):
        assert httpx.get(link.replace("&amp;", "&")).status_code in (200, 302)
    page.reload()
    expect(page.get_by_test_id("count-uniqueOpens")).to_have_text("1")
    expect(page.get_by_test_id("count-uniqueClicks")).to_have_text("1")
    expect(page.locator("canvas#activity-chart")).to_be_visible()
    drawn = page.evaluate(
        "() => window.Chart.getChart('activity-chart').data.datasets.map(d => d.data)"
    )
    assert [sum(d) for d in drawn] == [1, 1]  # one first open, one first click
    report = api(signed_in, "sandboxApiKey", f"/emailCampaigns/{campaign_id}/report")
    assert (report["recipients"], report["sent"], report["status"]) == (2, 2, "sent")
    axe(page)
    screenshot(page, "campaign-report")


def test_schedule_then_cancel_and_the_conflicts_shown(signed_in: Signed) -> None:
    give_postal_address(signed_in)
    page = signed_in.page
    accept_dialogs(page)
    api(signed_in, "liveApiKey", "/contactGroups", {"name": "Later"})
    campaign = api(
        signed_in,
        "liveApiKey",
        "/emailCampaigns",
        {"name": "Winter sale", "subject": "Soon", "fromEmail": "shop@example.com"},
    )
    page.goto(f"/campaigns/{campaign['id']}")
    expect(page.get_by_test_id("recipient-count")).to_have_count(0)  # nothing picked yet
    # Sending to no one: the API's 422, as a message.
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_role("alert")).to_contain_text("at least one group, tag or segment")
    page.get_by_role("checkbox", name="Later").check()
    expect(page.get_by_test_id("recipient-count")).to_have_text("0")
    when = datetime.now(UTC) + timedelta(days=2)
    page.get_by_label("Send at (UTC)").fill(when.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Schedule").click()
    expect(page.get_by_role("status")).to_contain_text("Campaign scheduled for")
    stored = api(signed_in, "liveApiKey", f"/emailCampaigns/{campaign['id']}")
    assert stored["status"] == "scheduled"
    assert stored["scheduledAt"].startswith(when.strftime("%Y-%m-%dT%H:%M"))  # read as UTC
    page.get_by_role("button", name="Cancel campaign").click()
    expect(page.get_by_role("status")).to_contain_text("Campaign canceled")
    expect(page.locator(".page-head .status")).to_have_text("canceled")
    assert api(signed_in, "liveApiKey", f"/emailCampaigns/{campaign['id']}")["status"] == "canceled"
    page.goto("/campaigns")
    expect(page.get_by_role("row", name=re.compile("Winter sale"))).to_contain_text("canceled")


def test_an_automation_is_created_paused_and_resumed(
    signed_in: Signed, screenshot: Callable[[Page, str], Path]
) -> None:
    give_postal_address(signed_in)
    page = signed_in.page
    api(signed_in, "liveApiKey", "/contactTags", {"name": "VIP"})
    page.get_by_role("link", name="Automations").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Automations")
    axe(page)
    page.get_by_role("link", name="New automation").click()
    page.get_by_label("When").select_option("tag_added")
    page.get_by_label("Delay", exact=True).fill("2")
    page.get_by_label("Unit").select_option("hours")
    page.get_by_label("Name", exact=True).fill("Welcome VIPs")
    page.get_by_label("Subject").fill("Welcome, {{ contact.firstName }}")
    page.get_by_label("From email").fill("vip@example.com")
    page.get_by_role("button", name="Save automation").click()
    # No tag chosen: refused by the API's rules, the field marked, the values kept.
    expect(page.locator("#f-triggerTagId-help")).to_be_visible()
    expect(page.get_by_label("When")).to_have_value("tag_added")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Welcome VIPs")
    axe(page)
    page.get_by_label('Tag (for "a tag is added")').select_option(label="VIP")
    page.get_by_role("button", name="Save automation").click()
    expect(page.get_by_role("status")).to_contain_text("Automation saved.")
    automation_id = re.search(r"/automations/(\d+)$", page.url).group(1)  # type: ignore[union-attr]
    stored = api(signed_in, "liveApiKey", f"/emailAutomations/{automation_id}")
    assert stored["trigger"]["type"] == "tag_added"
    assert stored["delaySeconds"] == 7200
    expect(page.get_by_test_id("automation-status")).to_have_text("active")
    axe(page)
    page.get_by_role("button", name="Pause automation").click()
    expect(page.get_by_test_id("automation-status")).to_have_text("paused")
    assert api(signed_in, "liveApiKey", f"/emailAutomations/{automation_id}")["status"] == "paused"
    page.get_by_role("button", name="Resume automation").click()
    expect(page.get_by_test_id("automation-status")).to_have_text("active")
    assert api(signed_in, "liveApiKey", f"/emailAutomations/{automation_id}")["status"] == "active"
    page.get_by_role("link", name="Report").click()
    expect(page.get_by_test_id("count-enrolled")).to_have_text("0")
    axe(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Automations").click()
    row = page.get_by_role("row", name=re.compile("Welcome VIPs"))
    expect(row).to_contain_text("A tag is added to a contact: VIP")
    expect(row).to_contain_text("2 hours")
    screenshot(page, "automations")


def _segment(server: Server, account_id: str, name: str, conditions: dict[str, Any]) -> None:
    """A live segment written straight to the server's database (the segments API is
    another part's)."""
    url = server.env["ACTIVECOMMERCE_DATABASE_URL"]
    sql = (
        "INSERT INTO segments (account_id, env, name, conditions, created_at, updated_at)"
        " VALUES (?, 'live', ?, ?, ?, ?)"
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    values = (int(account_id), name, json.dumps(conditions), stamp, stamp)
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            conn.execute(sql, values)
            conn.commit()
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(url) as pg:
        pg.execute(sql.replace("?", "%s"), values)


def test_the_audience_picker_takes_everyone_segments_and_what_to_leave_out(
    signed_in: Signed,
) -> None:
    give_postal_address(signed_in)
    page = signed_in.page
    accept_dialogs(page)
    group = api(signed_in, "liveApiKey", "/contactGroups", {"name": "Regulars"})
    for first in ("Ann", "Bob", "Dan"):
        contact = api(
            signed_in,
            "liveApiKey",
            "/contacts",
            {"email": f"{first.lower()}-{uuid.uuid4().hex[:6]}@example.com", "firstName": first},
        )
        if first != "Dan":
            answer = httpx.put(
                f"{signed_in.server.base}/v3/contacts/{contact['id']}/groups/{group['id']}",
                headers={"Api-Token": signed_in.owner.account["liveApiKey"]},
            )
            assert answer.status_code == 204, answer.text
    account = signed_in.owner.account_id
    _segment(
        signed_in.server,
        account,
        "First name Bob",
        {"field": "firstName", "op": "eq", "value": "Bob"},
    )
    campaign = api(
        signed_in,
        "liveApiKey",
        "/emailCampaigns",
        {"name": "Audiences", "subject": "Hi", "fromEmail": "shop@example.com"},
    )
    page.goto(f"/campaigns/{campaign['id']}")
    count = page.get_by_test_id("recipient-count")
    page.get_by_role("checkbox", name="Everyone").check()
    expect(count).to_have_text("3")
    # Everyone together with a group: the API's 422, said where the count goes.
    page.get_by_role("group", name="Groups", exact=True).get_by_role(
        "checkbox", name="Regulars"
    ).check()
    expect(page.get_by_test_id("audience-error")).to_contain_text("everyone already includes")
    page.get_by_role("checkbox", name="Everyone").uncheck()
    expect(count).to_have_text("2")
    page.get_by_text("Leave out", exact=True).click()
    page.get_by_role("group", name="Segments to leave out").get_by_role(
        "checkbox", name="First name Bob"
    ).check()
    expect(count).to_have_text("1")
    axe(page)
    page.set_viewport_size({"width": 390, "height": 844})
    fits(page)
    axe(page)
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Report: Audiences")
    status = page.get_by_test_id("campaign-status")
    reload_until(page, lambda: status.inner_text() == "sent", "the campaign to be sent")
    expect(page.get_by_test_id("count-recipients")).to_have_text("1")


def test_the_sandbox_inbox_is_a_404_in_live(signed_in: Signed) -> None:
    page = signed_in.page
    assert status_of(page, "/inbox") == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert status_of(page, "/inbox/1/html") == 404


def test_the_campaign_pages_fit_a_phone(chromium: Browser, console_server: Server) -> None:
    page, violations = open_page(chromium, console_server, width=390)
    owner = console_server.new_account(plan="free")  # a developer account: the sandbox
    sign_in(page, owner.email)
    key = {"Api-Token": owner.account["sandboxApiKey"]}
    body = {
        "name": "Phone",
        "subject": "Hi",
        "fromEmail": "a@example.com",
        "htmlContent": "<p>Hi</p>",
    }
    made = httpx.post(f"{console_server.base}/v3/emailCampaigns", json=body, headers=key)
    assert made.status_code == 201, made.text
    for path in ("/campaigns", f"/campaigns/{made.json()['id']}", "/automations/new", "/inbox"):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        fits(page)
        axe(page)
    page.context.close()
    assert not violations, violations  # the preview has no open pixel to refuse


def _sql(server: Server, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Statements run straight on the server's database (states only a relay makes)."""
    url = server.env["ACTIVECOMMERCE_DATABASE_URL"]
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            for sql, values in statements:
                conn.execute(sql, values)
            conn.commit()
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(url) as pg:
        for sql, values in statements:
            pg.execute(sql.replace("?", "%s"), values)


def test_postal_address_setting_outcomes_and_resuming_a_paused_campaign(
    signed_in: Signed,
) -> None:
    page = signed_in.page
    # The account's postal address, on the Settings page.
    page.goto("/settings")
    page.get_by_label("Postal address").fill("1 Main St\nSpringfield")
    page.get_by_role("button", name="Save postal address").click()
    expect(page.get_by_role("status")).to_contain_text("postal address was saved")
    expect(page.get_by_label("Postal address")).to_have_value("1 Main St\nSpringfield")
    assert api(signed_in, "liveApiKey", "/account")["postalAddress"] == "1 Main St\nSpringfield"
    axe(page)

    # A live campaign the relay paused: one delivered, one refused by policy, two queued.
    group = api(signed_in, "liveApiKey", "/contactGroups", {"name": "Paused"})
    contacts = [
        api(signed_in, "liveApiKey", "/contacts", {"email": f"r{i}@example.com"}) for i in range(4)
    ]
    for contact in contacts:
        headers = {"Api-Token": signed_in.owner.account["liveApiKey"]}
        url = f"{signed_in.server.base}/v3/contacts/{contact['id']}/groups/{group['id']}"
        assert httpx.put(url, headers=headers).status_code == 204
    campaign = api(
        signed_in,
        "liveApiKey",
        "/emailCampaigns",
        {"name": "Paused sale", "subject": "Sale", "fromEmail": "shop@example.com"},
    )
    account_id = int(signed_in.owner.account["accountId"])
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    reason = "the relay refused the sender: 553 5.7.1 Sender not allowed"
    policy = "550 5.7.1 Message refused by policy " + "x" * 120  # long: it wraps
    rows = [("sent", None), ("failed", policy), ("queued", reason), ("queued", reason)]
    insert = (
        "INSERT INTO email_messages (account_id, env, campaign_id, contact_id, is_test, status,"
        " attempts, due_at, sent_at, error, open_count, click_count, created_at, updated_at)"
        " VALUES (?, 'live', ?, ?, ?, ?, 0, ?, ?, ?, 0, 0, ?, ?)"
    )
    _sql(
        signed_in.server,
        [
            (
                insert,
                (
                    account_id,
                    int(campaign["id"]),
                    int(contact["id"]),
                    False,
                    status,
                    stamp,
                    stamp if status == "sent" else None,
                    error,
                    stamp,
                    stamp,
                ),
            )
            for contact, (status, error) in zip(contacts, rows, strict=True)
        ]
        + [
            (
                "UPDATE email_campaigns SET status = 'paused', scheduled_at = ?,"
                " resolved_at = ?, audience = ? WHERE id = ?",
                (stamp, stamp, json.dumps({"groupIds": [group["id"]]}), int(campaign["id"])),
            )
        ],
    )
    page.goto(f"/campaigns/{campaign['id']}/report")
    expect(page.get_by_test_id("count-delivered")).to_have_text("1")
    expect(page.get_by_test_id("count-failed")).to_have_text("1")
    expect(page.get_by_test_id("count-bounced")).to_have_text("0")
    expect(page.get_by_test_id("report-reasons")).to_contain_text("550 5.7.1 Message refused")
    expect(page.get_by_test_id("paused-reason")).to_contain_text("553 5.7.1 Sender not allowed")
    axe(page)
    # At phone width (opened there: the chart sizes itself when the page loads).
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/campaigns/{campaign['id']}/report")
    expect(page.get_by_test_id("report-reasons")).to_be_visible()
    fits(page)
    page.goto(f"/campaigns/{campaign['id']}")
    expect(page.get_by_test_id("paused-reason")).to_contain_text("553 5.7.1 Sender not allowed")
    axe(page)
    fits(page)
    page.get_by_role("button", name="Resume campaign").click()
    expect(page.get_by_role("status")).to_contain_text("Campaign resumed")
    # No relay here: the two left queued are captured, each once, and the campaign ends.
    wait_until(
        lambda: (
            api(signed_in, "liveApiKey", f"/emailCampaigns/{campaign['id']}")["status"] == "sent"
        ),
        what="the resumed campaign to be sent",
    )
    report = api(signed_in, "liveApiKey", f"/emailCampaigns/{campaign['id']}/report")
    assert (report["sent"], report["delivered"], report["failed"]) == (3, 3, 1)
    # The settings and an automation's report, at phone width too.
    page.goto("/settings")
    fits(page)
    tag = api(signed_in, "liveApiKey", "/contactTags", {"name": "Later"})
    automation = api(
        signed_in,
        "liveApiKey",
        "/emailAutomations",
        {
            "name": "Welcome",
            "subject": "Hi",
            "fromEmail": "shop@example.com",
            "trigger": {"type": "tag_added", "tagId": tag["id"]},
        },
    )
    page.goto(f"/automations/{automation['id']}/report")
    expect(page.get_by_test_id("count-delivered")).to_have_text("0")
    axe(page)
    fits(page)
