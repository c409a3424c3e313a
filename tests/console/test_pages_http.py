"""The console's frame for what a person meets off the beaten path, over HTTP in process:
unknown URLs answer an HTML page (with the navigation once signed in) while the API's
keep problem+json; refusals carry the navigation; the favicon."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import created
from oauthflow import browser, field, new_user, sign_in

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _html_404(answer: httpx.Response) -> None:
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "Page not found" in answer.text or "Not Found" in answer.text


def _problem_404(answer: httpx.Response) -> None:
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 404


def _has_nav(answer: httpx.Response) -> bool:
    return 'aria-label="Main"' in answer.text and 'href="/contacts"' in answer.text


async def test_unknown_urls_are_pages_for_people_and_problems_for_the_api(
    app: FastAPI, account: Account, other: Account
) -> None:
    async with browser(app) as b:
        signed_out = await b.get("/no/such/page", headers=HTML)
        _html_404(signed_out)
        assert not _has_nav(signed_out)
        assert 'href="/signin"' in signed_out.text
        _html_404(await b.get("/nothing"))  # a person's path, whatever the Accept says
        _problem_404(await b.get("/nothing", headers={"Accept": "application/json"}))
        for path in ("/v3/nothing", "/v3", "/oauth/token/x", "/oauth/revoke/x"):
            _problem_404(await b.get(path, headers=HTML))

        email = await new_user(app, account.id)
        assert (await sign_in(b, email, "/")).status_code == 303
        unknown = await b.get("/contacts/1/nothing/here", headers=HTML)
        _html_404(unknown)
        assert _has_nav(unknown)
        assert 'href="/settings"' in unknown.text
        _problem_404(await b.get("/v3/nothing", headers=HTML))
        _html_404(await b.get("/static/nothing.css", headers=HTML))

        # A refusal of a route (another account's contact) has the navigation too.
        theirs = await created(other.live, "/v3/contacts", {"email": "theirs@example.com"})
        refused = await b.get(f"/contacts/{theirs['id']}", headers=HTML)
        assert refused.status_code == 404
        assert _has_nav(refused)
        assert "theirs@example.com" not in refused.text


async def test_the_favicon_is_served_and_linked(app: FastAPI, account: Account) -> None:
    async with browser(app) as b:
        icon = await b.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/x-icon"
        assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO
        svg = await b.get("/static/favicon.svg")
        assert svg.status_code == 200
        assert "<svg" in svg.text
        signin = await b.get("/signin")
        assert 'rel="icon" href="/favicon.ico"' in signin.text
        email = await new_user(app, account.id)
        await sign_in(b, email, "/")
        home = await b.get("/")
        assert 'rel="icon" href="/static/favicon.svg"' in home.text


def _text(page: str) -> str:
    """What a person reads: the page without its tags."""
    return re.sub(r"<[^>]+>", " ", page)


async def test_times_are_shown_in_the_users_time_zone(app: FastAPI, account: Account) -> None:
    contact = await created(account.live, "/v3/contacts", {"email": "tz@example.com"})
    stamp = contact["createdAt"]
    moment = datetime.fromisoformat(stamp)
    async with browser(app) as b:
        email = await new_user(app, account.id)
        await sign_in(b, email, "/")
        shown = await b.get(f"/contacts/{contact['id']}")
        assert f'<time datetime="{stamp}">' in shown.text  # the exact instant is kept
        assert stamp not in _text(shown.text)  # never shown raw
        assert f"{moment:%Y-%m-%d %H:%M:%S} UTC" in _text(shown.text)  # the default

        settings = await b.get("/settings")
        assert settings.status_code == 200
        token = field(settings.text, "csrf_token")
        for wrong in ("Mars/Olympus_Mons", "../../etc/passwd", "", "x" * 100):
            refused = await b.post("/settings", data={"csrf_token": token, "time_zone": wrong})
            assert refused.status_code == 422, wrong
            assert 'aria-invalid="true"' in refused.text
        saved = await b.post("/settings", data={"csrf_token": token, "time_zone": "Asia/Kolkata"})
        assert saved.status_code == 303
        local = moment.astimezone(ZoneInfo("Asia/Kolkata"))
        shown = await b.get(f"/contacts/{contact['id']}")
        assert f"{local:%Y-%m-%d %H:%M:%S} IST" in _text(shown.text)
        assert f'<time datetime="{stamp}">' in shown.text
        listed = await b.get("/contacts")
        assert f'<time datetime="{stamp}">{local:%Y-%m-%d}</time>' in listed.text
        assert 'value="Asia/Kolkata" selected' in (await b.get("/settings")).text
