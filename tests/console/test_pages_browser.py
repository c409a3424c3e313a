"""The console's main pages in Chromium: none makes the browser refuse anything under
the pages' policy (nor the email frames' own: the preview and the inbox load no open
pixel, and no tracking URL is requested), none links to a missing favicon; an unknown
URL is a page with the navigation; the time zone setting at phone width; a webhook
edited and sent a test; a named API key. axe on each."""

from __future__ import annotations

from browser import Signed, api_client, axe, fits, made, open_page, sign_in, status_of
from helpers import wait_until
from playwright.sync_api import Browser, Page, Request, Response, expect
from playwright.sync_api import Error as PlaywrightError

# Every refusal of a policy, in any frame (the email frames log theirs to their own
# console): kept in the page, read back with `refusals(page)`.
WATCH = """
window.__refused = [];
document.addEventListener('securitypolicyviolation', function (e) {
  var seen = [location.pathname, e.effectiveDirective, e.blockedURI, e.sourceFile, e.lineNumber];
  (window.top.__refused || window.__refused).push(seen.join(' '));
});
"""


def _visit(page: Page, path: str) -> None:
    try:
        page.goto(path)
    except PlaywrightError as error:
        # Right after Back, htmx may still be restoring the previous page (a navigation of
        # its own, on a history-cache miss): that one wins, then this page is opened.
        if "interrupted by another navigation" not in str(error):
            raise
        page.wait_for_load_state("load")
        page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.wait_for_load_state("networkidle")


def test_the_main_pages_make_the_browser_refuse_nothing(signed_in: Signed) -> None:
    page = signed_in.page
    page.context.add_init_script(WATCH)
    tracking: list[str] = []
    missing: list[str] = []

    def requested(request: Request) -> None:
        if "/e/" in request.url:
            tracking.append(request.url)

    def answered(response: Response) -> None:
        if response.status == 404 and response.request.resource_type != "document":
            missing.append(response.url)

    page.on("request", requested)
    page.on("response", answered)
    html = '<p>Hi {{ contact.firstName }}</p><a href="https://example.com/a">Read</a>'
    body = {"name": "News", "subject": "Hi", "fromEmail": "a@example.com", "htmlContent": html}
    with api_client(signed_in, "sandbox") as api:
        for n in range(3):
            made(api, "/v3/contacts", {"email": f"ada{n}@example.com", "firstName": "Ada"})
        contact = made(api, "/v3/contacts", {"email": "bob@example.com"})
        campaign = made(api, "/v3/emailCampaigns", body)
        made(api, f"/v3/emailCampaigns/{campaign['id']}/test", {"emails": ["qa@example.com"]})
        hook = made(api, "/v3/webhooks", {"url": "https://example.com/h", "events": ["*"]})

        def captured() -> bool:
            return bool(api.get("/v3/sandbox/emails").json()["data"])

        wait_until(captured, timeout=20, what="the test copy")
        (mail,) = api.get("/v3/sandbox/emails").json()["data"]

    page.get_by_role("button", name="Switch to sandbox").click()
    expect(page.get_by_test_id("env-badge")).to_have_text("Sandbox")
    _visit(page, "/contacts")
    search = page.get_by_label("Search")
    search.press_sequentially("ada", delay=40)  # htmx, as one types
    expect(page.get_by_test_id("total")).to_have_text("3 contacts")
    search.fill("")
    search.press("Enter")
    page.get_by_label("Status").select_option("active")
    expect(page.get_by_test_id("total")).to_have_text("4 contacts")
    page.go_back()
    for path in (
        "/",
        f"/contacts/{contact['id']}",
        "/contacts/new",
        "/deals",
        "/campaigns",
        "/automations",
        "/webhooks",
        f"/webhooks/{hook['id']}",
        "/keys",
        "/users",
        "/settings",
        "/inbox",
        f"/inbox/{mail['id']}",
        "/no/such/page",
    ):
        _visit(page, path)
    _visit(page, f"/campaigns/{campaign['id']}")
    preview = page.frame_locator("#preview-frame")
    expect(preview.get_by_text("Hi")).to_be_visible()  # the preview loaded on its own
    page.get_by_role("button", name="Update preview").click()
    expect(preview.get_by_role("link", name="Read")).to_be_visible()
    page.wait_for_load_state("networkidle")

    refused = page.evaluate("window.__refused")
    assert refused == [], refused
    assert signed_in.csp_violations == [], signed_in.csp_violations
    assert tracking == [], tracking  # neither the preview nor the inbox records an open
    assert missing == [], missing  # the favicon (and every asset) is there


def test_an_unknown_url_is_a_page_with_the_navigation(signed_in: Signed) -> None:
    page = signed_in.page
    assert status_of(page, "/contacts/12/nothing/here") == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    axe(page)
    page.get_by_role("link", name="Contacts").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")


def test_the_time_zone_setting_at_phone_width(chromium: Browser, signed_in: Signed) -> None:
    with api_client(signed_in) as api:
        contact = made(api, "/v3/contacts", {"email": "tz@example.com"})
    page, violations = open_page(chromium, signed_in.server, width=390)
    sign_in(page, signed_in.owner.email)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    fits(page)
    axe(page)
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("America/New_York")
    expect(page.get_by_test_id("now")).to_contain_text(" E")  # EST or EDT
    page.goto("/keys")  # a table with hidden labels in its buttons scrolls, not the page
    expect(page.get_by_role("button", name="Revoke").first).to_be_attached()
    fits(page)
    page.goto(f"/contacts/{contact['id']}")
    created = page.locator("dl.fields time").first
    expect(created).to_have_attribute("datetime", contact["createdAt"])
    expect(created).to_contain_text(" E")
    fits(page)
    axe(page)
    page.context.close()
    assert not violations, violations


def test_a_webhook_is_edited_and_sent_a_test_and_a_key_is_named(signed_in: Signed) -> None:
    page = signed_in.page
    with api_client(signed_in) as api:
        hook = made(api, "/v3/webhooks", {"url": "https://example.com/h", "events": ["*"]})
    page.goto(f"/webhooks/{hook['id']}")
    page.get_by_text("Edit the URL, events or description").click()
    page.get_by_label("URL").fill("http://10.1.2.3/hook")
    page.get_by_role("button", name="Save webhook").click()
    expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    axe(page)
    page.get_by_label("URL").fill("https://example.org/moved")
    page.get_by_label("Events").select_option(["contact.created", "deal.created"])
    page.get_by_role("button", name="Save webhook").click()
    expect(page.get_by_role("status")).to_contain_text("Webhook saved.")
    expect(page.locator("dl")).to_contain_text("https://example.org/moved")
    expect(page.locator("dl")).to_contain_text("contact.created, deal.created")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("test event")
    rows = page.get_by_test_id("delivery")

    def tested() -> bool:
        page.reload()
        return "webhook.test" in rows.all_inner_texts().__str__()

    wait_until(tested, timeout=20, what="the test delivery in the log", interval=0.5)
    axe(page)

    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name (optional)").fill("Shop sync")
    page.get_by_role("button", name="Create a live key").click()
    expect(page.get_by_test_id("new-key")).to_contain_text("ac_live_")
    expect(page.get_by_role("rowheader", name="Shop sync")).to_be_visible()
    axe(page)
