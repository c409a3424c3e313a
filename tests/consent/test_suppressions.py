"""The suppression list's API (filters, manual entries, refusals, isolation) and a
contact's consent records."""

from __future__ import annotations

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import created, problem

from activecommerce.consent.keys import address_hash
from activecommerce.contacts.service import set_status
from activecommerce.kit.principal import Principal


async def test_manual_entries_are_added_once_found_by_address_and_removed(
    account: Account, other: Account
) -> None:
    api = account.live
    ann = await created(api, "/v3/contacts", {"email": "ann@example.com"})
    r = await api.post("/v3/suppressions", json={"email": "ANN@example.com", "reason": "manual"})
    assert r.status_code == 201, r.text
    entry = r.json()
    assert r.headers["location"] == f"/v3/suppressions/{entry['id']}"
    assert (entry["email"], entry["reason"], entry["source"]) == (
        "ANN@example.com",
        "manual",
        "api",
    )
    # The contact became unsubscribed, with a withdrawal.
    assert (await api.get(f"/v3/contacts/{ann['id']}")).json()["status"] == "unsubscribed"
    consents = (await api.get(f"/v3/contacts/{ann['id']}/consents")).json()
    assert [(c["action"], c["source"]) for c in consents["data"]] == [
        ("withdrawn", "api"),
        ("granted", "api"),
    ]
    # Already on the list: 200 with the existing entry, nothing new.
    again = await api.post("/v3/suppressions", json={"email": "ann@EXAMPLE.com"})
    assert again.status_code == 200
    assert again.json() == entry
    assert (await api.get(f"/v3/suppressions/{entry['id']}")).json() == entry
    for query, ids in (
        ({"email": "Ann@Example.COM"}, [entry["id"]]),
        ({"email": "nobody@example.com"}, []),
        ({"reason": "manual"}, [entry["id"]]),
        ({"reason": "bounced"}, []),
    ):
        r = await api.get("/v3/suppressions", params=query)
        assert r.status_code == 200, r.text
        assert [e["id"] for e in r.json()["data"]] == ids, query
    problem(await api.get("/v3/suppressions", params={"reason": "bored"}), 422)
    problem(await api.get("/v3/suppressions", params={"email": "not-an-address"}), 422)
    problem(
        await api.post("/v3/suppressions", json={"email": "x@example.com", "reason": "bounced"}),
        422,
    )
    problem(await api.post("/v3/suppressions", json={"email": "nope"}), 422)
    # Another account sees nothing of it.
    theirs = other.live
    problem(await theirs.get(f"/v3/suppressions/{entry['id']}"), 404)
    problem(await theirs.delete(f"/v3/suppressions/{entry['id']}"), 404)
    assert (await theirs.get("/v3/suppressions")).json()["data"] == []
    problem(await theirs.get(f"/v3/contacts/{ann['id']}/consents"), 404)
    # Nor does the other environment.
    assert (await account.sandbox.get("/v3/suppressions")).json()["data"] == []
    # Removed: the contact keeps its status (only the person can subscribe again).
    assert (await api.delete(f"/v3/suppressions/{entry['id']}")).status_code == 204
    problem(await api.delete(f"/v3/suppressions/{entry['id']}"), 404)
    assert (await api.get(f"/v3/contacts/{ann['id']}")).json()["status"] == "unsubscribed"


async def test_other_reasons_cannot_be_removed_and_erased_entries_show_no_address(
    app: FastAPI, account: Account
) -> None:
    api = account.live
    bo = await created(api, "/v3/contacts", {"email": "bo@example.com"})
    me = Principal.acting_for(int(account.id), "live")
    db = app.state.services.db
    async with db.transaction() as conn:
        assert await set_status(conn, me, int(bo["id"]), "bounced")
        # An erased entry, as erasure leaves it: the keyed hash only.
        await conn.execute(
            "INSERT INTO suppressions (account_id, env, email, email_hash, reason, source,"
            " created_at, updated_at) VALUES (?, 'live', NULL, ?, 'erased', 'erasure',"
            " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            (int(account.id), address_hash("Erased@example.com")),
        )
    listed = (await api.get("/v3/suppressions", params={"reason": "bounced"})).json()["data"]
    assert [(e["email"], e["source"]) for e in listed] == [("bo@example.com", "bounce")]
    body = problem(await api.delete(f"/v3/suppressions/{listed[0]['id']}"), 409)
    assert "manual" in body["detail"]
    erased = (await api.get("/v3/suppressions", params={"email": "erased@EXAMPLE.com"})).json()
    assert [(e["email"], e["reason"]) for e in erased["data"]] == [(None, "erased")]
    problem(await api.delete(f"/v3/suppressions/{erased['data'][0]['id']}"), 409)
    made = await created(api, "/v3/contacts", {"email": "erased@example.com"})
    assert made["status"] == "unsubscribed"
    consents = (await api.get(f"/v3/contacts/{bo['id']}/consents")).json()["data"]
    assert [(c["action"], c["source"]) for c in consents] == [
        ("withdrawn", "bounce"),
        ("granted", "api"),
    ]


async def test_suppressions_and_consents_page_by_cursor(account: Account) -> None:
    api = account.live
    for n in range(5):
        r = await api.post("/v3/suppressions", json={"email": f"p{n}@example.com"})
        assert r.status_code == 201
    seen: list[str] = []
    r = await api.get("/v3/suppressions", params={"pageSize": "2"})
    while True:
        page = r.json()
        seen += [e["email"] for e in page["data"]]
        if page["meta"]["nextCursor"] is None:
            break
        r = await api.get(
            "/v3/suppressions", params={"pageSize": "2", "cursor": page["meta"]["nextCursor"]}
        )
    assert seen == [f"p{n}@example.com" for n in reversed(range(5))]
    assert page["meta"]["total"] == 5
    ann = await created(api, "/v3/contacts", {"email": "ann@example.com"})
    for status in ("unsubscribed",):
        assert (
            await api.patch(f"/v3/contacts/{ann['id']}", json={"status": status})
        ).status_code == 200
    first = (await api.get(f"/v3/contacts/{ann['id']}/consents", params={"pageSize": "1"})).json()
    assert [c["action"] for c in first["data"]] == ["withdrawn"]
    assert first["meta"]["total"] == 2
    cursor = first["meta"]["nextCursor"]
    rest = (await api.get(f"/v3/contacts/{ann['id']}/consents", params={"cursor": cursor})).json()
    assert [c["action"] for c in rest["data"]] == ["granted"]
    assert rest["data"][0]["formId"] is None
    problem(await api.get("/v3/contacts/nope/consents"), 404)


async def test_unconfirmed_and_stopped_creates_record_no_grant(api: httpx.AsyncClient) -> None:
    una = await created(api, "/v3/contacts", {"email": "una@example.com", "status": "unconfirmed"})
    uma = await created(api, "/v3/contacts", {"email": "uma@example.com", "status": "unsubscribed"})
    assert (await api.get(f"/v3/contacts/{una['id']}/consents")).json()["data"] == []
    shown = (await api.get(f"/v3/contacts/{uma['id']}/consents")).json()["data"]
    assert [(c["action"], c["source"]) for c in shown] == [("withdrawn", "api")]
    listed = (await api.get("/v3/suppressions", params={"email": "uma@example.com"})).json()
    assert [(e["reason"], e["source"]) for e in listed["data"]] == [("unsubscribed", "api")]
    # The account may confirm an unconfirmed contact itself (it is not stopped).
    r = await api.patch(f"/v3/contacts/{una['id']}", json={"status": "active"})
    assert r.status_code == 200
    # A PUT without status keeps unconfirmed too.
    una2 = await created(
        api, "/v3/contacts", {"email": "una2@example.com", "status": "unconfirmed"}
    )
    r = await api.put(f"/v3/contacts/{una2['id']}", json={"email": "una2@example.com"})
    assert r.json()["status"] == "unconfirmed"
