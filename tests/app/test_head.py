"""HEAD answers wherever GET does: the same status and headers, no body, the GET's work
done once."""

from __future__ import annotations

import httpx
from conftest import Account
from fastapi import FastAPI
from oauthflow import browser, new_user, sign_in
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from activecommerce.api.head import HeadAsGet


async def _same_but_bodiless(client: httpx.AsyncClient, path: str) -> httpx.Response:
    got = await client.get(path)
    head = await client.head(path)
    assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
    assert head.content == b"", path
    assert head.headers.get("content-type") == got.headers.get("content-type"), path
    if "content-length" in got.headers and got.status_code == 200:
        assert head.headers["content-length"] == got.headers["content-length"], path
    return head


async def test_head_on_probes_docs_api_and_pages(app: FastAPI, account: Account) -> None:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 123))
    key = {"Api-Token": account.info["sandboxApiKey"]}
    contact = await account.sandbox.post("/v3/contacts", json={"email": "head@example.com"})
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as anonymous:
        for path in ("/healthz", "/readyz", "/docs", "/v3/openapi.json", "/signin"):
            head = await _same_but_bodiless(anonymous, path)
            assert head.status_code == 200, path
        # A page that needs a sign-in sends the browser there, for HEAD as for GET.
        assert (await _same_but_bodiless(anonymous, "/contacts")).status_code == 303
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=key) as api:
        for path in ("/v3/contacts", f"/v3/contacts/{contact.json()['id']}", "/v3/contactTags"):
            assert (await _same_but_bodiless(api, path)).status_code == 200, path
        assert (await _same_but_bodiless(api, "/v3/contacts/999999999")).status_code == 404
    async with browser(app) as b:
        await sign_in(b, await new_user(app, account.id), "/")
        for path in ("/", "/contacts", "/campaigns", "/automations"):
            assert (await _same_but_bodiless(b, path)).status_code == 200, path


async def test_head_runs_the_get_once() -> None:
    calls: list[str] = []

    async def counted(request: Request) -> Response:
        calls.append(request.method)
        return PlainTextResponse("twelve chars")

    # A route that names GET only, as FastAPI's do.
    inner = Starlette(routes=[Route("/counted", counted, methods=["GET"])])
    inner.router.routes[0].methods = {"GET"}  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=HeadAsGet(inner))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        head = await client.head("/counted")
        assert head.status_code == 200
        assert head.headers["content-length"] == "12"
        assert head.content == b""
        assert calls == ["GET"]  # once, as the GET it stands for
        assert (await client.post("/counted")).status_code == 405
