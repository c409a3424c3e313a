"""What the forms tests share: a form made through the API, the hosted page's client,
the confirmation email read from the sandbox's captured mail."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from helpers import created, wait_for


async def new_form(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    form: dict[str, Any] = await created(api, "/v3/forms", {"name": "Newsletter", **body})
    return form


def visitor(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A browser without key, cookie or session (from `address`): the public pages are
    outside the API's document, so its answers are not held to it."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 4567)), base_url="http://test"
    )


async def emails_to(api: httpx.AsyncClient, address: str) -> list[dict[str, Any]]:
    r = await api.get("/v3/sandbox/emails", params={"pageSize": "100"})
    assert r.status_code == 200, r.text
    found = [m for m in r.json()["data"] if m["to"] == address]
    out = []
    for m in found:
        whole = await api.get(f"/v3/sandbox/emails/{m['id']}")
        out.append(whole.json())
    return out


async def confirmation_link(api: httpx.AsyncClient, address: str, count: int = 1) -> str:
    """The confirmation link of the `count`th email to `address` (waits for it)."""
    mails: list[dict[str, Any]] = []

    async def arrived() -> bool:
        nonlocal mails
        mails = await emails_to(api, address)
        return len(mails) >= count

    await wait_for(arrived, what=f"confirmation email {count} to {address}")
    body = sorted(mails, key=lambda m: int(m["id"]))[count - 1]["html"]
    match = re.search(r'href="([^"]*/f/confirm/[^"]+)"', body)
    assert match, body
    return html.unescape(match.group(1))


def path_of(url: str) -> str:
    return urlsplit(url).path


async def contact_by_email(api: httpx.AsyncClient, address: str) -> dict[str, Any] | None:
    r = await api.get("/v3/contacts", params={"email": address})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    return data[0] if data else None
