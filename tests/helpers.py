"""Assertions and small steps shared by the tests."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from contract import asgi_client
from fastapi import FastAPI

EMAIL = {"name": "Launch", "subject": "Hi {{ contact.firstName }}", "fromEmail": "news@shop.io"}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem with this status, and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == f"https://activecommerce.dev/problems/{status}", body
    assert isinstance(body["title"], str)
    assert body["title"]
    return body


def field_errors(response: httpx.Response) -> set[str]:
    return {e["field"] for e in problem(response, 422)["errors"]}


# ---------------------------------------------------------------- waiting


async def wait_for(
    predicate: Callable[[], bool | Awaitable[bool]],
    timeout: float = 10.0,  # noqa: ASYNC109 - the deadline is what this helper is for
    what: str = "the condition",
    interval: float = 0.02,
) -> None:
    """Poll `predicate` (plain or async) until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        held = predicate()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


def wait_until(
    predicate: Callable[[], bool],
    timeout: float = 10.0,
    what: str = "the condition",
    interval: float = 0.05,
) -> None:
    """`wait_for` for synchronous tests (real processes, threads)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- making things


async def created(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST `body` to `path`, assert a 201, and return the object."""
    r = await api.post(path, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def new_hook(
    api: httpx.AsyncClient, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    r = await api.post("/v3/webhooks", json={"url": url, "events": events or ["*"]})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def new_pipeline(
    api: httpx.AsyncClient, name: str = "Sales", **extra: object
) -> dict[str, Any]:
    r = await api.post("/v3/pipelines", json={"name": name, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def new_stage(
    api: httpx.AsyncClient, pipeline_id: str, name: str = "Lead", order: int = 0
) -> dict[str, Any]:
    r = await api.post(
        "/v3/dealStages", json={"pipelineId": pipeline_id, "name": name, "order": order}
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def deal_setup(
    api: httpx.AsyncClient,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A pipeline, a stage, a status, and a deal in them that names a contact."""
    pipeline = await created(api, "/v3/pipelines", {"name": "Sales"})
    stage = await created(api, "/v3/dealStages", {"pipelineId": pipeline["id"], "name": "Lead"})
    status = await created(api, "/v3/dealStatuses", {"pipelineId": pipeline["id"], "name": "Hot"})
    contact = await created(api, "/v3/contacts", {"email": "deal@owner.io"})
    deal = await created(
        api,
        "/v3/deals",
        {
            "name": "Big",
            "pipelineId": pipeline["id"],
            "stageId": stage["id"],
            "status": status["id"],
            "contact": contact["id"],
        },
    )
    return pipeline, stage, status, deal


async def recorded_events(
    app: FastAPI, account: Any, *types: str
) -> list[tuple[str, dict[str, Any]]]:
    """The account's events of these types, oldest first, as (type, data)."""
    rows = await app.state.services.db.fetchall(
        "SELECT type, data FROM events WHERE account_id = ? ORDER BY id", (int(account.id),)
    )
    return [(r["type"], orjson.loads(r["data"])) for r in rows if r["type"] in types]


def client_from(app: FastAPI, address: str, key: str | None = None) -> httpx.AsyncClient:
    """A client of `app` whose requests come from `address` (with this key, if any)."""
    return asgi_client(app, headers={"Api-Token": key} if key else {}, client=(address, 4321))


async def new_key(app: FastAPI, plan: str = "lite") -> str:
    """The sandbox key of a new account on this plan."""
    from activecommerce.accounts.service import create_account

    info = await create_account(
        app.state.services.db, app.state.services.authenticator.secret, name="O", plan=plan
    )
    return str(info["sandboxApiKey"])


def redis_url() -> str:
    """CI names its Redis (ACTIVECOMMERCE_TEST_REDIS_URL) and the test must then run; on a
    machine with only Python, the Redis test is skipped when none answers on the default."""
    configured = os.environ.get("ACTIVECOMMERCE_TEST_REDIS_URL")
    if configured:
        return configured
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379 (set ACTIVECOMMERCE_TEST_REDIS_URL)")
    return "redis://127.0.0.1:6379/0"


POSTAL_ADDRESS = "1 Main St, Springfield"


async def give_postal_address(api: httpx.AsyncClient, address: str = POSTAL_ADDRESS) -> None:
    """The account's default postal address (`PATCH /v3/account`): live marketing email
    is refused (422) without one, its brand's or this."""
    r = await api.patch("/v3/account", json={"postalAddress": address})
    assert r.status_code == 200, r.text
