"""The client address the rate limits count against: behind trusted proxies, never a
spoofed X-Forwarded-For; requests no route takes are limited too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from helpers import client_from as _from
from helpers import new_key as _key
from helpers import problem
from servers import cli_account, running_server, server_env

from activecommerce.app import create_app
from activecommerce.config import Settings


@pytest.fixture(scope="module")
async def limited(settings: Settings) -> AsyncIterator[FastAPI]:
    application = await _limited_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
async def behind_proxy(settings: Settings) -> AsyncIterator[FastAPI]:
    application = await _limited_app(settings, trusted_proxies="10.99.0.0/16, 10.98.0.1")
    async with application.router.lifespan_context(application):
        yield application


async def _limited_app(settings: Settings, **update: object) -> FastAPI:
    limited = settings.model_copy(
        update={"rate_limit_enabled": True, "anonymous_rate": 6, **update}
    )
    return create_app(limited)


async def test_valid_key_from_address_over_failure_budget_is_served(limited: FastAPI) -> None:
    key = await _key(limited)
    guesser = _from(limited, "10.7.0.1")
    codes = [
        (await guesser.get("/v3/contacts", headers={"Api-Token": f"ac_test_x{i}"})).status_code
        for i in range(8)
    ]
    assert codes == [401] * 6 + [429] * 2
    refused = await guesser.get("/v3/contacts")  # no key at all: also over the budget
    problem(refused, 429)
    assert refused.headers["retry-after"] == "1"  # a one-second window
    right = await _from(limited, "10.7.0.1", key).get("/v3/contacts")
    assert right.status_code == 200, right.text
    assert right.headers["ratelimit-limit"] == str(limited.state.services.limiter.rate_for("lite"))


async def test_trusted_proxy_forwarded_address_is_used(behind_proxy: FastAPI) -> None:
    proxy = _from(behind_proxy, "10.99.1.1")

    async def bad(forwarded: str) -> int:
        headers = {"Api-Token": "ac_test_wrong", "X-Forwarded-For": forwarded}
        return (await proxy.get("/v3/contacts", headers=headers)).status_code

    # Each client behind the proxy has its own budget...
    assert [await bad("203.0.113.1") for _ in range(7)] == [401] * 6 + [429]
    assert await bad("203.0.113.2") == 401
    # ...read from the right, past trusted proxies: what the client wrote on the left of
    # its own address (a spoofed "victim") is not believed.
    assert await bad("203.0.113.2, 203.0.113.1, 10.98.0.1") == 429
    assert [await bad("198.51.100.7, 203.0.113.3") for _ in range(6)] == [401] * 6
    assert await bad("198.51.100.9, 203.0.113.3") == 429
    # From a peer that is not a trusted proxy the header means nothing.
    direct = _from(behind_proxy, "192.0.2.50")
    headers = {"Api-Token": "ac_test_wrong"}
    codes = [
        (
            await direct.get("/v3/contacts", headers={**headers, "X-Forwarded-For": f"10.0.0.{i}"})
        ).status_code
        for i in range(7)
    ]
    assert codes == [401] * 6 + [429]


def test_rotating_forwarded_for_from_loopback_does_not_reset_budget(
    database_url: str, tmp_path: Path
) -> None:
    """A real server (uvicorn trusted X-Forwarded-For from loopback by default)."""
    env = server_env(
        database_url,
        tmp_path,
        ACTIVECOMMERCE_RATE_LIMIT_ENABLED="true",
        ACTIVECOMMERCE_ANONYMOUS_RATE="5",
    )
    key = cli_account(env, "lite")["sandboxApiKey"]
    with running_server(env, tmp_path / "serve.log") as (base, _), httpx.Client() as client:
        codes = [
            client.get(
                f"{base}/v3/contacts",
                headers={"Api-Token": f"ac_test_guess{i}", "X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
            for i in range(8)
        ]
        assert codes == [401] * 5 + [429] * 3, codes
        # Spoofing the victim's address does not touch the victim's budget either, and a
        # right key from the guesser's own address is still served.
        assert client.get(f"{base}/v3/contacts", headers={"Api-Token": key}).status_code == 200


async def test_unknown_path_without_credentials_counts_against_address(limited: FastAPI) -> None:
    anon = _from(limited, "10.13.0.1")
    codes = [(await anon.get(f"/v3/nothing/{i}")).status_code for i in range(6)]
    codes.append((await anon.put("/v3/contacts")).status_code)  # 405 counts too
    codes.append((await anon.get("/nothing")).status_code)
    assert codes == [404] * 6 + [429, 429], codes
    over = await anon.get("/v3/nothing")
    problem(over, 429)
    assert over.headers["retry-after"] == "1"
    assert over.headers["ratelimit-remaining"] == "0"
    # A wrong key on an unknown path is a failed authentication (and over the budget).
    assert (await _from(limited, "10.13.0.1", "ac_test_wrong").get("/x")).status_code == 429
    # The probes and the document are not limited.
    assert (await anon.get("/healthz")).status_code == 200
    assert (await anon.get("/v3/openapi.json")).status_code == 200


async def test_unknown_path_with_key_is_authenticated(limited: FastAPI) -> None:
    wrong = _from(limited, "10.13.0.2", "ac_test_wrong")
    problem(await wrong.get("/v3/nothing"), 401)
    problem(await wrong.delete("/v3/contacts"), 401)  # 405 without a right key: 401
    key = await _key(limited)
    right = _from(limited, "10.13.0.3", key)
    missing = await right.get("/v3/nothing")
    problem(missing, 404)
    assert missing.headers["ratelimit-limit"] == str(
        limited.state.services.limiter.rate_for("lite")
    )
    limit = int(missing.headers["ratelimit-limit"])
    assert int(missing.headers["ratelimit-remaining"]) == limit - 1
    again = await right.get("/v3/nothing")
    assert int(again.headers["ratelimit-remaining"]) == limit - 2
