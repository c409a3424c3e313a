"""The console's frame over HTTP, in process (no browser): headers, static files, the
redirect to sign-in, that every console route is CSRF-checked, the users' rules."""

from __future__ import annotations

import pytest
from conftest import Account
from fastapi import FastAPI
from fastapi.routing import APIRoute
from oauthflow import browser, field, new_user, sign_in

from activecommerce.kit.problems import Problem
from activecommerce.users import service
from activecommerce.web.console import ConsoleRoute, csrf_protect
from activecommerce.web.routes import CONSOLE_ROUTERS


def test_every_console_route_is_csrf_checked_and_answers_with_pages() -> None:
    for router in CONSOLE_ROUTERS:
        assert any(d.dependency is csrf_protect for d in router.dependencies)
        for route in router.routes:
            assert isinstance(route, APIRoute)
            assert isinstance(route, ConsoleRoute), route.path


async def test_pages_carry_a_strict_csp_and_static_files_are_cached(
    app: FastAPI, account: Account
) -> None:
    email = await new_user(app, account.id)
    async with browser(app) as b:
        assert (await sign_in(b, email, "/")).status_code == 303
        home = await b.get("/")
        assert home.status_code == 200
        csp = home.headers["content-security-policy"]
        assert "script-src 'self';" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert home.headers["x-frame-options"] == "DENY"
        assert home.headers["cache-control"] == "no-store"
        assert "<script>" not in home.text  # no inline script
        assert " style=" not in home.text  # no inline style
        css = await b.get("/static/vendor/pico-2.1.1/pico.min.css")
        assert css.status_code == 200
        assert "immutable" in css.headers["cache-control"]
        own = await b.get("/static/console.css")
        assert own.headers["cache-control"] == "no-cache"
        assert (await b.get("/static/../pages.py")).status_code == 404


async def test_signed_out_pages_redirect_to_the_sign_in_page(app: FastAPI) -> None:
    async with browser(app) as b:
        answer = await b.get("/users?x=1")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/signin?next=/users%3Fx%3D1"
        # A post without a session is refused before anything else.
        assert (await b.post("/environment", data={"env": "live"})).status_code == 403


async def test_a_cross_origin_post_is_refused_even_with_the_token(
    app: FastAPI, account: Account
) -> None:
    email = await new_user(app, account.id)
    async with browser(app) as b:
        await sign_in(b, email, "/")
        token = field((await b.get("/account/password")).text, "csrf_token")
        data = {"env": "sandbox", "csrf_token": token, "next": "/"}
        refused = await b.post("/environment", data=data, headers={"Origin": "http://evil.test"})
        assert refused.status_code == 403
        assert "text/html" in refused.headers["content-type"]
        cross = await b.post("/environment", data=data, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
        ok = await b.post("/environment", data=data, headers={"Origin": "http://127.0.0.1:8000"})
        assert ok.status_code == 303
        # htmx sends the token as a header; a fragment request gets HX-Redirect.
        htmx = await b.post(
            "/environment",
            data={"env": "live"},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert htmx.status_code == 204
        assert htmx.headers["hx-redirect"] == "/"


async def test_an_account_keeps_an_owner(app: FastAPI, account: Account, other: Account) -> None:
    db = app.state.services.db
    passwords = app.state.services.sessions.passwords
    members = await service.members(db, int(account.id))
    assert members == []  # the test account has no users yet
    owner = await new_user(app, account.id)
    (only,) = await service.members(db, int(account.id))
    assert only["email"] == owner
    with pytest.raises(Problem) as demoted:
        await service.set_role(db, int(account.id), only["userId"], "member")
    assert demoted.value.status == 409
    with pytest.raises(Problem) as removed:
        await service.remove_member(db, int(account.id), only["userId"])
    assert removed.value.status == 409
    with pytest.raises(Problem) as no_password:
        await service.add_user(db, passwords, int(account.id), "new@example.com", None, "member")
    assert no_password.value.errors == [
        {"field": "password", "message": "a new user needs a password"}
    ]
    # An existing user joins another account with their own password.
    await service.add_user(db, passwords, int(other.id), owner.upper(), None, "member")
    with pytest.raises(Problem) as twice:
        await service.add_user(db, passwords, int(other.id), owner, None, "member")
    assert twice.value.status == 409
