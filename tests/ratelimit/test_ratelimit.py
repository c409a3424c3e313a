"""Per-plan rate limits (SPEC §4) through the API, with the windows in memory and in Redis:
headers, 429 with an honest Retry-After, separate budgets, the per-address limit on failed
authentication, and Redis shared by processes."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from contract import asgi_client
from fastapi import FastAPI
from helpers import problem, redis_url
from servers import cli_account, running_server, server_env

from activecommerce.accounts.service import create_account, set_plan
from activecommerce.app import create_app
from activecommerce.config import DEFAULT_PLAN_RATES as PLAN_RATES
from activecommerce.config import Settings


@pytest.fixture(scope="module", params=["memory", "redis"])
async def limited(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    """An app with small rates, its windows in process memory or in the real Redis."""
    storage: dict[str, object] = {}
    if request.param == "redis":
        storage = {
            "redis_url": redis_url(),
            "rate_limit_prefix": f"ac-test-{uuid.uuid4().hex[:8]}",
        }
    limited_settings = settings.model_copy(
        update={
            "rate_limit_enabled": True,
            "plan_rates": {**PLAN_RATES, "lite": 5, "plus": 8},
            "anonymous_rate": 6,
            **storage,
        }
    )
    application = create_app(limited_settings)
    async with application.router.lifespan_context(application):
        yield application


async def _client(app: FastAPI, plan: str, address: str = "10.0.0.1") -> httpx.AsyncClient:
    info = await create_account(
        app.state.services.db, app.state.services.authenticator.secret, name="R", plan=plan
    )
    client = asgi_client(app, headers={"Api-Token": info["sandboxApiKey"]}, client=(address, 1234))
    client.account_id = info["accountId"]  # type: ignore[attr-defined]
    return client


async def test_headers_and_429_with_honest_retry_after(limited: FastAPI) -> None:
    api = await _client(limited, "lite")
    first = await api.get("/v3/contacts")
    assert first.status_code == 200
    assert first.headers["ratelimit-limit"] == "5"
    assert first.headers["ratelimit-remaining"] == "4"
    assert 0 <= int(first.headers["ratelimit-reset"]) <= 1
    codes = [(await api.get("/v3/contacts")).status_code for _ in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]
    refused = await api.get("/v3/contacts/1")
    body = problem(refused, 429)
    assert "5 requests per second" in body["detail"]
    retry_after = int(refused.headers["retry-after"])
    assert retry_after >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
    await asyncio.sleep(retry_after)  # the scenario: Retry-After is honest
    assert (await api.get("/v3/contacts")).status_code == 200
    # Errors of an authenticated request carry the headers too.
    missing = await api.get("/v3/contacts/999999999")
    assert missing.status_code == 404
    assert "ratelimit-limit" in missing.headers


async def test_accounts_do_not_share_a_budget(limited: FastAPI) -> None:
    a, b = await _client(limited, "lite"), await _client(limited, "lite")
    assert [(await a.get("/v3/contacts")).status_code for _ in range(6)][-1] == 429
    assert (await b.get("/v3/contacts")).status_code == 200


async def test_new_plan_applies_from_the_next_request(limited: FastAPI) -> None:
    api = await _client(limited, "lite")
    assert (await api.get("/v3/contacts")).headers["ratelimit-limit"] == "5"
    await set_plan(limited.state.services.db, int(api.account_id), "plus")  # type: ignore[attr-defined]
    assert (await api.get("/v3/contacts")).headers["ratelimit-limit"] == "8"


async def test_failed_authentication_is_limited_per_address(limited: FastAPI) -> None:
    api = await _client(limited, "lite", address="10.9.9.9")
    guesser = asgi_client(limited, client=("10.9.9.9", 999))
    codes = [
        (await guesser.get("/v3/contacts", headers={"Api-Token": f"ac_test_guess{i}"})).status_code
        for i in range(8)
    ]
    assert codes[:6] == [401] * 6
    assert codes[6:] == [429, 429]
    # While over the budget, a right key from that address is still served (and counted
    # against its account): failures from a shared address must not lock its keys out.
    assert (await api.get("/v3/contacts")).status_code == 200
    other_address = await _client(limited, "lite", address="10.1.1.1")
    assert (await other_address.get("/v3/contacts")).status_code == 200


def _accepted_at_double_rate(bases: list[str], key: str, rate: int, seconds: float) -> int:
    """Send 2 x rate requests per second for `seconds`, round-robin over the servers."""
    interval = 1.0 / (2 * rate)
    clients = [httpx.Client(base_url=b, headers={"Api-Token": key}) for b in bases]
    accepted = 0
    start = time.monotonic()
    n = 0
    try:
        while time.monotonic() - start < seconds:
            r = clients[n % len(clients)].get("/v3/contacts", params={"pageSize": 1})
            assert r.status_code in (200, 429), r.text
            accepted += r.status_code == 200
            n += 1
            time.sleep(max(0.0, start + n * interval - time.monotonic()))  # the pace
        assert n >= 2 * rate * seconds * 0.8, "the sender could not keep the pace"
    finally:
        for c in clients:
            c.close()
    return accepted


def test_two_processes_share_one_budget_in_redis(database_url: str, tmp_path: Path) -> None:
    prefix = f"ac-test-{uuid.uuid4().hex[:8]}"
    env = server_env(
        database_url,
        tmp_path,
        ACTIVECOMMERCE_REDIS_URL=redis_url(),
        ACTIVECOMMERCE_RATE_LIMIT_PREFIX=prefix,
        ACTIVECOMMERCE_RATE_LIMIT_ENABLED="true",
        ACTIVECOMMERCE_PLAN_RATES=json.dumps({"lite": 10}),
    )
    info = cli_account(env, "lite")
    with (
        running_server(env, tmp_path / "a.log") as (base_a, _),
        running_server(env, tmp_path / "b.log") as (base_b, _),
    ):
        seconds = 3.0
        accepted = _accepted_at_double_rate([base_a, base_b], info["sandboxApiKey"], 10, seconds)
        # A moving one-second window: at most `rate` in any second, so about rate x seconds
        # in all (one window's worth of slack at the edges).
        assert 10 * seconds * 0.8 <= accepted <= 10 * (seconds + 1), accepted

        # A key revoked through one process is refused at once by the other.
        time.sleep(1.1)  # the scenario: a fresh one-second window
        headers = {"Api-Token": info["sandboxApiKey"]}
        made = httpx.post(f"{base_a}/v3/apiKeys", json={}, headers=headers).json()
        new = {"Api-Token": made["key"]}
        assert httpx.get(f"{base_b}/v3/contacts", headers=new).status_code == 200
        assert httpx.delete(f"{base_a}/v3/apiKeys/{made['id']}", headers=headers).status_code == 204
        assert httpx.get(f"{base_b}/v3/contacts", headers=new).status_code == 401


def test_redis_down_fails_open(database_url: str, tmp_path: Path) -> None:
    env = server_env(
        database_url,
        tmp_path,
        ACTIVECOMMERCE_REDIS_URL="redis://127.0.0.1:1/0",  # nothing listens there
        ACTIVECOMMERCE_RATE_LIMIT_ENABLED="true",
    )
    key = cli_account(env, "free")["sandboxApiKey"]
    with running_server(env, tmp_path / "serve.log") as (base, log):
        codes = [
            httpx.get(f"{base}/v3/contacts", headers={"Api-Token": key}).status_code
            for _ in range(15)
        ]
        assert codes == [200] * 15  # over the free plan's 10/s, but nothing to count with
        assert "rate-limit storage failed" in log.read_text()


def test_retry_after_is_whole_seconds() -> None:
    from activecommerce.ratelimit.service import Decision

    assert Decision(False, 10, 0, 0).retry_after == 1
    assert Decision(False, 10, 0, math.ceil(0.2)).retry_after == 1
