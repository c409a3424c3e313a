"""The webhooks resource: validation, another account's webhooks, DNS outside the
transaction, bad hosts, re-enabling."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from conftest import Account, Blackhole
from fastapi import FastAPI
from helpers import created as _created
from helpers import field_errors, problem, wait_for
from helpers import new_hook as _hook

from activecommerce.webhooks.ssrf import Policy, UnsafeAddress, checked_address


async def test_webhook_dns_is_resolved_outside_the_transaction(
    api: httpx.AsyncClient, other: Account, dns_via: Blackhole
) -> None:
    """Twelve webhooks to a name whose DNS never answers (more than the PostgreSQL pool
    holds; on SQLite each would hold the one writer) while another tenant creates a
    contact: the contact is not kept waiting."""
    body = {"url": "https://never-answers.example.com/hook", "events": ["*"]}
    hooks = [asyncio.create_task(api.post("/v3/webhooks", json=body)) for _ in range(12)]
    name = "never-answers.example.com"
    await wait_for(lambda: dns_via.lookups(name) >= 12, 5.0, "the lookups under way")
    started = time.perf_counter()
    r = await other.sandbox.post("/v3/contacts", json={"email": "not@kept-waiting.io"})
    waited = time.perf_counter() - started
    assert r.status_code == 201, r.text
    assert waited < 0.5, waited
    for answer in await asyncio.gather(*hooks):
        # A name that does not resolve yet is accepted; it is checked at every delivery.
        assert answer.status_code == 201, answer.text


async def test_turning_a_webhook_on_starts_a_new_failure_streak(
    app: FastAPI, account: Account
) -> None:
    api = account.sandbox
    hook = await _created(api, "/v3/webhooks", {"url": "http://127.0.0.1:9/x", "events": ["*"]})
    async with app.state.services.db.transaction() as conn:
        await conn.execute(
            "UPDATE webhooks SET active = ?, disabled_reason = 'failing',"
            " consecutive_failures = 60, failing_since = '2026-01-01T00:00:00.000000Z'"
            " WHERE id = ?",
            (False, int(hook["id"])),
        )
    edited = (await api.patch(f"/v3/webhooks/{hook['id']}", json={"description": "x"})).json()
    assert (edited["active"], edited["consecutiveFailures"]) == (False, 60)
    assert edited["failingSince"].startswith("2026-01-01")
    on = (await api.patch(f"/v3/webhooks/{hook['id']}", json={"active": True})).json()
    assert on["active"]
    assert on["disabledReason"] is None
    assert (on["consecutiveFailures"], on["failingSince"]) == (0, None)


async def test_webhook_validation(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/v3/webhooks",
        json={"url": "https://hooks.example.com/in", "events": ["contact.created", "*"]},
    )
    assert r.status_code == 201, r.text
    w = r.json()
    assert w["active"] is True
    assert w["events"] == ["contact.created", "*"]
    for bad, field in (
        ({"url": "ftp://x.io/a", "events": ["*"]}, "url"),
        ({"url": "not a url", "events": ["*"]}, "url"),
        ({"url": "https://x.io/a", "events": []}, "events"),
        ({"url": "https://x.io/a", "events": ["contact.exploded"]}, "events.0"),
        ({"url": "https://x.io/a", "events": ["*"], "active": "yes"}, "active"),
    ):
        assert field_errors(await api.post("/v3/webhooks", json=bad)) == {field}, bad
    r = await api.patch(f"/v3/webhooks/{w['id']}", json={"active": False})
    assert r.json()["active"] is False


async def test_deliveries_of_another_account_are_404(account: Account, other: Account) -> None:
    hook = await _hook(account.sandbox, "http://127.0.0.1:1/x")
    problem(await other.sandbox.get(f"/v3/webhooks/{hook['id']}/deliveries"), 404)
    problem(await other.sandbox.post(f"/v3/webhooks/{hook['id']}/rotateSecret"), 404)


async def test_bad_webhook_hosts_are_422(api: httpx.AsyncClient) -> None:
    for url in (
        "http://a..b/",
        f"http://{'x' * 64}.example.com/",
        "http://.com/",
        "http://-lead.example.com/",
        "http://trail-.example.com/",
        "http:///nohost",
        "http://[::1/",
        "http://" + ".".join(["abcdefghi"] * 26) + "/",  # 259 characters
    ):
        r = await api.post("/v3/webhooks", json={"url": url, "events": ["*"]})
        assert field_errors(r) == {"url"}, (url, r.text)
    for url in ("http://bücher.example/", "http://[::1]:9/", "http://a_b.example.com./"):
        r = await api.post("/v3/webhooks", json={"url": url, "events": ["*"]})
        assert r.status_code == 201, (url, r.text)
    # A bad name already stored (from before this check) fails its delivery, no crash.
    with pytest.raises(UnsafeAddress):
        await checked_address("http://a..b/", Policy())
