"""Idempotency-Key on every POST: replays, scoping, and secrets never shown twice."""

from __future__ import annotations

import time

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import field_errors, problem

from activecommerce.config import Settings


async def test_retry_returns_the_first_response(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "order-1"}
    first = await api.post("/v3/contacts", json={"email": "i@x.io"}, headers=headers)
    assert first.status_code == 201
    again = await api.post("/v3/contacts", json={"email": "i@x.io"}, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert (await api.get("/v3/contacts")).json()["meta"]["total"] == 1


async def test_same_key_other_body_is_422(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k"}
    assert (
        await api.post("/v3/contactTags", json={"name": "a"}, headers=headers)
    ).status_code == 201
    r = await api.post("/v3/contactTags", json={"name": "b"}, headers=headers)
    assert field_errors(r) == {"Idempotency-Key"}
    r = await api.post("/v3/contactGroups", json={"name": "a"}, headers=headers)
    problem(r, 422)  # another endpoint is another request


async def test_failed_request_can_be_retried(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    assert (await api.post("/v3/contacts", json={"email": "taken@x.io"})).status_code == 201
    problem(await api.post("/v3/contacts", json={"email": "taken@x.io"}, headers=headers), 409)
    assert (await api.delete("/v3/contacts/" + (await _first_id(api)))).status_code == 204
    r = await api.post("/v3/contacts", json={"email": "taken@x.io"}, headers=headers)
    assert r.status_code == 201


async def _first_id(api: httpx.AsyncClient) -> str:
    first: str = (await api.get("/v3/contacts")).json()["data"][0]["id"]
    return first


async def test_keys_are_scoped_to_account_and_environment(account: Account, other: Account) -> None:
    headers = {"Idempotency-Key": "shared"}
    a = await account.sandbox.post("/v3/contactTags", json={"name": "x"}, headers=headers)
    b = await other.sandbox.post("/v3/contactTags", json={"name": "x"}, headers=headers)
    c = await account.live.post("/v3/contactTags", json={"name": "x"}, headers=headers)
    assert a.status_code == b.status_code == c.status_code == 201
    assert len({a.json()["id"], b.json()["id"], c.json()["id"]}) == 3
    assert "idempotent-replayed" not in b.headers


async def test_bad_key_is_422(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/v3/contactTags", json={"name": "x"}, headers={"Idempotency-Key": "k" * 300}
    )
    assert field_errors(r) == {"Idempotency-Key"}


async def test_every_post_honours_idempotency_keys(account: Account, app: FastAPI) -> None:
    api = account.live
    headers = {"Idempotency-Key": "mint-once"}
    first = await api.post("/v3/apiKeys", json={}, headers=headers)
    again = await api.post("/v3/apiKeys", json={}, headers=headers)
    assert first.status_code == again.status_code == 201
    # The replay is the first response, with the key shown once left out (issue 7, #12).
    assert again.json() == {**first.json(), "key": None}
    assert (await api.get("/v3/apiKeys")).json()["meta"]["total"] == 2  # the original + one

    hook = (
        await api.post("/v3/webhooks", json={"url": "https://hooks.example.com/x", "events": ["*"]})
    ).json()
    rotate = {"Idempotency-Key": "rotate-once"}
    r1 = await api.post(f"/v3/webhooks/{hook['id']}/rotateSecret", headers=rotate)
    r2 = await api.post(f"/v3/webhooks/{hook['id']}/rotateSecret", headers=rotate)
    assert r1.json()["secret"] != hook["secret"]
    assert r2.json() == {**r1.json(), "secret": None}

    # What is kept for replays is encrypted: no secret shown once is readable at rest.
    rows = await app.state.services.db.fetchall(
        "SELECT body FROM idempotency_keys WHERE account_id = ?", (int(account.id),)
    )
    assert len(rows) == 2  # the key minted and the secret rotated, each kept once
    for row in rows:
        for secret in (first.json()["key"], r1.json()["secret"]):
            assert secret not in row["body"]


async def test_replays_never_show_a_secret_twice(account: Account) -> None:
    api = account.live
    once = {"Idempotency-Key": "key-once"}
    first = await api.post("/v3/apiKeys", json={}, headers=once)
    assert first.json()["key"].startswith("ac_live_")
    assert (await api.delete(f"/v3/apiKeys/{first.json()['id']}")).status_code == 204
    again = await api.post("/v3/apiKeys", json={}, headers=once)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == {**first.json(), "key": None}

    hook_body = {"url": "https://hooks.example.com/x", "events": ["*"]}
    made = await api.post("/v3/webhooks", json=hook_body, headers={"Idempotency-Key": "hook"})
    assert made.json()["secret"].startswith("whsec_")
    replay = await api.post("/v3/webhooks", json=hook_body, headers={"Idempotency-Key": "hook"})
    assert replay.json() == {**made.json(), "secret": None}

    path = f"/v3/webhooks/{made.json()['id']}/rotateSecret"
    rotated = await api.post(path, headers={"Idempotency-Key": "rot"})
    await api.post(path)  # rotated once more: the first rotation's secret is old now
    replay = await api.post(path, headers={"Idempotency-Key": "rot"})
    assert rotated.json()["secret"].startswith("whsec_")
    assert replay.json()["secret"] is None
    assert replay.json()["id"] == made.json()["id"]


async def test_a_replay_does_not_run_the_checks_again(
    api: httpx.AsyncClient, blackhole_dns: str, settings: Settings, app: FastAPI
) -> None:
    body = {"url": "https://replayed.example.com/hook", "events": ["*"]}
    key = {"Idempotency-Key": "hook-replay"}
    first = await api.post("/v3/webhooks", json=body, headers=key)
    assert first.status_code == 201, first.text
    resolver = app.state.services.webhooks.resolver
    resolver.configure(2.0, [blackhole_dns])  # a lookup now takes 2 s
    try:
        started = time.perf_counter()
        again = await api.post("/v3/webhooks", json=body, headers=key)
        took = time.perf_counter() - started
    finally:
        resolver.configure(settings.dns_timeout_seconds, [])
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert took < 1.0, took
