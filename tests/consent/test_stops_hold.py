"""A person's stop holds against the account's ways around it: a manual entry the
account could remove does not hide a later stop or an erasure; `unconfirmed` is no way
back to `active`; test copies skip no rule; contacts stopped before the list existed are
put on it; an erasure removes the person's address, not another's that contains it."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import created, problem, wait_for

from activecommerce.consent import service as consent
from activecommerce.contacts.service import set_status
from activecommerce.kit import events
from activecommerce.kit.principal import Principal


async def _entry(api: httpx.AsyncClient, address: str) -> dict[str, Any]:
    r = await api.get("/v3/suppressions", params={"email": address})
    assert r.status_code == 200, r.text
    (entry,) = r.json()["data"]
    return dict(entry)


async def test_a_later_stop_or_erasure_makes_a_manual_entry_permanent(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    sandbox = Principal.acting_for(int(account.id), "sandbox")
    cid = await created(api, "/v3/contacts", {"email": "cid@example.com"})
    r = await api.post("/v3/suppressions", json={"email": "cid@example.com", "reason": "manual"})
    assert r.status_code == 201, r.text
    async with app.state.services.db.transaction() as conn:
        # The person complains about mail sent before the manual entry.
        await set_status(conn, sandbox, int(cid["id"]), "complained")
    entry = await _entry(api, "cid@example.com")
    assert entry["reason"] == "complained"
    problem(await api.delete(f"/v3/suppressions/{entry['id']}"), 409)
    assert (await api.delete(f"/v3/contacts/{cid['id']}")).status_code == 204
    again = await created(api, "/v3/contacts", {"email": "cid@example.com"})
    assert again["status"] == "complained"

    dee = await created(api, "/v3/contacts", {"email": "dee@example.com"})
    r = await api.post("/v3/suppressions", json={"email": "dee@example.com", "reason": "manual"})
    assert r.status_code == 201, r.text
    assert (await api.post(f"/v3/contacts/{dee['id']}/erase")).status_code == 202
    erased = await _entry(api, "dee@example.com")
    assert erased["reason"] == "erased"
    assert erased["email"] is None
    problem(await api.delete(f"/v3/suppressions/{erased['id']}"), 409)
    assert (await created(api, "/v3/contacts", {"email": "dee@example.com"}))["status"] == (
        "unsubscribed"
    )


async def test_unconfirmed_is_no_way_back_to_active(api: httpx.AsyncClient) -> None:
    eve = await created(api, "/v3/contacts", {"email": "eve@example.com"})
    r = await api.patch(f"/v3/contacts/{eve['id']}", json={"status": "unsubscribed"})
    assert r.status_code == 200, r.text
    problem(await api.patch(f"/v3/contacts/{eve['id']}", json={"status": "unconfirmed"}), 409)
    put = {"email": "eve@example.com", "status": "unconfirmed"}
    problem(await api.put(f"/v3/contacts/{eve['id']}", json=put), 409)
    r = await api.post(
        "/v3/contactImports",
        content=b"email,status\neve@example.com,unconfirmed\n",
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 202, r.text
    state: dict[str, Any] = {}

    async def done() -> bool:
        state.update((await api.get(f"/v3/contactImports/{r.json()['id']}")).json())
        return state["status"] in ("completed", "failed")

    await wait_for(done, timeout=30, what="the import")
    assert state["skipped"] == 1, state
    assert (await api.get(f"/v3/contacts/{eve['id']}")).json()["status"] == "unsubscribed"
    # An account may still make a new contact unconfirmed, and confirm it itself.
    fay = await created(api, "/v3/contacts", {"email": "fay@example.com", "status": "unconfirmed"})
    r = await api.patch(f"/v3/contacts/{fay['id']}", json={"status": "active"})
    assert r.status_code == 200, r.text


async def test_no_test_copy_goes_to_a_suppressed_address(api: httpx.AsyncClient) -> None:
    campaign = await created(
        api,
        "/v3/emailCampaigns",
        {
            "name": "Launch",
            "subject": "Hello",
            "fromEmail": "shop@example.com",
            "htmlContent": "<p>Hi</p>",
        },
    )
    r = await api.post("/v3/suppressions", json={"email": "gus@example.com", "reason": "manual"})
    assert r.status_code == 201, r.text
    body = {"emails": ["ok@example.com", "GUS@example.com"]}
    detail = problem(await api.post(f"/v3/emailCampaigns/{campaign['id']}/test", json=body), 409)
    assert "gus@example.com" in detail["detail"]
    r = await api.get("/v3/sandbox/emails")
    assert r.status_code == 200, r.text
    assert r.json()["data"] == []  # nothing was sent, not even to the other address


async def test_contacts_stopped_before_the_list_are_put_on_it(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    sandbox = Principal.acting_for(int(account.id), "sandbox")
    hal = await created(api, "/v3/contacts", {"email": "hal@example.com"})
    r = await api.patch(f"/v3/contacts/{hal['id']}", json={"status": "bounced"})
    assert r.status_code == 200, r.text
    db = app.state.services.db
    async with db.transaction() as conn:  # as an upgraded database has it: no entry
        assert await consent.lift(conn, sandbox, "hal@example.com")
    assert (await api.get("/v3/suppressions", params={"email": "hal@example.com"})).json()[
        "data"
    ] == []
    assert await consent.system_backfill(db, batch=1) >= 1
    entry = await _entry(api, "hal@example.com")
    assert entry["reason"] == "bounced"
    assert await consent.system_backfill(db) == 0  # once is enough
    assert (await api.delete(f"/v3/contacts/{hal['id']}")).status_code == 204
    assert (await created(api, "/v3/contacts", {"email": "hal@example.com"}))["status"] == (
        "bounced"
    )


async def test_an_erasure_leaves_another_persons_address_that_contains_it(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    sandbox = Principal.acting_for(int(account.id), "sandbox")
    ann = await created(api, "/v3/contacts", {"email": "an@x.example"})
    jan = await created(api, "/v3/contacts", {"email": "jan@x.example"})
    db = app.state.services.db
    async with db.transaction() as conn:
        await events.record(
            conn, sandbox, [("contact.updated", {"note": "wrote to an@x.example."})]
        )
    assert (await api.post(f"/v3/contacts/{ann['id']}/erase")).status_code == 202

    async def quoted() -> list[str]:
        rows = await db.fetchall(
            "SELECT data FROM events WHERE account_id = ? AND env = ?", (int(account.id), "sandbox")
        )
        return [str(row["data"]) for row in rows]

    async def gone() -> bool:
        return not any(
            "an@x.example" in text.replace("jan@x.example", "") for text in await quoted()
        )

    await wait_for(gone, timeout=30, what="the erasure of an@x.example")
    assert any("jan@x.example" in text for text in await quoted())  # jan's own events stay
    assert (await api.get(f"/v3/contacts/{jan['id']}")).status_code == 200
