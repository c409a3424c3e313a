"""The links in emails under abuse: bounded recording of opens and clicks (the first of
each message always recorded; past 20 hits per message or 600 per client address a minute,
answered but not recorded), with the budgets in memory or in Redis; and ids that are not
plain digits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import POSTGRES_ADMIN_URL, Account, _new_account, running_app
from fastapi import FastAPI
from helpers import created, recorded_events, redis_url, wait_for

from activecommerce.config import Settings

CAMPAIGN = {
    "name": "Launch",
    "subject": "Hi",
    "fromEmail": "news@shop.io",
    "htmlContent": '<html><body><a href="https://shop.io/sale">Sale</a></body></html>',
}


@pytest.fixture
async def bounded(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its limits on: budgets in memory on SQLite runs, in the real Redis on
    PostgreSQL runs (shared by every process)."""
    storage: dict[str, object] = {}
    if POSTGRES_ADMIN_URL:
        storage = {"redis_url": redis_url(), "rate_limit_prefix": f"ac-t-{uuid.uuid4().hex[:8]}"}
    async with running_app(settings, rate_limit_enabled=True, **storage) as application:
        yield application


def _link(html: str, kind: str) -> str:
    start = html.index(f"/e/{kind}/")
    return html[start : html.index('"', start)].replace("&amp;", "&")


async def _links(api: httpx.AsyncClient, *names: str) -> dict[str, dict[str, str]]:
    """Each of `names` sent the campaign: their open and click links."""
    group = await created(api, "/v3/contactGroups", {"name": "Readers"})
    for name in names:
        contact = await created(api, "/v3/contacts", {"email": f"{name}@example.com"})
        await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
    campaign = await created(api, "/v3/emailCampaigns", CAMPAIGN)
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send", json={"audience": {"groupIds": [group["id"]]}}
    )
    assert r.status_code == 202, r.text
    mail: list[dict[str, Any]] = []

    async def arrived() -> bool:
        mail[:] = (await api.get("/v3/sandbox/emails", params={"pageSize": "100"})).json()["data"]
        return len(mail) == len(names)

    await wait_for(arrived, what="the emails")
    return {m["to"].split("@")[0]: {k: _link(m["html"], k) for k in "oc"} for m in mail}


def _reader(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A mail reader (or a scanner) at `address`: the links are pages, not the API."""
    transport = httpx.ASGITransport(app=app, client=(address, 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def _counts(app: FastAPI, link: str) -> tuple[int, int]:
    row = await app.state.services.db.fetchone(
        "SELECT open_count, click_count FROM email_messages WHERE id = ?",
        (int(link.split("/")[3]),),
    )
    return int(row["open_count"]), int(row["click_count"])


async def _hits(client: httpx.AsyncClient, link: str, times: int, status: int) -> None:
    for start in range(0, times, 50):
        answers = await asyncio.gather(*(client.get(link) for _ in range(min(50, times - start))))
        assert {r.status_code for r in answers} == {status}


async def test_a_hammered_link_keeps_answering_but_records_within_the_bounds(
    bounded: FastAPI,
) -> None:
    account: Account = await _new_account(bounded)
    links = await _links(account.sandbox, "ann", "bob")
    await account.close()
    ann, bob = links["ann"], links["bob"]
    async with _reader(bounded, "10.7.0.1") as reader:
        pixel = await reader.get(ann["o"])
        assert pixel.headers["content-type"] == "image/gif"
        await _hits(reader, ann["o"], 29, 200)
        # 20 hits of one message a minute are recorded, the rest only answered.
        assert await _counts(bounded, ann["o"]) == (20, 0)
        # Its first click is recorded all the same (and then no more).
        await _hits(reader, ann["c"], 3, 302)
        assert await _counts(bounded, ann["o"]) == (20, 1)
    opened = await recorded_events(bounded, account, "email.opened", "email.clicked")
    assert [t for t, _ in opened] == ["email.opened"] * 20 + ["email.clicked"]

    # One address: 600 hits a minute, across messages; then bob's first open and first
    # click from it are still recorded, and nothing more.
    async with _reader(bounded, "10.7.0.2") as scanner:
        await _hits(scanner, ann["o"], 600, 200)
        assert await _counts(bounded, ann["o"]) == (20, 1)
        await _hits(scanner, bob["o"], 5, 200)
        await _hits(scanner, bob["c"], 5, 302)
    assert await _counts(bounded, bob["o"]) == (1, 1)
    # Another address is not held back by that one (bob's message is under its bound).
    async with _reader(bounded, "10.7.0.3") as reader:
        await _hits(reader, bob["o"], 2, 200)
    assert await _counts(bounded, bob["o"]) == (3, 1)
    events = await recorded_events(bounded, account, "email.opened", "email.clicked")
    assert len(events) == 21 + 4


@pytest.mark.parametrize("digits", ["²", "¹²", "١٢", "\uff11\uff12", "\U0001d7d9", "1²", "½"])
async def test_links_with_other_digits_are_not_found(app: FastAPI, digits: str) -> None:
    sig = "A" * 22
    for method, path in (
        ("GET", f"/e/o/{digits}/{sig}"),
        ("GET", f"/e/c/{digits}/{sig}?u=https%3A%2F%2Fshop.io%2F"),
        ("GET", f"/e/u/{digits}/{sig}"),
        ("POST", f"/e/u/{digits}/{sig}"),
    ):
        async with _reader(app, "10.7.0.4") as reader:
            r = await reader.request(method, path)
        assert r.status_code == 404, (path, r.status_code)


async def test_a_head_on_a_tracking_link_answers_but_records_nothing(app: FastAPI) -> None:
    """Link checkers and mail scanners look with HEAD: they get the headers of the pixel
    or the redirect, and neither an open nor a click is counted or sent to webhooks."""
    account: Account = await _new_account(app)
    links = (await _links(account.sandbox, "cy"))["cy"]
    async with _reader(app, "10.7.0.4") as scanner:
        pixel = await scanner.head(links["o"])
        assert (pixel.status_code, pixel.headers["content-type"]) == (200, "image/gif")
        assert pixel.content == b""
        redirect = await scanner.head(links["c"])
        assert (redirect.status_code, redirect.headers["location"]) == (302, "https://shop.io/sale")
        assert await _counts(app, links["o"]) == (0, 0)
        assert await recorded_events(app, account, "email.opened", "email.clicked") == []
        # The GET that follows is the first open: recorded.
        assert (await scanner.get(links["o"])).status_code == 200
    assert await _counts(app, links["o"]) == (1, 0)
    await account.close()
