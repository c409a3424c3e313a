"""Driving the OAuth flows as a browser and a client app would: authlib's client for the
protocol, an httpx client with cookies for the sign-in and consent forms."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import FastAPI

from activecommerce.users.service import create_user

BASE = "http://127.0.0.1:8000"  # the issuer when no public URL is configured
REDIRECT = "http://127.0.0.1:9999/callback"
PASSWORD = "correct horse battery"


def browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 5555)), base_url=BASE
    )


def app_client(app: FastAPI, client: dict[str, Any], **kwargs: Any) -> AsyncOAuth2Client:
    public = client["public"]
    return AsyncOAuth2Client(
        client_id=client["clientId"],
        client_secret=None if public else client["clientSecret"],
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        code_challenge_method="S256",
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        **kwargs,
    )


def field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, page
    return html.unescape(match.group(1))


def form_action(page: str) -> str:
    match = re.search(r'<form method="post" action="([^"]*)"', page)
    assert match, page
    return html.unescape(match.group(1))


async def new_user(app: FastAPI, account_id: str, role: str = "owner") -> str:
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    services = app.state.services
    await create_user(
        services.db, services.sessions.passwords, int(account_id), email, PASSWORD, role
    )
    return email


async def sign_in(
    b: httpx.AsyncClient, email: str, next_path: str = "/signin", password: str = PASSWORD
) -> httpx.Response:
    page = await b.get("/signin", params={"next": next_path})
    assert page.status_code == 200
    assert "Email" in page.text
    assert "Password" in page.text
    assert "Sign in" in page.text
    return await b.post(
        "/signin",
        data={
            "email": email,
            "password": password,
            "csrf_token": field(page.text, "csrf_token"),
            "next": field(page.text, "next"),
        },
    )


async def authorize(
    app: FastAPI,
    url: str,
    email: str,
    decision: str = "allow",
    account: str | None = None,
    client_name: str | None = None,
) -> httpx.Response:
    """Open the authorization URL in a fresh browser, sign in, answer the consent page;
    the answer is the redirect back to the app."""
    async with browser(app) as b:
        first = await b.get(url)
        assert first.status_code == 303, first.text
        assert first.headers["location"].startswith("/signin?next=")
        next_path = httpx.URL(first.headers["location"]).params["next"]
        signed = await sign_in(b, email, next_path)
        assert signed.status_code == 303, signed.text
        consent = await b.get(signed.headers["location"])
        assert consent.status_code == 200, consent.text
        assert "Allow" in consent.text
        assert "Deny" in consent.text
        if client_name:
            assert client_name in consent.text
        form = {"csrf_token": field(consent.text, "csrf_token"), "decision": decision}
        form["account"] = account or field(consent.text, "account")
        return await b.post(form_action(consent.text), data=form)


async def code_flow(
    app: FastAPI, client: dict[str, Any], email: str, scope: str
) -> tuple[AsyncOAuth2Client, dict[str, Any]]:
    """The whole authorization code flow with PKCE; the app's client and its token."""
    oauth = app_client(app, client, redirect_uri=REDIRECT, scope=scope)
    verifier = generate_token(48)
    url, state = oauth.create_authorization_url(f"{BASE}/oauth/authorize", code_verifier=verifier)
    back = await authorize(app, url, email, client_name=client["name"])
    assert back.status_code == 302, back.text
    assert back.headers["location"].startswith(REDIRECT)
    token = await oauth.fetch_token(
        f"{BASE}/oauth/token",
        authorization_response=back.headers["location"],
        code_verifier=verifier,
        state=state,
    )
    return oauth, dict(token)
