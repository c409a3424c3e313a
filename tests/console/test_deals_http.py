"""The deals, pipelines, webhooks and API keys pages over HTTP, in process (no browser):
the board's columns, counts and totals, paging of a column, the move through the deals
flow (events), form errors, conflicts as messages, owners only, other accounts' objects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from conftest import Account
from fastapi import FastAPI
from oauthflow import browser, field, new_user, sign_in

from activecommerce.kit import events
from activecommerce.kit.principal import Principal


@asynccontextmanager
async def _signed_in(
    app: FastAPI, account: Account, role: str = "owner"
) -> AsyncIterator[httpx.AsyncClient]:
    email = await new_user(app, account.id, role)
    async with browser(app) as client:
        assert (await sign_in(client, email, "/")).status_code == 303
        yield client


async def _token(client: httpx.AsyncClient) -> str:
    return field((await client.get("/account/password")).text, "csrf_token")


async def _pipeline(api: httpx.AsyncClient, *stages: str, currency: str = "USD") -> dict[str, Any]:
    answer = await api.post("/v3/pipelines", json={"name": "Sales", "currency": currency})
    pipeline: dict[str, Any] = answer.json()
    pipeline["stages"] = []
    for order, name in enumerate(stages, 1):
        body = {"pipelineId": pipeline["id"], "name": name, "order": order}
        pipeline["stages"].append((await api.post("/v3/dealStages", json=body)).json())
    return pipeline


async def _deal(
    api: httpx.AsyncClient, pipeline: dict[str, Any], stage: int, **extra: Any
) -> dict[str, Any]:
    body = {
        "name": "Deal",
        "pipelineId": pipeline["id"],
        "stageId": pipeline["stages"][stage]["id"],
    }
    answer = await api.post("/v3/deals", json=body | extra)
    assert answer.status_code == 201, answer.text
    deal: dict[str, Any] = answer.json()
    return deal


async def test_the_board_counts_sums_per_currency_and_pages_a_column(
    app: FastAPI, account: Account
) -> None:
    api = account.live
    pipeline = await _pipeline(api, "Lead", "Won")
    for i in range(23):
        await _deal(api, pipeline, 0, name=f"Lead {i:02}", value=1000)
    await _deal(api, pipeline, 1, name="Euro deal", value=250050, currency="EUR")
    await _deal(api, pipeline, 1, name="Dollar deal", value=99)
    lead, won = (s["id"] for s in pipeline["stages"])
    async with _signed_in(app, account) as b:
        board = (await b.get("/deals")).text
        assert 'data-testid="totals-' + lead + '">23 deals · 230.00 USD</p>' in board
        assert "2 deals · 2,500.50 EUR · 0.99 USD" in board
        assert board.count('class="deal-card"') == 20 + 2  # a column shows its first 20
        assert "Lead 19" in board
        assert "Lead 20" not in board
        more = board.split(f'href="/deals/stages/{lead}/cards?after=')[1].split('"')[0]
        url = f"/deals/stages/{lead}/cards?after={more}"
        # htmx: only the next cards (no more "Load more": the column ends)
        fragment = await b.get(url, headers={"HX-Request": "true"})
        assert fragment.text.count('class="deal-card"') == 3
        assert "Lead 20" in fragment.text
        assert "Load more" not in fragment.text
        assert "<html" not in fragment.text
        # without JavaScript: a page of the stage's deals
        whole = await b.get(url)
        assert "<h1>Deals in Lead</h1>" in whole.text
        assert "Lead 22" in whole.text
        assert won in board


async def test_a_move_goes_through_the_deals_flow_and_refusals_are_messages(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.live
    pipeline = await _pipeline(api, "Lead", "Won")
    second = await _pipeline(api, "Elsewhere")
    deal = await _deal(api, pipeline, 0, name="Move me", value=500)
    won = pipeline["stages"][1]["id"]
    async with _signed_in(app, account) as b:
        token = await _token(b)
        moved = await b.post(
            f"/deals/{deal['id']}/move", data={"stageId": won, "csrf_token": token}
        )
        assert moved.status_code == 303
        # the board from its top, not scrolled down to the card
        assert moved.headers["location"] == f"/deals?pipeline={pipeline['id']}"
        assert (await api.get(f"/v3/deals/{deal['id']}")).json()["stageId"] == won
        principal = Principal(int(account.id), "live", "plus", key_id=0)
        recent = await events.recent(app.state.services.db, principal, 5)
        changes = [(r["type"], orjson.loads(r["data"]).get("stageId")) for r in recent]
        assert ("deal.stage_changed", won) in changes
        assert ("deal.updated", won) in changes
        # htmx (the drag): the board again, with the new counts
        back = pipeline["stages"][0]["id"]
        htmx = {"X-CSRF-Token": token, "HX-Request": "true"}
        board = await b.post(f"/deals/{deal['id']}/move", data={"stageId": back}, headers=htmx)
        assert board.status_code == 200
        assert f'<div id="board" class="board" data-moved="deal-{deal["id"]}">' in board.text
        assert "<html" not in board.text
        # the message, into the page's live region (out of band, over the board)
        assert '<div id="board-status" hx-swap-oob="innerHTML">' in board.text
        assert "Moved “Move me” to Lead." in board.text
        assert f'data-testid="totals-{back}">1 deal · 5.00 USD' in board.text
        # a stage of another pipeline: refused by the deals rules, shown as a message
        elsewhere = second["stages"][0]["id"]
        refused = await b.post(
            f"/deals/{deal['id']}/move", data={"stageId": elsewhere}, headers=htmx
        )
        assert "belongs to another pipeline" in refused.text
        assert (await api.get(f"/v3/deals/{deal['id']}")).json()["stageId"] == back
        # a stage that still has deals cannot go: the 409 is a message
        gone = await b.post(f"/deals/stages/{back}/delete", data={"csrf_token": token})
        assert gone.status_code == 303
        page = await b.get(gone.headers["location"])
        assert "This deal stage still has deals" in page.text
        # another account's deal is a 404 page
        theirs = await _pipeline(other.live, "Theirs")
        their_deal = await _deal(other.live, theirs, 0)
        assert (await b.get(f"/deals/{their_deal['id']}")).status_code == 404
        refused = await b.post(
            f"/deals/{their_deal['id']}/move",
            data={"stageId": theirs["stages"][0]["id"], "csrf_token": token},
        )
        assert refused.status_code == 404
        assert "text/html" in refused.headers["content-type"]


async def test_the_deal_form_shows_errors_next_to_fields(app: FastAPI, account: Account) -> None:
    api = account.live
    pipeline = await _pipeline(api, "Lead")
    contact = (await api.post("/v3/contacts", json={"email": "ada@example.com"})).json()
    async with _signed_in(app, account) as b:
        token = await _token(b)
        form = {
            "csrf_token": token,
            "pipeline": pipeline["id"],
            "name": "Big one",
            "stage": pipeline["stages"][0]["id"],
            "value": "12.345",
            "currency": "",
            "contact": "ada@example.com",
            "close_date": "2026-02-30",
        }
        refused = await b.post("/deals/new", data=form)
        assert refused.status_code == 422
        assert 'id="f-value-help" class="field-error">Value must be an amount' in refused.text
        assert 'value="Big one"' in refused.text  # kept
        refused = await b.post("/deals/new", data=form | {"value": "1,200.50"})
        assert refused.status_code == 422
        assert 'id="f-close_date-help" class="field-error">Close date' in refused.text
        refused = await b.post(
            "/deals/new", data=form | {"value": "1", "close_date": "", "contact": "x@y.io"}
        )
        assert 'id="f-contact-help" class="field-error">Contact matches no contact' in refused.text
        created = await b.post("/deals/new", data=form | {"value": "1,200.50", "close_date": ""})
        assert created.status_code == 303
        deals = (await api.get("/v3/deals")).json()["data"]
        assert [(d["name"], d["value"], d["currency"], d["contact"]) for d in deals] == [
            ("Big one", 120050, "USD", contact["id"])
        ]
        edit = await b.get(f"/deals/{deals[0]['id']}")
        assert 'value="1200.50"' in edit.text
        assert 'value="ada@example.com"' in edit.text


async def test_webhooks_and_keys_are_for_owners_and_scoped(
    app: FastAPI, account: Account, other: Account
) -> None:
    async with _signed_in(app, account, role="member") as b:
        for path in ("/webhooks", "/keys"):
            answer = await b.get(path)
            assert answer.status_code == 403
            assert "Owners only" in answer.text
        token = await _token(b)
        assert (await b.post("/keys", data={"csrf_token": token})).status_code == 403
    hook = await other.sandbox.post(
        "/v3/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]}
    )
    assert hook.status_code == 201, hook.text
    async with _signed_in(app, account) as b:
        assert (await b.get(f"/webhooks/{hook.json()['id']}")).status_code == 404
        token = await _token(b)
        mine = (await account.live.get("/v3/apiKeys")).json()["data"][0]
        theirs = (await other.live.get("/v3/apiKeys")).json()["data"][0]
        refused = await b.post(f"/keys/{theirs['id']}/revoke", data={"csrf_token": token})
        assert "No such API key" in (await b.get(refused.headers["location"])).text
        assert (await other.live.get("/v3/apiKeys")).status_code == 200
        assert mine["prefix"] in (await b.get("/keys")).text


async def test_the_keys_page_pages_with_htmx_and_without(app: FastAPI, account: Account) -> None:
    for _ in range(50):  # with the account's own live key: 51
        assert (await account.live.post("/v3/apiKeys", json={})).status_code == 201
    async with _signed_in(app, account) as b:
        first = await b.get("/keys")
        assert first.text.count("<code>ac_live_") == 50
        assert 'href="?page_number=2"' in first.text
        second = await b.get("/keys?page_number=2", headers={"HX-Request": "true"})
        assert second.text.count("<code>ac_live_") == 1
        assert second.text.lstrip().startswith('<div id="results">')
        assert 'href="?page_number=1"' in second.text
