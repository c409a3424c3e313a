from __future__ import annotations

import httpx
from conftest import Account
from helpers import field_errors, problem


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
    assert "Idempotency-Key" in field_errors(r)
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
    return (await api.get("/v3/contacts")).json()["data"][0]["id"]


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
    assert "Idempotency-Key" in field_errors(r)
