"""Regression tests for the defects an attack review found (issue 7): lost updates,
templates that stall the server, side effects without events, replays that show
secrets twice, oversized answers. Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import Account
from fastapi import FastAPI
from helpers import field_errors, problem

from activecommerce.campaigns.service import email_campaigns
from activecommerce.config import Settings
from activecommerce.kit.db import Availability, DatabaseUnavailable
from activecommerce.kit.principal import Principal
from activecommerce.webhooks import ssrf

EMAIL = {"name": "Launch", "subject": "Hi {{ contact.firstName }}", "fromEmail": "news@shop.io"}


async def _created(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(path, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _events(app: FastAPI, account: Account, *types: str) -> list[tuple[str, dict]]:
    rows = await app.state.services.db.fetchall(
        "SELECT type, data FROM events WHERE account_id = ? ORDER BY id", (int(account.id),)
    )
    return [(r["type"], orjson.loads(r["data"])) for r in rows if r["type"] in types]


# ---------------------------------------------------------------- 1. lost updates


async def test_parallel_patches_of_different_fields_all_survive(api: httpx.AsyncClient) -> None:
    contacts = [await _created(api, "/v3/contacts", {"email": f"p{i}@race.io"}) for i in range(30)]

    async def patch(contact: dict, body: dict) -> None:
        r = await api.patch(f"/v3/contacts/{contact['id']}", json=body)
        assert r.status_code == 200, r.text

    await asyncio.gather(
        *(
            patch(c, body)
            for c in contacts
            for body in ({"status": "unsubscribed"}, {"firstName": "Ann"}, {"phone": "+1 555"})
        )
    )
    for c in contacts:
        now = (await api.get(f"/v3/contacts/{c['id']}")).json()
        assert (now["status"], now["firstName"], now["phone"]) == ("unsubscribed", "Ann", "+1 555")


async def test_parallel_patches_of_a_deal_all_survive(api: httpx.AsyncClient) -> None:
    pipeline = await _created(api, "/v3/pipelines", {"name": "Sales"})
    stage = await _created(api, "/v3/dealStages", {"pipelineId": pipeline["id"], "name": "Won"})
    deals = [
        await _created(
            api,
            "/v3/deals",
            {"name": f"D{i}", "pipelineId": pipeline["id"], "stageId": stage["id"]},
        )
        for i in range(20)
    ]
    changes = ({"value": 500}, {"closeDate": "2027-01-31"}, {"duration": 9})
    await asyncio.gather(
        *(api.patch(f"/v3/deals/{d['id']}", json=body) for d in deals for body in changes)
    )
    for d in deals:
        now = (await api.get(f"/v3/deals/{d['id']}")).json()
        assert (now["value"], now["closeDate"], now["duration"]) == (500, "2027-01-31", 9)


# ---------------------------------------------------------------- 2. templates


async def test_a_costly_template_is_refused_without_stalling_others(
    api: httpx.AsyncClient, other: Account
) -> None:
    costly = "{{ a" + "|e" * 330_000 + " }}"  # ~1 MB, seconds to parse unbounded
    contact = await _created(other.sandbox, "/v3/contacts", {"email": "calm@other.io"})
    latencies: list[float] = []
    stop = asyncio.Event()

    async def other_tenant() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            r = await other.sandbox.get(f"/v3/contacts/{contact['id']}")
            assert r.status_code == 200
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)

    reader = asyncio.create_task(other_tenant())
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(api.post("/v3/emailCampaigns", json={**EMAIL, "htmlContent": costly}) for _ in range(3))
    )
    took = time.perf_counter() - started
    stop.set()
    await reader
    for r in answers:
        body = problem(r, 422)
        assert body["errors"][0]["field"] == "htmlContent"
        assert "too complex" in body["errors"][0]["message"]
    assert took < 10, took
    assert latencies and max(latencies) < 1.0, max(latencies)


async def test_a_burst_of_large_templates_waits_its_turn(api: httpx.AsyncClient) -> None:
    """At most four template checks wait for the parser at once: a burst of large ones
    gets 503 + Retry-After for the rest instead of a queue that delays everyone."""
    html = "<p>" + "z" * 900_000 + "</p>"
    answers = await asyncio.gather(
        *(
            api.post("/v3/emailCampaigns", json={**EMAIL, "name": f"B{i}", "htmlContent": html})
            for i in range(10)
        )
    )
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) == {201, 503}, statuses
    assert statuses.count(201) >= 4
    busy = next(r for r in answers if r.status_code == 503)
    assert problem(busy, 503)["detail"] and busy.headers["Retry-After"] == "1"
    assert (await api.post("/v3/emailCampaigns", json=EMAIL)).status_code == 201


async def test_deeply_nested_template_is_a_422(api: httpx.AsyncClient) -> None:
    for text in ("{{ " + "(" * 70, "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"):
        r = await api.post("/v3/emailCampaigns", json={**EMAIL, "htmlContent": text})
        assert field_errors(r) == {"htmlContent"}
    automation = {**EMAIL, "trigger": {"type": "contact_created"}, "subject": "{{ " + "[" * 80}
    assert field_errors(await api.post("/v3/emailAutomations", json=automation)) == {"subject"}
    # An ordinary large template still saves.
    html = "<p>Hello {{ contact.firstName }}</p>\n" * 2000 + "x" * 500_000
    campaign = await _created(api, "/v3/emailCampaigns", {**EMAIL, "htmlContent": html})
    r = await api.patch(f"/v3/emailCampaigns/{campaign['id']}", json={"subject": "{% if %}"})
    assert field_errors(r) == {"subject"}


# ---------------------------------------------------------------- 9. large pages


async def test_a_page_of_large_campaigns_is_streamed_in_bounded_memory(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    api = account.sandbox
    big = "<p>" + "y" * 900_000 + "</p>"
    for i in range(12):
        await _created(api, "/v3/emailCampaigns", {**EMAIL, "name": f"C{i}", "htmlContent": big})
    key = account.info["sandboxApiKey"]

    two, chunks, _ = await _streamed_page(app, key, 2, tmp_path / "two.json")
    twelve, chunks, page = await _streamed_page(app, key, 100, tmp_path / "all.json")
    assert len(page["data"]) == 12 and page["meta"]["total"] == 12
    assert all(c["htmlContent"] == big for c in page["data"])
    assert max(chunks) < 2 * len(big)  # one object at a time
    # Six times the objects, about the same memory: what a request holds is one object.
    assert twelve < two + 3 * len(big), (two, twelve)

    # The same page built whole, as every list was before, holds it all at once.
    async def whole_page() -> None:
        principal = Principal(int(account.id), "sandbox", "plus", 0)
        query = {"sort_by": "createdAt", "sort_order": "asc", "filters": {}}
        result = await email_campaigns.list_rows(
            app.state.services.db, principal, page=1, page_size=100, **query
        )
        assert len(orjson.dumps(result)) > 12 * len(big)

    whole = await _peak_memory(whole_page())
    assert whole > twelve + 8 * len(big), (twelve, whole)


async def _streamed_page(
    app: FastAPI, key: str, page_size: int, path: Path
) -> tuple[int, list[int], dict[str, Any]]:
    """GET /v3/emailCampaigns through the ASGI app, the body written to a file (so that
    the test holds none of it): the request's peak memory, its chunk sizes, the page."""
    chunks: list[int] = []
    requested = False
    never = asyncio.Event()

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()  # the client stays connected
        return {"type": "http.disconnect"}

    with path.open("wb") as out:

        async def send(message: dict) -> None:
            if message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                chunks.append(len(chunk))
                out.write(chunk)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/v3/emailCampaigns",
            "raw_path": b"/v3/emailCampaigns",
            "query_string": f"pageSize={page_size}".encode(),
            "root_path": "",
            "headers": [(b"api-token", key.encode()), (b"host", b"test")],
            "client": ("127.0.0.1", 5000),
            "server": ("test", 80),
        }
        peak = await _peak_memory(app(scope, receive, send))
    return peak, chunks, orjson.loads(path.read_bytes())


async def _peak_memory(work: Awaitable[Any]) -> int:
    """The most memory Python held at once while `work` ran (over what it held before)."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        await work
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


# ---------------------------------------------------------------- 12. replays


async def test_replays_never_show_a_secret_twice(account: Account) -> None:
    api = account.live
    once = {"Idempotency-Key": "key-once"}
    first = await api.post("/v3/apiKeys", json={}, headers=once)
    assert first.json()["key"].startswith("ac_live_")
    assert (await api.delete(f"/v3/apiKeys/{first.json()['id']}")).status_code == 204
    again = await api.post("/v3/apiKeys", json={}, headers=once)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
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
    assert replay.json()["secret"] is None and replay.json()["id"] == made.json()["id"]


# ---------------------------------------------------------------- 13. small leaks


async def test_many_unknown_fields_get_a_small_answer(api: httpx.AsyncClient) -> None:
    body = {"email": "x@y.io", **{f"k{i}": 1 for i in range(60_000)}}
    r = await api.post("/v3/contacts", content=orjson.dumps(body), headers=_json())
    details = problem(r, 422)
    assert len(details["errors"]) == 50
    assert "60000" in details["detail"]
    assert len(r.content) < 20_000


def _json() -> dict[str, str]:
    return {"content-type": "application/json"}


# ---------------------------------------------------------------- 14. side effects


async def _deal_setup(api: httpx.AsyncClient) -> tuple[dict, dict, dict, dict]:
    pipeline = await _created(api, "/v3/pipelines", {"name": "Sales"})
    stage = await _created(api, "/v3/dealStages", {"pipelineId": pipeline["id"], "name": "Lead"})
    status = await _created(api, "/v3/dealStatuses", {"pipelineId": pipeline["id"], "name": "Hot"})
    contact = await _created(api, "/v3/contacts", {"email": "deal@owner.io"})
    deal = await _created(
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


async def test_deleting_what_a_deal_refers_to_records_its_update(
    app: FastAPI, account: Account
) -> None:
    api = account.sandbox
    _pipeline, _stage, status, deal = await _deal_setup(api)
    assert (await api.delete(f"/v3/dealStatuses/{status['id']}")).status_code == 204
    assert (await api.delete(f"/v3/contacts/{deal['contact']}")).status_code == 204
    now = (await api.get(f"/v3/deals/{deal['id']}")).json()
    assert now["status"] is None and now["contact"] is None
    updates = await _events(app, account, "deal.updated", "deal.status_changed")
    assert [(t, d["id"], d["status"], d["contact"]) for t, d in updates] == [
        ("deal.updated", deal["id"], None, deal["contact"]),
        ("deal.status_changed", deal["id"], None, deal["contact"]),
        ("deal.updated", deal["id"], None, None),
    ]

    brand = await _created(api, "/v3/brands", {"name": "Shop"})
    campaign = await _created(api, "/v3/emailCampaigns", {**EMAIL, "brandId": brand["id"]})
    assert (await api.delete(f"/v3/brands/{brand['id']}")).status_code == 204
    changed = await _events(app, account, "emailCampaign.updated")
    assert [(d["id"], d["brandId"]) for _t, d in changed] == [(campaign["id"], None)]


async def test_deleting_what_an_automation_trigger_names_is_a_409(api: httpx.AsyncClient) -> None:
    pipeline, stage, _status, deal = await _deal_setup(api)
    await api.delete(f"/v3/deals/{deal['id']}")
    tag = await _created(api, "/v3/contactTags", {"name": "vip"})
    group = await _created(api, "/v3/contactGroups", {"name": "newsletter"})
    named = {}
    for key, target in (("tagId", tag), ("groupId", group), ("stageId", stage)):
        kind = {"tagId": "tag_added", "groupId": "added_to_group", "stageId": "deal_stage_changed"}
        trigger = {"type": kind[key], key: target["id"]}
        named[key] = await _created(
            api, "/v3/emailAutomations", {**EMAIL, "name": f"On {key}", "trigger": trigger}
        )
    paths = {
        "tagId": f"/v3/contactTags/{tag['id']}",
        "groupId": f"/v3/contactGroups/{group['id']}",
        "stageId": f"/v3/dealStages/{stage['id']}",
    }
    for key, path in paths.items():
        detail = problem(await api.delete(path), 409)["detail"]
        assert named[key]["id"] in detail and f"On {key}" in detail
    assert (
        named["stageId"]["id"]
        in problem(await api.delete(f"/v3/pipelines/{pipeline['id']}"), 409)["detail"]
    )

    for key, path in paths.items():
        assert (await api.delete(f"/v3/emailAutomations/{named[key]['id']}")).status_code == 204
        assert (await api.delete(path)).status_code == 204
    assert (await api.delete(f"/v3/pipelines/{pipeline['id']}")).status_code == 204


# ---------------------------------------------------------------- 3. DNS outside transactions


async def test_webhook_dns_is_resolved_outside_the_transaction(
    api: httpx.AsyncClient, other: Account, dns_via: str
) -> None:
    """Twelve webhooks to a name whose DNS never answers (more than the PostgreSQL pool
    holds; on SQLite each would hold the one writer) while another tenant creates a
    contact: the contact is not kept waiting."""
    body = {"url": "https://never-answers.example.com/hook", "events": ["*"]}
    hooks = [asyncio.create_task(api.post("/v3/webhooks", json=body)) for _ in range(12)]
    await asyncio.sleep(0.2)  # the lookups are under way
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
    assert on["active"] and on["disabledReason"] is None
    assert (on["consecutiveFailures"], on["failingSince"]) == (0, None)


# ---------------------------------------------------------------- 10. the file limit


def test_connection_limit_stays_under_the_file_limit() -> None:
    """With a soft limit of 512 open files and no room to raise it, the server accepts
    fewer connections than configured, leaving descriptors for the database and
    deliveries; with room, it raises the soft limit to the hard one first."""
    import resource
    import subprocess
    import sys

    probe = (
        "import resource; from activecommerce.server import connection_budget as b; "
        "print(b(1000), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )

    def run(soft: int, hard: int) -> tuple[int, int]:
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

        out = subprocess.run(
            [sys.executable, "-c", probe], preexec_fn=limit, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        budget, now = out.stdout.split()
        return int(budget), int(now)

    assert run(512, 512) == (256, 512)
    budget, soft = run(512, 4096)
    assert (budget, soft) == (1000, 4096)


# ---------------------------------------------------------------- review follow-ups


def test_a_busy_database_is_not_an_outage() -> None:
    """A timeout while other calls succeed is a 503 for that request alone; only when
    nothing has succeeded for a whole window does every request fail fast (frozen)."""
    availability = Availability("test", retry_after=0.2)
    availability.ok()
    refused = availability.timed_out(TimeoutError())
    assert isinstance(refused, DatabaseUnavailable) and availability.down_since is None
    availability.check()  # nothing is failing fast
    time.sleep(0.25)
    availability.timed_out(TimeoutError())
    assert availability.down_since is not None
    with pytest.raises(DatabaseUnavailable):
        availability.check()
    time.sleep(0.25)
    availability.check()  # the probe goes through
    availability.ok()
    assert availability.down_since is None


async def test_a_replay_does_not_run_the_checks_again(
    api: httpx.AsyncClient, blackhole_dns: str, settings: Settings
) -> None:
    body = {"url": "https://replayed.example.com/hook", "events": ["*"]}
    key = {"Idempotency-Key": "hook-replay"}
    first = await api.post("/v3/webhooks", json=body, headers=key)
    assert first.status_code == 201, first.text
    ssrf.resolver.configure(2.0, [blackhole_dns])  # a lookup now takes 2 s
    try:
        started = time.perf_counter()
        again = await api.post("/v3/webhooks", json=body, headers=key)
        took = time.perf_counter() - started
    finally:
        ssrf.resolver.configure(settings.dns_timeout_seconds, [])
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert took < 1.0, took
