"""Lists that hold at scale (SPEC §10): cursor walks, maintained totals, text search
through the text index (FTS5 trigram / pg_trgm) with the results of a plain scan."""

from __future__ import annotations

import random
import string
from typing import Any

import httpx
import pytest
from conftest import Account
from fastapi import FastAPI
from helpers import created, field_errors

from activecommerce.kit.clock import now


async def _walk(api: httpx.AsyncClient, params: dict[str, Any], between: Any = None) -> list[str]:
    """Every id of a list, page after page by cursor (calling `between` after each page)."""
    seen: list[str] = []
    body = (await api.get("/v3/contacts", params=params)).json()
    while True:
        seen += [c["id"] for c in body["data"]]
        cursor = body["meta"]["nextCursor"]
        if cursor is None:
            return seen
        if between is not None:
            await between()
        body = (await api.get("/v3/contacts", params={**params, "cursor": cursor})).json()
        assert body["meta"]["page"] is None


@pytest.mark.parametrize(
    ("sort_by", "order"),
    [("createdAt", "asc"), ("email", "desc"), ("lastName", "asc"), ("firstName", "desc")],
)
async def test_a_cursor_walk_sees_each_row_once_while_rows_come_and_go(
    api: httpx.AsyncClient, sort_by: str, order: str
) -> None:
    rng = random.Random(7)
    people = []
    for i in range(45):
        body: dict[str, Any] = {"email": f"w{i:02d}@x.io"}
        if i % 3:  # a third have no names: NULLs sort last ascending, first descending
            body["firstName"] = rng.choice(["Ann", "Bob", "Cy"])
            body["lastName"] = rng.choice(["Lee", "Ng", "Ode"])
        people.append(await created(api, "/v3/contacts", body))
    deleted: set[str] = set()
    added = 0

    async def churn() -> None:
        nonlocal added
        victim = rng.choice([p for p in people if p["id"] not in deleted])
        assert (await api.delete(f"/v3/contacts/{victim['id']}")).status_code == 204
        deleted.add(victim["id"])
        added += 1
        await created(api, "/v3/contacts", {"email": f"new{added}@x.io", "lastName": "Mid"})

    params: dict[str, Any] = {"pageSize": 4, "sortBy": sort_by, "sortOrder": order}
    seen = await _walk(api, params, churn)
    assert len(seen) == len(set(seen))  # never twice
    stayed = {p["id"] for p in people} - deleted
    assert stayed <= set(seen)  # every row that stayed, seen
    # A walk without churn is the same order as the page-number list.
    numbered: list[str] = []
    for page in range(1, 100):
        data = (await api.get("/v3/contacts", params={**params, "page": page})).json()["data"]
        if not data:
            break
        numbered += [c["id"] for c in data]
    assert await _walk(api, params) == numbered


async def test_totals_are_exact_after_writes_and_deletes(api: httpx.AsyncClient) -> None:
    group = await created(api, "/v3/contactGroups", {"name": "G"})
    tag = await created(api, "/v3/contactTags", {"name": "T"})
    ids = []
    for i in range(6):
        status = "unsubscribed" if i < 2 else "active"
        contact = await created(api, "/v3/contacts", {"email": f"t{i}@x.io", "status": status})
        ids.append(contact["id"])
        if i % 2 == 0:
            await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
        await api.put(f"/v3/contacts/{contact['id']}/tags/{tag['id']}")

    async def totals() -> dict[str, int]:
        out = {}
        for name, params in (
            ("all", {}),
            ("unsub", {"status": "unsubscribed"}),
            ("active", {"status": "active"}),
            ("group", {"groupId": group["id"]}),
            ("tag", {"tagId": tag["id"]}),
            ("both", {"tagId": tag["id"], "status": "active"}),
        ):
            meta = (await api.get("/v3/contacts", params=params)).json()["meta"]
            assert meta["totalExact"] is True
            out[name] = meta["total"]
        return out

    assert await totals() == {"all": 6, "unsub": 2, "active": 4, "group": 3, "tag": 6, "both": 4}
    await api.patch(f"/v3/contacts/{ids[4]}", json={"status": "bounced"})
    await api.delete(f"/v3/contacts/{ids[0]}")  # in the group and the tag
    await api.delete(f"/v3/contacts/{ids[1]}/tags/{tag['id']}")
    assert await totals() == {"all": 5, "unsub": 1, "active": 3, "group": 2, "tag": 4, "both": 3}
    assert (await api.delete(f"/v3/contactTags/{tag['id']}")).status_code == 204
    assert (await api.get("/v3/contacts", params={"tagId": tag["id"]})).json()["meta"]["total"] == 0


def _random_word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + "_%.") for _ in range(rng.randint(3, 9)))


@pytest.mark.parametrize("rare_matches", [0, 5000])
async def test_search_equals_a_plain_scan(
    api: httpx.AsyncClient,
    other: Account,
    monkeypatch: pytest.MonkeyPatch,
    rare_matches: int,
) -> None:
    """On SQLite both ways: the page made of the text index's few candidates, and the walk
    of the list's order keeping the candidates (PostgreSQL: one way, run twice); the
    total counts the same rows, and none of another account's, which match every term."""
    monkeypatch.setattr("activecommerce.contacts.listing.RARE_MATCHES", rare_matches)
    monkeypatch.setattr("activecommerce.contacts.listing.SEARCH_COUNT_SECONDS", 30.0)
    rng = random.Random(11)
    people = []
    for i in range(60):
        first = _random_word(rng) if rng.random() < 0.8 else None
        last = _random_word(rng) if rng.random() < 0.8 else None
        body = {"email": f"{_random_word(rng).replace('%', 'p')}{i}@ex.io".lower()}
        body |= {k: v for k, v in (("firstName", first), ("lastName", last)) if v is not None}
        people.append(await created(api, "/v3/contacts", body))
    terms = ["ab", "a", "%", "_", "x.i", "EX.IO", "zzzz"]
    for person in rng.sample(people, 12):
        text = rng.choice([person["email"], person.get("firstName") or "abc"])
        start = rng.randrange(len(text))
        terms.append(text[start : start + rng.randint(1, 5)])
    for i, term in enumerate(terms):  # another account's contacts match every term
        body = {"email": f"o{i}@other.io", "firstName": term}
        assert (await other.sandbox.post("/v3/contacts", json=body)).status_code == 201
    for term in terms:
        expected = {
            p["id"]
            for p in people
            if any(
                term.lower() in (p.get(f) or "").lower() for f in ("email", "firstName", "lastName")
            )
        }
        found = await _walk(api, {"q": term, "pageSize": 7, "sortBy": "lastName"})
        assert set(found) == expected, term
        assert len(found) == len(expected), term
        meta = (await api.get("/v3/contacts", params={"q": term})).json()["meta"]
        assert (meta["total"], meta["totalExact"]) == (len(expected), True), term


async def _bulk_contacts(app: FastAPI, account: Account, count: int) -> None:
    stamp = now()
    async with app.state.services.db.transaction() as conn:
        for i in range(count):
            await conn.execute(
                "INSERT INTO contacts (account_id, env, email, status, created_at, updated_at)"
                " VALUES (?, 'sandbox', ?, 'active', ?, ?)",
                (int(account.id), f"many{i}@bulk.io", stamp, stamp),
            )


async def test_a_broad_search_has_a_lower_bound_total(
    app: FastAPI, account: Account, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("activecommerce.contacts.listing.SEARCH_COUNT_SECONDS", 30.0)
    await _bulk_contacts(app, account, 1005)
    meta = (await api.get("/v3/contacts", params={"q": "bulk"})).json()["meta"]
    assert (meta["total"], meta["totalExact"]) == (1000, False)
    assert meta["nextCursor"] is not None
    exact = (await api.get("/v3/contacts", params={"q": "many100"})).json()["meta"]
    assert (exact["total"], exact["totalExact"]) == (6, True)  # many100, many1000..1004
    everyone = (await api.get("/v3/contacts")).json()["meta"]
    assert (everyone["total"], everyone["totalExact"]) == (1005, True)


async def test_a_search_too_slow_to_count_says_what_its_page_proves(
    app: FastAPI, account: Account, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count that runs past its budget is given up (the statement is interrupted on
    SQLite, cancelled on PostgreSQL); the total is then a lower bound from the page."""
    monkeypatch.setattr("activecommerce.contacts.listing.SEARCH_COUNT_SECONDS", 1e-6)
    await _bulk_contacts(app, account, 1005)
    first = (await api.get("/v3/contacts", params={"q": "bulk", "pageSize": 20})).json()
    assert len(first["data"]) == 20
    assert (first["meta"]["total"], first["meta"]["totalExact"]) == (21, False)
    third = (await api.get("/v3/contacts", params={"q": "bulk", "page": 3})).json()["meta"]
    assert (third["total"], third["totalExact"]) == (61, False)
    last = (await api.get("/v3/contacts", params={"q": "bulk", "page": 51})).json()
    assert len(last["data"]) == 5
    assert (last["meta"]["total"], last["meta"]["totalExact"]) == (1005, True)
    past = (await api.get("/v3/contacts", params={"q": "bulk", "page": 60})).json()
    assert (past["data"], past["meta"]["total"], past["meta"]["totalExact"]) == ([], 0, False)
    # The connections that gave up still answer.
    found = (await api.get("/v3/contacts", params={"email": "many7@bulk.io"})).json()
    assert [c["email"] for c in found["data"]] == ["many7@bulk.io"]


async def test_a_bad_cursor_is_a_422(api: httpx.AsyncClient) -> None:
    for cursor in ("nope!", "WyJ4Il0", "W10"):
        r = await api.get("/v3/contacts", params={"cursor": cursor})
        assert field_errors(r) == {"cursor"}


@pytest.mark.parametrize("rare_below", [0, 5000])
async def test_membership_filters_read_small_and_large_groups_alike(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, rare_below: int
) -> None:
    """A group is read whole when small, probed in the list's order when large: both ways
    give the same rows in the same order."""
    monkeypatch.setattr("activecommerce.contacts.listing.RARE_MEMBERS", rare_below)
    group = await created(api, "/v3/contactGroups", {"name": "Some"})
    members = []
    for i in range(9):
        contact = await created(
            api, "/v3/contacts", {"email": f"m{i}@x.io", "lastName": f"L{i % 4}"}
        )
        if i % 3 != 1:
            await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
            members.append(contact)
    params = {"groupId": group["id"], "sortBy": "lastName", "sortOrder": "desc", "pageSize": 2}
    walked = await _walk(api, params)
    expected = sorted(members, key=lambda c: (c["lastName"], int(c["id"])), reverse=True)
    assert walked == [c["id"] for c in expected]
