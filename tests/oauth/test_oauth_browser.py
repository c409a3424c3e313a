"""OAuth 2.0 in a real browser (SPEC §7): authlib's client makes the authorization URL
(PKCE S256) and exchanges the code; Chromium does the user's part (sign in, Allow or
Deny) against a real `activecommerce serve`; a real HTTP server on loopback is the
redirect URI and catches the code. The pages' Content-Security-Policy applies here
(`form-action` covers the redirects that follow a form's submission), which an HTTP
client ignores."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from browser import Owner, Server, axe, open_page, sign_in
from playwright.sync_api import Browser, Page, expect


class Callback:
    """The app's redirect URI: a loopback HTTP server that keeps the queries it got."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.queries: list[dict[str, str]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/callback":  # not the browser's /favicon.ico
                    query = parse_qs(parts.query)
                    hook.queries.append({k: v[0] for k, v in query.items()})
                body = b"<!doctype html><title>App</title><h1>Back in the app</h1>"
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family})
        self.server = server_class((host, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.server.server_address[1]}/callback"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def owner(console_server: Server) -> Owner:
    """One account (plan plus: live and sandbox) for the module: the CLI is not quick."""
    return console_server.new_account()


@pytest.fixture(scope="module")
def callback() -> Iterator[Callback]:
    hook = Callback()
    yield hook
    hook.close()


def register(server: Server, api_key: str, redirect: str, **body: Any) -> dict[str, Any]:
    body = {"name": "Contact Sync", "scopes": ["contacts:read"], "redirectUris": [redirect], **body}
    answer = httpx.post(
        f"{server.base}/v3/oauthClients", json=body, headers={"Api-Token": api_key}, timeout=10
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def app_client(server: Server, client: dict[str, Any], redirect: str) -> OAuth2Client:
    """The app's side: authlib's client, as an app would configure it."""
    public = client["public"]
    return OAuth2Client(
        client_id=client["clientId"],
        client_secret=None if public else client["clientSecret"],
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        code_challenge_method="S256",
        redirect_uri=redirect,
        scope=" ".join(client["scopes"]),
        base_url=server.base,
        timeout=10,
    )


def back_in_app(page: Page, callback: Callback) -> dict[str, str]:
    """The browser reached the redirect URI: what the app got there."""
    page.wait_for_url(f"{callback.url}?**", timeout=5_000)
    expect(page.get_by_role("heading", name="Back in the app")).to_be_visible()
    return callback.queries[-1]


def test_code_flow_and_refresh_in_chromium(
    chromium: Browser, console_server: Server, owner: Owner, callback: Callback
) -> None:
    client = register(
        console_server,
        owner.account["sandboxApiKey"],
        callback.url,
        public=True,
        scopes=["contacts:read", "contacts:write"],
    )
    page, violations = open_page(chromium, console_server)
    with app_client(console_server, client, callback.url) as oauth:
        verifier = generate_token(48)
        url, state = oauth.create_authorization_url(
            f"{console_server.base}/oauth/authorize", code_verifier=verifier
        )
        page.goto(url)
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("Email").fill(owner.email)
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Allow Contact Sync?")).to_be_visible()
        axe(page)
        page.get_by_role("button", name="Allow").click()
        got = back_in_app(page, callback)
        assert got["state"] == state
        token = oauth.fetch_token(
            f"{console_server.base}/oauth/token",
            authorization_response=page.url,
            code_verifier=verifier,
        )
        assert token["scope"] == "contacts:read contacts:write"
        api = httpx.Client(base_url=console_server.base, timeout=10)
        made = api.post(
            "/v3/contacts",
            json={"email": "chromium@oauth.io"},
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert made.status_code == 201, made.text
        renewed = oauth.refresh_token(f"{console_server.base}/oauth/token")
        assert renewed["refresh_token"] != token["refresh_token"]
        listed = api.get(
            "/v3/contacts", headers={"Authorization": f"Bearer {renewed['access_token']}"}
        )
        assert [c["email"] for c in listed.json()["data"]] == ["chromium@oauth.io"]
        api.close()
    page.context.close()
    assert not violations, violations


def test_deny_in_chromium_sends_access_denied_to_the_app(
    chromium: Browser, console_server: Server, owner: Owner, callback: Callback
) -> None:
    client = register(console_server, owner.account["sandboxApiKey"], callback.url)
    page, violations = open_page(chromium, console_server)
    sign_in(page, owner.email)  # signed in already: straight to the consent page
    with app_client(console_server, client, callback.url) as oauth:
        url, state = oauth.create_authorization_url(
            f"{console_server.base}/oauth/authorize", code_verifier=generate_token(48)
        )
        page.goto(url)
        expect(page.get_by_role("heading", name="Allow Contact Sync?")).to_be_visible()
        page.get_by_role("button", name="Deny").click()
        got = back_in_app(page, callback)
    assert got["error"] == "access_denied"
    assert got["state"] == state
    assert "code" not in got
    page.context.close()
    assert not violations, violations


def test_no_account_can_use_the_app_back_to_it_in_chromium(
    chromium: Browser, console_server: Server, owner: Owner, callback: Callback
) -> None:
    """A live app, and a user whose only account is a developer one (sandbox only): after
    signing in they are told, and go back to the app with access_denied."""
    developer = console_server.new_account(plan="free")
    client = register(console_server, owner.account["liveApiKey"], callback.url)
    assert client["environment"] == "live"
    page, violations = open_page(chromium, console_server)
    with app_client(console_server, client, callback.url) as oauth:
        url, state = oauth.create_authorization_url(
            f"{console_server.base}/oauth/authorize", code_verifier=generate_token(48)
        )
        page.goto(url)
        page.get_by_label("Email").fill(developer.email)
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Contact Sync")
        axe(page)
        page.get_by_role("button", name="Back to Contact Sync").click()
        got = back_in_app(page, callback)
    assert got["error"] == "access_denied"
    assert got["state"] == state
    page.context.close()
    assert not violations, violations


def test_an_ipv6_loopback_redirect_uri_in_chromium(
    chromium: Browser, console_server: Server, owner: Owner
) -> None:
    """http://[::1]:port (RFC 8252 §7.3): no CSP source can name it, so the answer to
    Allow is a page that goes on by itself, and the flow completes."""
    try:
        callback = Callback("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    client = register(console_server, owner.account["sandboxApiKey"], callback.url, public=True)
    page, violations = open_page(chromium, console_server)
    sign_in(page, owner.email)
    with app_client(console_server, client, callback.url) as oauth:
        verifier = generate_token(48)
        url, state = oauth.create_authorization_url(
            f"{console_server.base}/oauth/authorize", code_verifier=verifier
        )
        page.goto(url)
        page.get_by_role("button", name="Allow").click()
        assert back_in_app(page, callback)["state"] == state
        token = oauth.fetch_token(
            f"{console_server.base}/oauth/token",
            authorization_response=page.url,
            code_verifier=verifier,
        )
    assert token["access_token"].startswith("ac_at_")
    callback.close()
    page.context.close()
    assert not violations, violations
