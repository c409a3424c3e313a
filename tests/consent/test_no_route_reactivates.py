"""No route in the product makes a suppressed, unsubscribed, bounced or complained address
`active` again: each route that creates a contact or writes its status is walked here
(the API's POST, PUT and PATCH, an email change, delete and re-create, imports in CSV and
NDJSON, the console's create and edit, mail's own paths), on whichever database the suite
runs (SQLite, or PostgreSQL with ACTIVECOMMERCE_TEST_DATABASE_URL).

The console's bulk selection actions (tag, untag, group, ungroup, delete) set no status;
a delete followed by a re-create is walked below."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from conftest import Account
from fastapi import FastAPI
from helpers import EMAIL, created, problem, wait_for
from oauthflow import browser, field, new_user, sign_in

from activecommerce.contacts.service import set_status
from activecommerce.kit.principal import Principal

CSV = {"content-type": "text/csv"}
NDJSON = {"content-type": "application/x-ndjson"}
STOPPED = ("unsubscribed", "bounced", "complained")


async def _stopped(app: FastAPI, account: Account, api: httpx.AsyncClient) -> dict[str, Any]:
    """A contact of each stopped status, each by its own path: unsubscribed by the
    account (PATCH), bounced and complained by mail's (`set_status`); and an address on the
    list by a manual entry whose contact was then deleted ("gone")."""
    people: dict[str, Any] = {}
    for status in STOPPED:
        people[status] = await created(api, "/v3/contacts", {"email": f"{status}@example.com"})
    r = await api.patch(
        f"/v3/contacts/{people['unsubscribed']['id']}", json={"status": "unsubscribed"}
    )
    assert r.status_code == 200, r.text
    me = Principal.acting_for(int(account.id), "live")
    async with app.state.services.db.transaction() as conn:
        assert await set_status(conn, me, int(people["bounced"]["id"]), "bounced")
        assert await set_status(conn, me, int(people["complained"]["id"]), "complained")
    gone = await created(api, "/v3/contacts", {"email": "gone@example.com"})
    r = await api.post("/v3/suppressions", json={"email": "Gone@Example.com", "reason": "manual"})
    assert r.status_code == 201, r.text
    assert (await api.get(f"/v3/contacts/{gone['id']}")).json()["status"] == "unsubscribed"
    assert (await api.delete(f"/v3/contacts/{gone['id']}")).status_code == 204
    for status in STOPPED:
        found = (await api.get(f"/v3/contacts/{people[status]['id']}")).json()
        assert found["status"] == status
    return people


async def _status_by_email(api: httpx.AsyncClient) -> dict[str, str]:
    r = await api.get("/v3/contacts", params={"pageSize": "100"})
    assert r.status_code == 200, r.text
    return {c["email"].lower(): c["status"] for c in r.json()["data"]}


async def _no_active_suppressed(api: httpx.AsyncClient) -> None:
    """Every address on the list has no active contact."""
    statuses = await _status_by_email(api)
    r = await api.get("/v3/suppressions", params={"pageSize": "100"})
    listed = [e["email"].lower() for e in r.json()["data"] if e["email"]]
    assert listed
    assert [a for a in listed if statuses.get(a) == "active"] == []


async def _imported(api: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    r = await api.post("/v3/contactImports", content=body, headers=headers)
    assert r.status_code == 202, r.text
    state: dict[str, Any] = {}

    async def done() -> bool:
        state.update((await api.get(f"/v3/contactImports/{r.json()['id']}")).json())
        return state["status"] in ("completed", "failed")

    await wait_for(done, timeout=30, what="the import")
    return state


async def test_the_api_refuses_to_activate_and_recreates_with_the_entrys_status(
    app: FastAPI, account: Account
) -> None:
    api = account.live
    people = await _stopped(app, account, api)
    for status in STOPPED:
        cid = people[status]["id"]
        body = problem(await api.patch(f"/v3/contacts/{cid}", json={"status": "active"}), 409)
        assert status in body["detail"]
        full = {"email": f"{status}@example.com", "status": "active"}
        problem(await api.put(f"/v3/contacts/{cid}", json=full), 409)
        # A PUT that leaves the status out keeps it (the default would be active).
        kept = await api.put(
            f"/v3/contacts/{cid}", json={"email": f"{status}@example.com", "firstName": "X"}
        )
        assert kept.status_code == 200, kept.text
        assert kept.json()["status"] == status
        # Moving the stopped contact to a fresh address does not free it either.
        problem(
            await api.patch(
                f"/v3/contacts/{cid}",
                json={"email": f"new-{status}@example.com", "status": "active"},
            ),
            409,
        )
        # Deleted and made again, by any spelling: the entry's status, no new entry.
        assert (await api.delete(f"/v3/contacts/{cid}")).status_code == 204
        again = await created(
            api, "/v3/contacts", {"email": f"{status.upper()}@example.com", "status": "active"}
        )
        assert again["status"] == status
    # The manual entry whose contact was deleted gives `unsubscribed`.
    gone = await created(api, "/v3/contacts", {"email": "gone@example.com", "status": "active"})
    assert gone["status"] == "unsubscribed"
    problem(await api.patch(f"/v3/contacts/{gone['id']}", json={"status": "active"}), 409)
    # An active contact may not take a suppressed address.
    ann = await created(api, "/v3/contacts", {"email": "ann@example.com"})
    body = problem(
        await api.patch(f"/v3/contacts/{ann['id']}", json={"email": "bounced@EXAMPLE.com"}), 409
    )
    assert "suppression list" in body["detail"]
    problem(await api.put(f"/v3/contacts/{ann['id']}", json={"email": "gone@example.com"}), 409)
    assert (await api.get(f"/v3/contacts/{ann['id']}")).json()["email"] == "ann@example.com"
    entries = (await api.get("/v3/suppressions", params={"pageSize": "100"})).json()
    assert entries["meta"]["total"] == 4  # one per address: re-creating added none
    await _no_active_suppressed(api)


async def test_imports_skip_activations_and_make_suppressed_addresses_stopped(
    app: FastAPI, account: Account
) -> None:
    api = account.live
    await _stopped(app, account, api)
    csv = (
        b"email,firstName,status\n"
        b"unsubscribed@example.com,U,active\n"
        b"bounced@example.com,B,\n"  # no status: updated, stays bounced
        b"gone@example.com,G,active\n"  # suppressed, no contact: made unsubscribed
        b"new@example.com,N,active\n"
    )
    state = await _imported(api, csv + b"", CSV)
    assert (state["created"], state["updated"], state["skipped"], state["failed"]) == (2, 1, 1, 0)
    assert [e["line"] for e in state["errors"]] == [2]
    assert "skipped" in state["errors"][0]["message"]
    statuses = await _status_by_email(api)
    assert statuses["unsubscribed@example.com"] == "unsubscribed"
    assert statuses["bounced@example.com"] == "bounced"
    assert statuses["gone@example.com"] == "unsubscribed"
    assert statuses["new@example.com"] == "active"
    ndjson = b"\n".join(
        orjson.dumps(row)
        for row in (
            {"email": "COMPLAINED@example.com", "status": "active"},
            {"email": "bounced@example.com", "status": "active", "firstName": "B2"},
            {"email": "gone@example.com", "status": "active"},
        )
    )
    state = await _imported(api, ndjson, NDJSON)
    assert (state["created"], state["updated"], state["skipped"]) == (0, 0, 3)
    assert [e["line"] for e in state["errors"]] == [1, 2, 3]
    statuses = await _status_by_email(api)
    assert statuses["complained@example.com"] == "complained"
    assert statuses["bounced@example.com"] == "bounced"
    await _no_active_suppressed(api)


async def test_the_console_shows_the_refusal_and_creates_with_the_entrys_status(
    app: FastAPI, account: Account
) -> None:
    api = account.live
    people = await _stopped(app, account, api)
    async with browser(app) as b:
        email = await new_user(app, account.id)
        assert (await sign_in(b, email, "/contacts")).status_code == 303
        token = field((await b.get("/contacts/new")).text, "csrf_token")
        for status in STOPPED:
            cid = people[status]["id"]
            r = await b.post(
                f"/contacts/{cid}/edit",
                data={"csrf_token": token, "email": f"{status}@example.com", "status": "active"},
            )
            assert r.status_code == 409
            assert 'id="f-status-help"' in r.text
            assert "only the person can subscribe again" in r.text
        r = await b.post(
            "/contacts/new",
            data={"csrf_token": token, "email": "gone@example.com", "status": "active"},
        )
        assert r.status_code == 303
        fresh = await b.post(
            "/contacts/new",
            data={"csrf_token": token, "email": "fresh@example.com", "status": "active"},
        )
        assert fresh.status_code == 303
        fresh_id = fresh.headers["location"].rsplit("/", 1)[-1].split("?")[0]
        # The console unsubscribes: the address goes on the list, from the console.
        r = await b.post(
            f"/contacts/{fresh_id}/edit",
            data={"csrf_token": token, "email": "fresh@example.com", "status": "unsubscribed"},
        )
        assert r.status_code == 303
    statuses = await _status_by_email(api)
    assert statuses["gone@example.com"] == "unsubscribed"
    assert statuses["fresh@example.com"] == "unsubscribed"
    entry = (await api.get("/v3/suppressions", params={"email": "fresh@example.com"})).json()[
        "data"
    ]
    assert [(e["reason"], e["source"]) for e in entry] == [("unsubscribed", "console")]
    consents = (await api.get(f"/v3/contacts/{fresh_id}/consents")).json()["data"]
    assert [(c["action"], c["source"]) for c in consents] == [
        ("withdrawn", "console"),
        ("granted", "console"),
    ]
    await _no_active_suppressed(api)


async def test_concurrent_suppression_and_creation_leave_no_active_suppressed_contact(
    account: Account,
) -> None:
    api = account.live
    for round_ in range(8):
        address = f"race{round_}@example.com"
        await asyncio.gather(
            api.post("/v3/suppressions", json={"email": address}),
            api.post("/v3/contacts", json={"email": address, "status": "active"}),
        )
    await _no_active_suppressed(api)


async def test_unconfirmed_and_complained_contacts_get_no_campaign_mail(
    app: FastAPI, account: Account
) -> None:
    api = account.sandbox
    for name, status in (("ann", "active"), ("una", "unconfirmed"), ("bo", "bounced")):
        await created(api, "/v3/contacts", {"email": f"{name}@example.com", "status": status})
    cid = await created(api, "/v3/contacts", {"email": "cid@example.com"})
    me = Principal.acting_for(int(account.id), "sandbox")
    async with app.state.services.db.transaction() as conn:
        assert await set_status(conn, me, int(cid["id"]), "complained")
    campaign = await created(api, "/v3/emailCampaigns", EMAIL)
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send", json={"audience": {"all": True}}
    )
    assert r.status_code == 202, r.text

    async def sent() -> bool:
        found = await api.get(f"/v3/emailCampaigns/{campaign['id']}")
        return bool(found.json()["status"] == "sent")

    await wait_for(sent, what="the campaign to be sent")
    r = await api.get(
        "/v3/sandbox/emails", params={"pageSize": "100", "campaignId": campaign["id"]}
    )
    assert [m["to"] for m in r.json()["data"]] == ["ann@example.com"]
