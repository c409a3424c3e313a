"""Sign-in, sessions and CSRF (SPEC §7, §11)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import httpx
from conftest import Account, running_app
from fastapi import FastAPI
from oauthflow import PASSWORD, browser, field, new_user, sign_in
from servers import CLI, cli_env, running_server

from activecommerce.config import Settings


async def test_sign_in_sets_a_safe_session_cookie_and_signs_out(
    app: FastAPI, account: Account
) -> None:
    email = await new_user(app, account.id)
    async with browser(app) as b:
        answer = await sign_in(b, email.upper())  # emails compare case-insensitively
        assert answer.status_code == 303
        cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie")
        assert cookie.startswith("ac_session=")
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Secure" not in cookie  # the public URL is plain http here
        page = await b.get("/signin")
        assert email in page.text
        # Sign-out needs the form's CSRF token.
        refused = await b.post("/signout", data={"csrf_token": "forged"})
        assert refused.status_code == 403
        out = await b.post("/signout", data={"csrf_token": field(page.text, "csrf_token")})
        assert out.status_code == 303
        assert "Sign in" in (await b.get("/signin")).text
    # The session is gone from the database: the old cookie no longer works.
    async with browser(app) as b:
        b.cookies.set("ac_session", "anything")
        assert "Password" in (await b.get("/signin")).text


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    app: FastAPI, account: Account
) -> None:
    email = await new_user(app, account.id)
    # Each kind is tried three times, interleaved, and its fastest answer compared: the
    # machine's other work (a CI run's parallel tests) only ever adds time to one try.
    tries: dict[str, list[float]] = {"wrong password": [], "unknown email": []}
    answers = []
    async with browser(app) as b:
        for _ in range(3):
            for kind, who, password in (
                ("wrong password", email, "wrong password"),
                ("unknown email", "nobody@example.com", PASSWORD),
            ):
                page = await b.get("/signin")
                started = time.perf_counter()
                answer = await b.post(
                    "/signin",
                    data={
                        "email": who,
                        "password": password,
                        "csrf_token": field(page.text, "csrf_token"),
                        "next": "/signin",
                    },
                )
                tries[kind].append(time.perf_counter() - started)
                answers.append((answer.status_code, answer.text))
    assert all(status == 401 for status, _ in answers)
    assert all("Wrong email or password." in text for _, text in answers)
    t1, t2 = min(tries["wrong password"]), min(tries["unknown email"])
    assert max(t1, t2) < 4 * min(t1, t2)  # both pay for one Argon2 verification


async def test_forms_need_their_csrf_token(app: FastAPI, account: Account) -> None:
    email = await new_user(app, account.id)
    async with browser(app) as b:
        await b.get("/signin")
        answer = await b.post(
            "/signin", data={"email": email, "password": PASSWORD, "csrf_token": "x"}
        )
        assert answer.status_code == 403
        assert "ac_session" not in answer.headers.get("set-cookie", "")
    async with browser(app) as b:  # a token without its cookie (another site's form)
        page = await b.get("/signin")
        token = field(page.text, "csrf_token")
    async with browser(app) as b:
        answer = await b.post(
            "/signin", data={"email": email, "password": PASSWORD, "csrf_token": token}
        )
        assert answer.status_code == 403


async def test_failed_sign_ins_are_slowed_per_email(settings: Settings, account: Account) -> None:
    async with running_app(
        settings, rate_limit_enabled=True, signin_failures_per_email=3
    ) as limited:
        email = await new_user(limited, account.id)
        async with browser(limited) as b:
            statuses = []
            for _ in range(5):
                page = await b.get("/signin")
                answer = await b.post(
                    "/signin",
                    data={
                        "email": email,
                        "password": "wrong password",
                        "csrf_token": field(page.text, "csrf_token"),
                    },
                )
                statuses.append(answer.status_code)
            assert statuses == [401, 401, 401, 429, 429]
            assert int(answer.headers["retry-after"]) >= 1


def test_cli_makes_owners_users_and_oauth_clients(database_url: str, tmp_path: Path) -> None:
    env = cli_env(ACTIVECOMMERCE_DATABASE_URL=database_url, ACTIVECOMMERCE_DATA_DIR=str(tmp_path))

    def run(*args: str) -> dict[str, object]:
        out = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, check=True)
        return dict(json.loads(out.stdout))

    owner = f"owner-{time.time_ns()}@example.com"
    info = run(
        "accounts", "create", "--name", "Acme", "--plan", "lite", "--owner-email", owner, "--json"
    )
    assert isinstance(info["ownerPassword"], str)
    account_id = str(info["accountId"])
    member = run(
        "users",
        "create",
        "--account",
        account_id,
        "--email",
        f"m-{time.time_ns()}@example.com",
        "--password",
        "long enough pw",
        "--json",
    )
    assert member["role"] == "member"
    client = run(
        "oauth-clients",
        "create",
        "--account",
        account_id,
        "--env",
        "live",
        "--scopes",
        "contacts:read deals:read",
        "--redirect-uri",
        "https://app.example/cb",
        "--json",
    )
    assert str(client["clientSecret"]).startswith("ac_secret_")
    assert client["environment"] == "live"
    public = run(
        "oauth-clients",
        "create",
        "--account",
        account_id,
        "--env",
        "sandbox",
        "--scopes",
        "contacts:read",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--public",
        "--json",
    )
    assert "clientSecret" not in public
    # The same email again (any case): that user, with the password they have, owns it too.
    second = run("accounts", "create", "--name", "B", "--owner-email", owner.upper(), "--json")
    assert second["ownerPassword"] is None
    assert second["owner"]["userId"] == info["owner"]["userId"]  # type: ignore[index]


def test_serve_prints_the_developer_owners_sign_in(tmp_path: Path) -> None:
    env = cli_env(ACTIVECOMMERCE_DATA_DIR=str(tmp_path / "data"))
    with running_server(env, tmp_path / "serve.log") as (base, log):
        text = log.read_text()
        assert f"{base}/signin" in text
        email = re.search(r"email\s+(\S+@\S+)", text)
        password = re.search(r"password\s+(\S+)", text)
        assert email, text
        assert password, text
        with httpx.Client(base_url=base) as b:
            page = b.get("/signin")
            answer = b.post(
                "/signin",
                data={
                    "email": email.group(1),
                    "password": password.group(1),
                    "csrf_token": field(page.text, "csrf_token"),
                },
            )
            assert answer.status_code == 303, answer.text
