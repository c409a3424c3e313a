"""Segments through the API: CRUD, the 422s of a bad tree, preview, a segment's contacts,
the contacts list's segmentId filter, and deletes of what a segment names."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from conftest import Account
from contract import asgi_client
from fastapi import FastAPI
from helpers import created, field_errors, problem, recorded_events
from oauthflow import BASE, REDIRECT, app_client

from activecommerce.kit.principal import Principal
from activecommerce.segments.service import segments_using
from activecommerce.webhooks.events import EVENT_TYPES


async def _field(app: FastAPI, account: Account, key: str, kind: str) -> int:
    db = app.state.services.db
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO contact_fields (account_id, env, name, key, type, required,"
            " created_at, updated_at) VALUES (?, 'sandbox', ?, ?, ?, ?, 'x', 'x')",
            [int(account.id), key, key, kind, False],
        )
    row = await db.fetchone(
        "SELECT id FROM contact_fields WHERE account_id = ? AND env = 'sandbox' AND key = ?",
        [int(account.id), key],
    )
    assert row is not None
    return int(row["id"])


async def _set(app: FastAPI, contact: str, values: dict[str, Any]) -> None:
    async with app.state.services.db.transaction() as conn:
        await conn.execute(
            "UPDATE contacts SET fields = ? WHERE id = ?",
            [orjson.dumps(values).decode(), int(contact)],
        )


async def _contacts(api: httpx.AsyncClient, n: int, prefix: str = "c") -> list[str]:
    return [
        (await created(api, "/v3/contacts", {"email": f"{prefix}{i}@x.io"}))["id"] for i in range(n)
    ]


async def test_crud_normalises_ids_and_checks_every_write(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    tag = (await created(api, "/v3/contactTags", {"name": "vip"}))["id"]
    group = (await created(api, "/v3/contactGroups", {"name": "news"}))["id"]
    tree = {"all": [{"tag": int(tag), "has": True}, {"not": {"group": "00" + group, "in": True}}]}
    r = await api.post(
        "/v3/segments", json={"name": "VIPs", "conditions": tree}, headers={"Idempotency-Key": "s1"}
    )
    assert r.status_code == 201, r.text
    segment = r.json()
    assert r.headers["location"] == f"/v3/segments/{segment['id']}"
    assert segment["conditions"] == {
        "all": [{"tag": tag, "has": True}, {"not": {"group": group, "in": True}}]
    }
    again = await api.post(
        "/v3/segments", json={"name": "VIPs", "conditions": tree}, headers={"Idempotency-Key": "s1"}
    )
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == segment["id"]

    got = await api.get(f"/v3/segments/{segment['id']}")
    assert got.json() == segment

    # PATCH the name only: the tree stays; PATCH a bad tree: 422, nothing changes.
    r = await api.patch(f"/v3/segments/{segment['id']}", json={"name": "Top"})
    assert r.status_code == 200, r.text
    assert r.json()["conditions"] == segment["conditions"]
    bad = {"any": [{"tag": tag, "has": True}, {"tag": "999999", "has": True}]}
    r = await api.patch(f"/v3/segments/{segment['id']}", json={"conditions": bad})
    assert field_errors(r) == {"conditions.any.1.tag"}
    r = await api.patch(f"/v3/segments/{segment['id']}", json={"conditions": None})
    assert field_errors(r) == {"conditions"}
    r = await api.put(
        f"/v3/segments/{segment['id']}",
        json={"name": "Active", "conditions": {"field": "status", "op": "eq", "value": "active"}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["conditions"] == {"field": "status", "op": "eq", "value": "active"}
    r = await api.put(f"/v3/segments/{segment['id']}", json={"name": "No tree"})
    assert field_errors(r) == {"conditions"}

    await created(
        api, "/v3/segments", {"name": "Another", "conditions": {"tag": tag, "has": False}}
    )
    listed = (await api.get("/v3/segments", params={"sortBy": "name"})).json()
    assert [s["name"] for s in listed["data"]] == ["Active", "Another"]
    assert listed["meta"]["total"] == 2
    page = (await api.get("/v3/segments", params={"pageSize": 1})).json()
    after = await api.get("/v3/segments", params={"cursor": page["meta"]["nextCursor"]})
    assert [s["name"] for s in after.json()["data"]] == ["Another"]

    assert (await api.delete(f"/v3/segments/{segment['id']}")).status_code == 204
    problem(await api.get(f"/v3/segments/{segment['id']}"), 404)
    recorded = await recorded_events(
        app, account, "segment.created", "segment.updated", "segment.deleted"
    )
    assert [kind for kind, data in recorded if data["id"] == segment["id"]] == [
        "segment.created",
        "segment.updated",
        "segment.updated",
        "segment.deleted",
    ]
    assert {"segment.created", "segment.updated", "segment.deleted"} <= EVENT_TYPES


async def test_bad_trees_are_422s_naming_where(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.sandbox
    theirs = (await created(other.sandbox, "/v3/contactTags", {"name": "theirs"}))["id"]
    their_group = (await created(other.sandbox, "/v3/contactGroups", {"name": "g"}))["id"]
    await _field(app, account, "size", "number")
    cases: list[tuple[Any, str]] = [
        ([], "conditions"),
        ("all", "conditions"),
        ({}, "conditions"),
        ({"all": []}, "conditions.all"),
        ({"all": [{"field": "nope", "op": "eq", "value": 1}]}, "conditions.all.0.field"),
        ({"field": "fields.unknown", "op": "eq", "value": "x"}, "conditions.field"),
        ({"field": "fields.size", "op": "eq", "value": "ten"}, "conditions.value"),
        ({"field": "fields.size", "op": "contains", "value": 1}, "conditions.op"),
        ({"field": "email", "op": "is_set", "value": "x"}, "conditions.value"),
        ({"field": "createdAt", "op": "gt", "value": "yesterday"}, "conditions.value"),
        ({"any": [{"tag": theirs, "has": True}]}, "conditions.any.0.tag"),
        ({"not": {"group": their_group, "in": True}}, "conditions.not.group"),
        ({"tag": "x1", "has": True}, "conditions.tag"),
        ({"tag": "0", "has": True}, "conditions.tag"),
        ({"tag": -3, "has": True}, "conditions.tag"),
        ({"tag": "1", "has": "yes"}, "conditions.has"),
        ({"email": "bounced"}, "conditions.email"),
        ({"email": "opened", "campaignId": "424242"}, "conditions.campaignId"),
        ({"deal": {"stageId": 424242}, "has": True}, "conditions.deal.stageId"),
        ({"deal": {"stage": 1}, "has": True}, "conditions.deal.stage"),
        ({"what": 1}, "conditions"),
    ]
    deep: Any = {"field": "email", "op": "is_set"}
    for _ in range(6):
        deep = {"not": deep}
    cases.append((deep, "conditions.not.not.not.not.not"))
    cases.append(({"any": [{"field": "email", "op": "is_set"}] * 51}, "conditions.any.50"))
    for tree, where in cases:
        r = await api.post("/v3/segments", json={"name": "Bad", "conditions": tree})
        assert field_errors(r) == {where}, (tree, r.text)
        r = await api.post("/v3/segments/preview", json={"conditions": tree})
        assert field_errors(r) == {where}, (tree, r.text)
    # What cannot be written back as JSON: a lone surrogate, in a key or a value.
    for body in (
        '{"name": "S", "conditions": {"all": [{"\\ud800": 1}]}}',
        '{"name": "S", "conditions": {"field": "email", "op": "eq", "value": "\\udc00"}}',
    ):
        r = await api.post(
            "/v3/segments", content=body, headers={"content-type": "application/json"}
        )
        assert field_errors(r) == {"conditions"}, r.text
    assert (await api.get("/v3/segments")).json()["meta"]["total"] == 0
    assert field_errors(await api.post("/v3/segments/preview", json={})) == {"conditions"}


async def test_preview_counts_every_status_and_samples_ten(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    ids = await _contacts(api, 13)
    await api.patch(f"/v3/contacts/{ids[0]}", json={"status": "unsubscribed"})
    city = await _field(app, account, "city", "text")
    for contact in ids[:12]:
        await _set(app, contact, {str(city): "Berlin"})
    tree = {"field": "fields.city", "op": "eq", "value": "BERLIN"}
    before = (await api.get("/v3/segments")).json()["meta"]["total"]
    r = await api.post("/v3/segments/preview", json={"conditions": tree})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 12
    assert [c["id"] for c in body["sample"]] == list(reversed(ids[2:12]))
    assert body["sample"][0]["email"] == "c11@x.io"
    assert body["sample"][0]["fields"] == {"city": "Berlin"}  # as the contact shows it
    assert (await api.get("/v3/segments")).json()["meta"]["total"] == before
    none = await api.post(
        "/v3/segments/preview", json={"conditions": {"field": "email", "op": "is_not_set"}}
    )
    assert none.json() == {"count": 0, "sample": []}


async def test_segment_contacts_page_cursor_and_filter(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.sandbox
    ids = await _contacts(api, 7)
    tag = (await created(api, "/v3/contactTags", {"name": "t"}))["id"]
    for contact in ids[:5]:
        assert (await api.put(f"/v3/contacts/{contact}/tags/{tag}")).status_code == 204
    await api.patch(f"/v3/contacts/{ids[1]}", json={"status": "unsubscribed"})
    segment = await created(
        api,
        "/v3/segments",
        {
            "name": "Tagged, not c3",
            "conditions": {
                "all": [
                    {"tag": tag, "has": True},
                    {"field": "email", "op": "ne", "value": "c3@x.io"},
                ]
            },
        },
    )
    wanted = [ids[0], ids[1], ids[2], ids[4]]
    path = f"/v3/segments/{segment['id']}/contacts"
    first = (await api.get(path, params={"pageSize": 3})).json()
    assert [c["id"] for c in first["data"]] == wanted[:3]
    assert first["meta"]["total"] == 4
    assert first["meta"]["totalExact"] is True
    second = (await api.get(path, params={"cursor": first["meta"]["nextCursor"]})).json()
    assert [c["id"] for c in second["data"]] == wanted[3:]
    assert second["meta"]["nextCursor"] is None
    by_email = (await api.get(path, params={"sortBy": "email", "sortOrder": "desc"})).json()
    assert [c["email"] for c in by_email["data"]] == ["c4@x.io", "c2@x.io", "c1@x.io", "c0@x.io"]
    page2 = (await api.get(path, params={"pageSize": 3, "page": 2})).json()
    assert [c["id"] for c in page2["data"]] == wanted[3:]

    # The contacts list filtered by it, alone and with the other filters.
    listed = (await api.get("/v3/contacts", params={"segmentId": segment["id"]})).json()
    assert [c["id"] for c in listed["data"]] == wanted
    assert listed["meta"]["total"] == 4
    active = (
        await api.get("/v3/contacts", params={"segmentId": segment["id"], "status": "active"})
    ).json()
    assert [c["id"] for c in active["data"]] == [ids[0], ids[2], ids[4]]
    assert active["meta"]["total"] == 3
    other_tag = (await created(api, "/v3/contactTags", {"name": "u"}))["id"]
    await api.put(f"/v3/contacts/{ids[2]}/tags/{other_tag}")
    await api.put(f"/v3/contacts/{ids[6]}/tags/{other_tag}")
    both = (
        await api.get("/v3/contacts", params={"segmentId": segment["id"], "tagId": other_tag})
    ).json()
    assert [c["id"] for c in both["data"]] == [ids[2]]
    assert both["meta"]["total"] == 1
    searched = (
        await api.get("/v3/contacts", params={"segmentId": segment["id"], "q": "c4@"})
    ).json()
    assert [c["id"] for c in searched["data"]] == [ids[4]]

    # The export honours it.
    csv = (await api.get("/v3/contacts/export", params={"segmentId": segment["id"]})).text
    assert sorted(line.split(",")[0] for line in csv.splitlines()[1:]) == [
        "c0@x.io",
        "c1@x.io",
        "c2@x.io",
        "c4@x.io",
    ]

    # Another account's segment, an unknown or a malformed one.
    theirs = await created(
        other.sandbox,
        "/v3/segments",
        {"name": "All", "conditions": {"field": "email", "op": "is_set"}},
    )
    problem(await api.get(f"/v3/segments/{theirs['id']}/contacts"), 404)
    problem(await api.get(f"/v3/segments/{theirs['id']}"), 404)
    problem(await api.delete(f"/v3/segments/{theirs['id']}"), 404)
    problem(await api.get("/v3/segments/x/contacts"), 404)
    for ref in (theirs["id"], "999999", "abc"):
        r = (await api.get("/v3/contacts", params={"segmentId": ref})).json()
        assert r["data"] == []
        assert r["meta"]["total"] == 0
    # The live environment does not see the sandbox's segment either.
    problem(await account.live.get(f"/v3/segments/{segment['id']}/contacts"), 404)


async def test_deleting_a_tag_or_group_a_segment_names_is_a_409(
    app: FastAPI, account: Account
) -> None:
    api = account.sandbox
    tag = (await created(api, "/v3/contactTags", {"name": "t"}))["id"]
    spare = (await created(api, "/v3/contactTags", {"name": "spare"}))["id"]
    group = (await created(api, "/v3/contactGroups", {"name": "g"}))["id"]
    named = await created(
        api,
        "/v3/segments",
        {
            "name": "Uses them",
            "conditions": {
                "any": [{"not": {"tag": tag, "has": True}}, {"group": group, "in": False}]
            },
        },
    )
    r = problem(await api.delete(f"/v3/contactTags/{tag}"), 409)
    assert named["id"] in r["detail"]
    assert "Uses them" in r["detail"]
    r = problem(await api.delete(f"/v3/contactGroups/{group}"), 409)
    assert named["id"] in r["detail"]
    # A tag whose id only starts like the named one's is free to go.
    assert (await api.delete(f"/v3/contactTags/{spare}")).status_code == 204

    principal = Principal.acting_for(int(account.id), "sandbox")
    db = app.state.services.db
    assert [u.id for u in await segments_using(db, principal, tag=int(tag))] == [int(named["id"])]
    assert await segments_using(db, principal, tag=int(spare)) == []
    assert await segments_using(db, principal, field_key="city") == []

    await api.put(
        f"/v3/segments/{named['id']}",
        json={"name": "Uses them", "conditions": {"field": "email", "op": "is_set"}},
    )
    assert (await api.delete(f"/v3/contactTags/{tag}")).status_code == 204
    assert (await api.delete(f"/v3/contactGroups/{group}")).status_code == 204


async def test_segments_using_a_field_walks_the_tree(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    await _field(app, account, "city", "text")
    await _field(app, account, "city2", "text")
    uses = await created(
        api,
        "/v3/segments",
        {"name": "Berliners", "conditions": {"field": "fields.city", "op": "eq", "value": "x"}},
    )
    # Names "fields.city" only as a value: no use of the field.
    await created(
        api,
        "/v3/segments",
        {
            "name": "Odd",
            "conditions": {"field": "fields.city2", "op": "eq", "value": "fields.city"},
        },
    )
    principal = Principal.acting_for(int(account.id), "sandbox")
    found = await segments_using(app.state.services.db, principal, field_key="city")
    assert [(u.id, u.name) for u in found] == [(int(uses["id"]), "Berliners")]


async def test_oauth_scopes_contacts_read_previews_and_lists(
    app: FastAPI, account: Account
) -> None:
    """Segments are in the contacts area; the preview, a POST, only reads."""
    client = await created(
        account.sandbox,
        "/v3/oauthClients",
        {"name": "Reader", "scopes": ["contacts:read"], "redirectUris": [REDIRECT]},
    )
    async with app_client(app, client) as oauth:
        token = await oauth.fetch_token(f"{BASE}/oauth/token", grant_type="client_credentials")
    tree = {"field": "email", "op": "is_set"}
    segment = await created(account.sandbox, "/v3/segments", {"name": "All", "conditions": tree})
    async with asgi_client(
        app, headers={"Authorization": f"Bearer {token['access_token']}"}
    ) as api:
        assert (
            await api.post("/v3/segments/preview", json={"conditions": tree})
        ).status_code == 200
        assert (await api.get(f"/v3/segments/{segment['id']}/contacts")).status_code == 200
        assert (await api.get("/v3/segments")).status_code == 200
        refused = await api.post("/v3/segments", json={"name": "x", "conditions": tree})
        assert "contacts:write" in problem(refused, 403)["detail"]
