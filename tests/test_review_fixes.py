"""Regressions found by review: id reuse, constraint races, filter values, Unicode case,
idempotency on every POST, secrets at rest, SSRF spellings, 405 Allow, strict paging."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import Account
from fastapi import FastAPI
from helpers import field_errors, problem

from activecommerce.webhooks.delivery import _still_wanted
from activecommerce.webhooks.ssrf import Policy, refusal, target


async def test_ids_are_never_reused(api: httpx.AsyncClient) -> None:
    first = (await api.post("/v3/contacts", json={"email": "a@reuse.io"})).json()
    assert (await api.delete(f"/v3/contacts/{first['id']}")).status_code == 204
    second = (await api.post("/v3/contacts", json={"email": "b@reuse.io"})).json()
    assert second["id"] != first["id"]
    problem(await api.delete(f"/v3/contacts/{first['id']}"), 404)
    assert (await api.get(f"/v3/contacts/{second['id']}")).status_code == 200


def test_deliveries_go_only_where_they_are_wanted() -> None:
    hook = {"active": True, "account_id": 1, "env": "sandbox", "events": '["contact.created"]'}
    event = {"account_id": 1, "env": "sandbox", "type": "contact.created"}
    assert _still_wanted(hook, event)
    assert not _still_wanted({**hook, "account_id": 2}, event)
    assert not _still_wanted({**hook, "env": "live"}, event)
    assert not _still_wanted({**hook, "events": '["deal.created"]'}, event)
    assert not _still_wanted({**hook, "active": False}, event)
    assert not _still_wanted(None, event)


async def test_racing_writes_and_deletes_never_fail_with_500(api: httpx.AsyncClient) -> None:
    for round_ in range(6):
        p = (await api.post("/v3/pipelines", json={"name": f"race{round_}"})).json()
        s = (await api.post("/v3/dealStages", json={"pipelineId": p["id"], "name": "S"})).json()
        deal = {"name": "D", "pipelineId": p["id"], "stageId": s["id"]}
        results = await asyncio.gather(
            *(api.post("/v3/deals", json=deal) for _ in range(4)),
            api.delete(f"/v3/dealStages/{s['id']}"),
            api.delete(f"/v3/pipelines/{p['id']}"),
        )
        for r in results:
            assert r.status_code < 500, r.text
        contact = (await api.post("/v3/contacts", json={"email": f"r{round_}@race.io"})).json()
        tag = (await api.post("/v3/contactTags", json={"name": f"race{round_}"})).json()
        results = await asyncio.gather(
            *(api.put(f"/v3/contacts/{contact['id']}/tags/{tag['id']}") for _ in range(3)),
            api.delete(f"/v3/contactTags/{tag['id']}"),
            api.delete(f"/v3/contacts/{contact['id']}"),
        )
        for r in results:
            assert r.status_code < 500, r.text


async def test_filter_values_are_checked(api: httpx.AsyncClient) -> None:
    await api.post("/v3/contacts", json={"email": "f@filter.io"})
    for params in ({"q": "\x00"}, {"email": "a\x00b"}, {"q": "a" * 300}, {"q": "%" * 300}):
        r = await api.get("/v3/contacts", params=params)
        assert r.status_code == 422, (params, r.status_code)
    assert (await api.get("/v3/contacts", params={"q": "f@filter"})).json()["meta"]["total"] == 1


async def test_email_case_is_folded_beyond_ascii(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v3/contacts", json={"email": "Änn@example.com"})).status_code == 201
    problem(await api.post("/v3/contacts", json={"email": "änn@example.com"}), 409)
    found = await api.get("/v3/contacts", params={"email": "äNN@EXAMPLE.com"})
    assert [c["email"] for c in found.json()["data"]] == ["Änn@example.com"]
    assert (await api.get("/v3/contacts", params={"q": "ÄNN"})).json()["meta"]["total"] == 1


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
    assert rows
    for row in rows:
        for secret in (first.json()["key"], r1.json()["secret"]):
            assert secret not in row["body"]


@pytest.mark.parametrize(
    "address",
    ["2002:a9fe:a9fe::", "2002:0a00:0001::", "fec0::1", "2001:0:4136:e378:8000:63bf:f5ff:fffe"],
)
def test_ipv4_inside_ipv6_and_site_local_are_judged(address: str) -> None:
    import ipaddress

    assert refusal(ipaddress.ip_address(address), Policy()) is not None


async def test_trailing_dots_do_not_hide_private_hosts(account: Account) -> None:
    assert target("http://10.0.0.1./x")[1] == "10.0.0.1"
    for url in ("http://192.168.1.1./", "http://10.0.0.1.:8080/", "http://169.254.169.254./"):
        r = await account.live.post("/v3/webhooks", json={"url": url, "events": ["*"]})
        assert field_errors(r) == {"url"}, url


async def test_405_names_every_allowed_method(api: httpx.AsyncClient) -> None:
    r = await api.patch("/v3/contacts")
    problem(r, 405)
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}
    r = await api.patch("/v3/contacts/1/tags/1")
    assert set(r.headers["allow"].split(", ")) == {"PUT", "DELETE"}


async def test_paging_takes_plain_digits_only(api: httpx.AsyncClient) -> None:
    for bad in ("1_0", "+1", "1.0", " 1", "١"):
        assert "page" in field_errors(await api.get("/v3/contacts", params={"page": bad}))
    for path in ("/v3/apiKeys", "/v3/contactTags"):
        assert "pageSize" in field_errors(await api.get(path, params={"pageSize": "2_0"}))
