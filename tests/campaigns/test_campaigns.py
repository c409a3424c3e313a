"""Email campaigns: defaults, templates and brands; a page of large campaigns is streamed."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Awaitable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import orjson
from conftest import Account
from fastapi import FastAPI
from helpers import EMAIL, field_errors
from helpers import created as _created

from activecommerce.campaigns.service import email_campaigns
from activecommerce.kit.principal import Principal


async def test_campaign_defaults_and_templates(api: httpx.AsyncClient) -> None:
    r = await api.post("/v3/emailCampaigns", json=EMAIL)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["status"] == "draft"
    assert c["scheduledAt"] is None
    assert c["sentAt"] is None
    bad = await api.post("/v3/emailCampaigns", json={**EMAIL, "htmlContent": "{% if %}"})
    assert field_errors(bad) == {"htmlContent"}
    r = await api.post("/v3/emailCampaigns", json={**EMAIL, "status": "sent"})
    assert field_errors(r) == {"status"}  # read-only
    r = await api.post("/v3/emailCampaigns", json={**EMAIL, "brandId": "999999"})
    assert field_errors(r) == {"brandId"}
    brand = (
        await api.post("/v3/brands", json={"name": "Shop", "postalAddress": "1 Main St\nTown"})
    ).json()
    r = await api.patch(f"/v3/emailCampaigns/{c['id']}", json={"brandId": brand["id"]})
    assert r.status_code == 200
    assert r.json()["brandId"] == brand["id"]
    assert (await api.delete(f"/v3/brands/{brand['id']}")).status_code == 204
    assert (await api.get(f"/v3/emailCampaigns/{c['id']}")).json()["brandId"] is None


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
    assert len(page["data"]) == 12
    assert page["meta"]["total"] == 12
    assert all(c["htmlContent"] == big for c in page["data"])
    assert max(chunks) < 2 * len(big)  # one object at a time
    # Six times the objects, about the same memory: what a request holds is one object.
    assert twelve < two + 3 * len(big), (two, twelve)

    # The same page built whole, as every list was before, holds it all at once.
    async def whole_page() -> None:
        principal = Principal(int(account.id), "sandbox", "plus", 0)
        result = await email_campaigns.list_rows(
            app.state.services.db,
            principal,
            page=1,
            page_size=100,
            sort_by="createdAt",
            sort_order="asc",
            filters={},
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

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()  # the client stays connected
        return {"type": "http.disconnect"}

    with path.open("wb") as out:

        async def send(message: MutableMapping[str, Any]) -> None:
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
    return peak, chunks, orjson.loads(path.read_bytes())  # noqa: ASYNC240 - after the request


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


async def test_a_send_time_past_year_9999_in_utc_is_a_422(account: Account) -> None:
    """9999-12-31T23:00-05:00 is a valid RFC 3339 time whose UTC instant is in year 10000
    (also what the console's scheduling makes of 9999-12-31 23:00 west of UTC)."""
    api = account.sandbox
    group = await _created(api, "/v3/contactGroups", {"name": "Far"})
    campaign = await _created(api, "/v3/emailCampaigns", EMAIL)
    audience = {"groupIds": [group["id"]]}
    for at in ("9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59-00:01"):
        r = await api.post(
            f"/v3/emailCampaigns/{campaign['id']}/send",
            json={"audience": audience, "scheduledAt": at},
        )
        assert field_errors(r) == {"scheduledAt"}, r.text
    still = await api.get(f"/v3/emailCampaigns/{campaign['id']}")
    assert still.json()["status"] == "draft"
