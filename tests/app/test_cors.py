"""CORS (SPEC §2): browsers may call the API from ACTIVECOMMERCE_CORS_ORIGINS only."""

from __future__ import annotations

import httpx
import pytest
from conftest import Account, running_app
from fastapi import FastAPI
from pydantic import ValidationError

from activecommerce.config import Settings

APP_ORIGIN = "https://app.example.com"


def _client(app: FastAPI) -> httpx.AsyncClient:
    # Not the contract-checking client: a preflight is not an operation of the document.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }


async def test_listed_origin_may_call_the_api(settings: Settings, account: Account) -> None:
    key = account.info["sandboxApiKey"]
    async with (
        running_app(settings, cors_origins=f"{APP_ORIGIN}, http://127.0.0.1:5173") as app,
        _client(app) as client,
    ):
        pre = await client.options("/v3/contacts", headers=_preflight(APP_ORIGIN))
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == APP_ORIGIN
        assert "POST" in pre.headers["access-control-allow-methods"]
        allowed = pre.headers["access-control-allow-headers"].lower()
        for header in ("authorization", "api-token", "content-type", "idempotency-key"):
            assert header in allowed
        assert "access-control-allow-credentials" not in pre.headers

        created = await client.post(
            "/v3/contacts",
            json={"email": "cors@example.com"},
            headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {key}"},
        )
        assert created.status_code == 201
        assert created.headers["access-control-allow-origin"] == APP_ORIGIN
        exposed = created.headers["access-control-expose-headers"].lower()
        for header in ("location", "retry-after", "ratelimit-remaining", "idempotent-replayed"):
            assert header in exposed
        # Errors carry the headers too, so the page can read the problem.
        refused = await client.get("/v3/contacts", headers={"Origin": APP_ORIGIN})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == APP_ORIGIN

        # Another origin gets nothing a browser would accept; the console never answers CORS.
        other = await client.options("/v3/contacts", headers=_preflight("https://evil.example"))
        assert other.status_code == 405
        assert other.headers["content-type"].startswith("application/problem+json")
        assert not [h for h in other.headers if h.startswith("access-control-")]
        read = await client.get(
            "/v3/contacts", headers={"Origin": "https://evil.example", "Api-Token": key}
        )
        assert read.status_code == 200
        assert "access-control-allow-origin" not in read.headers
        # A single-page app (a public OAuth client) exchanges its code for tokens.
        token = await client.options("/oauth/token", headers=_preflight(APP_ORIGIN))
        assert token.headers["access-control-allow-origin"] == APP_ORIGIN
        page = await client.options("/signin", headers=_preflight(APP_ORIGIN, "GET"))
        assert "access-control-allow-origin" not in page.headers


async def test_no_origin_is_allowed_by_default(app: FastAPI) -> None:
    async with _client(app) as client:
        pre = await client.options("/v3/contacts", headers=_preflight(APP_ORIGIN))
        assert pre.status_code == 405
        assert not [h for h in pre.headers if h.startswith("access-control-")]
        answer = await client.get("/v3/contacts", headers={"Origin": APP_ORIGIN})
        assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("value", ["*", "app.example.com", "https://app.example.com/path"])
def test_origins_must_be_exact_origins(value: str) -> None:
    with pytest.raises(ValidationError, match="not an origin"):
        Settings(cors_origins=value)
