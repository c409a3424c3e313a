"""The console's frame in a real browser (SPEC §11): sign-in, the environment badge and
switch, the links, CSRF, escaping, the users and password pages, accessibility."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from browser import PASSWORD, Server, Signed, axe, open_page, sign_in
from playwright.sync_api import Browser, Dialog, Page, expect

LINKS = ["Contacts", "Segments", "Deals", "Campaigns", "Automations", "Webhooks", "API keys"]
XSS = "<script>alert(1)</script>"


def badge(page: Page) -> str:
    return page.get_by_test_id("env-badge").inner_text()


def test_sign_in_badge_links_and_the_switch_to_sandbox(
    signed_in: Signed, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    assert badge(page) == "Live"  # a production account opens in live
    nav = page.get_by_role("navigation", name="Main")
    for name in LINKS:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Sandbox inbox")).to_have_count(0)
    axe(page)
    screenshot(page, "home")
    page.get_by_role("button", name="Switch to sandbox").click()
    expect(page.get_by_test_id("env-badge")).to_have_text("Sandbox")
    expect(nav.get_by_role("link", name="Sandbox inbox")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("sandbox")
    page.reload()  # kept across pages, and the flash is shown once
    assert badge(page) == "Sandbox"
    expect(page.get_by_role("status")).to_have_count(0)
    page.get_by_role("button", name="Switch to live").click()
    expect(page.get_by_test_id("env-badge")).to_have_text("Live")


def test_a_developer_account_opens_in_the_sandbox(
    chromium: Browser, console_server: Server
) -> None:
    page, violations = open_page(chromium, console_server, width=390)  # a phone
    owner = console_server.new_account(plan="free")
    sign_in(page, owner.email)
    assert badge(page) == "Sandbox"
    expect(page.get_by_role("button", name="Switch to live")).to_have_count(0)
    expect(page.get_by_role("link", name="Sandbox inbox")).to_be_visible()
    # Keyboard: the first Tab reaches the skip link, which moves to the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    axe(page)
    page.context.close()
    assert not violations, violations


def test_signed_out_pages_send_to_the_sign_in_page_and_back(
    chromium: Browser, console_server: Server
) -> None:
    page, _ = open_page(chromium, console_server)
    owner = console_server.new_account()
    page.goto("/account/password")
    assert "/signin?next=" in page.url
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Change your password")
    page.context.close()


class _Attacker(http.server.BaseHTTPRequestHandler):
    """Another origin, serving a form that posts to the console (a forged request)."""

    target = ""

    def do_GET(self) -> None:
        body = (
            f'<form id="f" method="post" action="{self.target}/users">'
            '<input name="email" value="evil@example.com"><input name="role" value="owner">'
            '<input name="password" value="evil-password-1"><input name="csrf_token" value="x">'
            '</form><button id="go" onclick="document.getElementById(\'f\').submit()">go</button>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def attacker(console_server: Server) -> Iterator[str]:
    handler = type("Handler", (_Attacker,), {"target": console_server.base})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_forged_cross_site_post_is_refused(signed_in: Signed, attacker: str) -> None:
    page = signed_in.page
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    # From a page of another origin, in the signed-in browser.
    page.goto(attacker)
    page.click("#go")
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forbidden")
    # A plain request with the session cookie but without the form's token.
    with httpx.Client(base_url=signed_in.server.base, cookies=cookies) as client:
        for data in ({"email": "evil@example.com", "role": "owner"}, {"csrf_token": "forged"}):
            assert client.post("/users", data=data).status_code == 403
        # ... and an htmx-style one with a wrong header.
        answer = client.post("/environment", data={"env": "sandbox"}, headers={"X-CSRF-Token": "x"})
        assert answer.status_code == 403
    page.goto("/users")
    expect(page.get_by_text("evil@example.com")).to_have_count(0)


def test_names_are_shown_as_text(signed_in: Signed) -> None:
    page = signed_in.page
    dialogs: list[str] = []

    def seen(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    key = signed_in.owner.account["liveApiKey"]
    answer = httpx.post(
        f"{signed_in.server.base}/v3/contacts",
        json={"email": "xss@example.com", "firstName": XSS},
        headers={"Api-Token": key},
    )
    assert answer.status_code == 201, answer.text
    page.reload()
    activity = page.locator(".activity")
    expect(activity).to_contain_text(XSS)  # the text itself, not an element
    expect(activity.locator("script")).to_have_count(0)
    assert not dialogs


def test_owners_manage_users_and_members_cannot(
    signed_in: Signed, chromium: Browser, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    axe(page)
    member = f"member-{signed_in.owner.account_id}@example.com"
    form = page.locator("form[action='/users']")
    form.get_by_label("Email").fill(member)
    form.get_by_label("Password").fill("short")
    form.get_by_role("button", name="Add member").click()
    # The service's rule, shown next to its field.
    expect(page.locator("#f-password-help")).to_contain_text("8 to 1024 characters")
    expect(form.get_by_label("Email")).to_have_value(member)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_contain_text(f"{member} is now a member")
    row = page.get_by_role("row", name=member)
    expect(row.get_by_label(f"Role of {member}")).to_have_value("member")
    screenshot(page, "users")
    # The last owner cannot be demoted.
    owner_row = page.get_by_role("row", name=signed_in.owner.email)
    owner_row.get_by_label(f"Role of {signed_in.owner.email}").select_option("member")
    owner_row.get_by_role("button", name="Change role").click()
    expect(page.get_by_role("alert")).to_contain_text("last owner")
    # The member signs in elsewhere: no Users link, and /users is refused.
    other, violations = open_page(chromium, signed_in.server)
    sign_in(other, member)
    expect(other.get_by_role("link", name="Users")).to_have_count(0)
    answer = other.goto("/users")
    assert answer is not None
    assert answer.status == 403
    expect(other.get_by_role("heading", level=1)).to_have_text("Owners only")
    other.context.close()
    assert not violations
    # Removed (after a confirmation), the member is gone.
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("row", name=member).get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_contain_text("removed")
    expect(page.get_by_role("row", name=member)).to_have_count(0)


def test_everyone_changes_their_own_password(
    signed_in: Signed, chromium: Browser, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    page.get_by_role("link", name="Password").click()
    axe(page)
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("a brand new password")
    page.get_by_label("Repeat the new password").fill("a brand new password")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#f-current_password-help")).to_contain_text("not your current password")
    axe(page)  # with the errors shown
    screenshot(page, "password")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a brand new password")
    page.get_by_label("Repeat the new password").fill("a brand new password")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("password was changed")
    other, _ = open_page(chromium, signed_in.server)
    sign_in(other, signed_in.owner.email, "a brand new password")
    expect(other.get_by_test_id("env-badge")).to_be_visible()
    other.context.close()


def test_users_of_several_accounts_choose_one(chromium: Browser, console_server: Server) -> None:
    first = console_server.new_account(name="First shop")
    second = console_server.new_account(name="Second shop")
    console_server.add_user(second.account_id, role="member", email=first.email)
    page, violations = open_page(chromium, console_server)
    sign_in(page, first.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose an account")
    axe(page)
    page.get_by_label("Second shop (member)").check()
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Second shop")
    expect(page.get_by_role("link", name="Users")).to_have_count(0)  # a member there
    page.get_by_label("Account").select_option(label="First shop")
    page.get_by_role("button", name="Switch account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("First shop")
    page.context.close()
    assert not violations, violations
