"""Custom contact fields: the collection, and the values contacts carry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from helpers import field_errors, new_hook, problem, wait_for
from receiver import Receiver
from standardwebhooks import Webhook


async def make_field(api: httpx.AsyncClient, key: str, type: str, **more: Any) -> dict[str, Any]:
    r = await api.post(
        "/v3/contactFields", json={"name": key.title(), "key": key, "type": type, **more}
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def make_contact(api: httpx.AsyncClient, email: str, **more: Any) -> httpx.Response:
    return await api.post("/v3/contacts", json={"email": email, **more})


def errors_of(response: httpx.Response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in problem(response, 422)["errors"]}


# ---------------------------------------------------------------- the collection


async def test_crud_and_list(api: httpx.AsyncClient) -> None:
    made = await make_field(api, "plan", "dropdown", options=["Free", "Gold"], defaultValue="Free")
    assert made["key"] == "plan"
    assert made["type"] == "dropdown"
    assert made["options"] == ["Free", "Gold"]
    assert made["required"] is False
    assert made["defaultValue"] == "Free"
    got = await api.get(f"/v3/contactFields/{made['id']}")
    assert got.json() == made
    r = await api.patch(f"/v3/contactFields/{made['id']}", json={"name": "Plan tier"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Plan tier"
    assert r.json()["options"] == ["Free", "Gold"]
    r = await api.put(
        f"/v3/contactFields/{made['id']}",
        json={"name": "Plan", "key": "plan", "type": "dropdown", "options": ["A", "B"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["defaultValue"] is None
    await make_field(api, "city", "text")
    listed = (await api.get("/v3/contactFields?sortBy=name&sortOrder=desc")).json()
    assert [f["key"] for f in listed["data"]] == ["plan", "city"]
    assert listed["meta"]["total"] == 2
    assert (await api.delete(f"/v3/contactFields/{made['id']}")).status_code == 204
    problem(await api.get(f"/v3/contactFields/{made['id']}"), 404)


async def test_key_rules(api: httpx.AsyncClient) -> None:
    for bad in ("City", "1city", "_x", "a-b", "a" * 41, ""):
        r = await api.post("/v3/contactFields", json={"name": "X", "key": bad, "type": "text"})
        assert field_errors(r) == {"key"}, bad
    await make_field(api, "a" * 40, "text")
    made = await make_field(api, "city", "text")
    problem(
        await api.post("/v3/contactFields", json={"name": "Y", "key": "city", "type": "number"}),
        409,
    )
    oid = made["id"]
    assert field_errors(await api.patch(f"/v3/contactFields/{oid}", json={"key": "town"})) == {
        "key"
    }
    assert field_errors(await api.patch(f"/v3/contactFields/{oid}", json={"type": "number"})) == {
        "type"
    }
    r = await api.put(f"/v3/contactFields/{oid}", json={"name": "T", "key": "town", "type": "text"})
    assert field_errors(r) == {"key"}
    assert (await api.get(f"/v3/contactFields/{oid}")).json()["key"] == "city"


async def test_idempotent_create(api: httpx.AsyncClient) -> None:
    body = {"name": "Score", "key": "score", "type": "number"}
    headers = {"Idempotency-Key": "field-1"}
    first = await api.post("/v3/contactFields", json=body, headers=headers)
    again = await api.post("/v3/contactFields", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert (await api.get("/v3/contactFields")).json()["meta"]["total"] == 1


async def test_options_and_defaults_are_checked(api: httpx.AsyncClient) -> None:
    post = api.post
    url = "/v3/contactFields"
    r = await post(url, json={"name": "C", "key": "c", "type": "text", "options": ["a"]})
    assert field_errors(r) == {"options"}
    r = await post(url, json={"name": "C", "key": "c", "type": "dropdown", "options": ["a", "a"]})
    assert field_errors(r) == {"options"}
    for kind, default in (
        ("number", "12"),
        ("number", True),
        ("date", "2026-02-30"),
        ("boolean", "yes"),
        ("dropdown", "z"),
        ("multiselect", ["z"]),
        ("text", 5),
    ):
        r = await post(
            url,
            json={"name": "C", "key": "c", "type": kind, "options": ["a"], "defaultValue": default}
            if kind in ("dropdown", "multiselect")
            else {"name": "C", "key": "c", "type": kind, "defaultValue": default},
        )
        assert field_errors(r) == {"defaultValue"}, (kind, default)
    made = await make_field(
        api, "tags2", "multiselect", options=["a", "b"], defaultValue=["b", "a"]
    )
    assert made["defaultValue"] == ["a", "b"]


async def test_another_accounts_field_is_invisible(api: httpx.AsyncClient, other: Any) -> None:
    made = await make_field(api, "city", "text")
    problem(await other.sandbox.get(f"/v3/contactFields/{made['id']}"), 404)
    problem(await other.sandbox.delete(f"/v3/contactFields/{made['id']}"), 404)
    assert (await other.sandbox.get("/v3/contactFields")).json()["data"] == []
    # Its key is free in the other account, and unknown to that account's contacts.
    r = await make_contact(other.sandbox, "o@example.com", fields={"city": "Berlin"})
    assert errors_of(r) == {"fields.city": "is not a custom field of this account"}
    await make_field(other.sandbox, "city", "number")
    r = await make_contact(other.sandbox, "o@example.com", fields={"city": 3})
    assert r.status_code == 201, r.text
    r = await make_contact(api, "a@example.com", fields={"city": "Berlin"})
    assert r.json()["fields"] == {"city": "Berlin"}


# ---------------------------------------------------------------- values


VALID: list[tuple[str, dict[str, Any], Any, Any]] = [
    ("text", {}, "Berlin", "Berlin"),
    ("text", {}, "", ""),
    ("text", {}, "x" * 10_000, "x" * 10_000),
    ("number", {}, 42, 42),
    ("number", {}, -1.5, -1.5),
    ("date", {}, "2024-02-29", "2024-02-29"),
    ("boolean", {}, False, False),
    ("boolean", {}, True, True),
    ("dropdown", {"options": ["Free", "Gold"]}, "Gold", "Gold"),
    ("multiselect", {"options": ["a", "b", "c"]}, ["c", "a", "c"], ["a", "c"]),
    ("multiselect", {"options": ["a", "b"]}, [], None),  # no value
    ("multiselect", {}, [], None),
]
INVALID: list[tuple[str, dict[str, Any], Any]] = [
    ("text", {}, 5),
    ("text", {}, "x" * 10_001),
    ("text", {}, ["a"]),
    ("number", {}, "42"),
    ("number", {}, True),
    ("number", {}, 1e300),
    ("date", {}, "2024-02-30"),
    ("date", {}, "2024-2-3"),
    ("date", {}, "2024-02-03T10:00:00Z"),
    ("date", {}, 20240203),
    ("boolean", {}, "true"),
    ("boolean", {}, 1),
    ("dropdown", {"options": ["Free", "Gold"]}, "gold"),
    ("dropdown", {"options": ["Free", "Gold"]}, ["Gold"]),
    ("dropdown", {}, "Gold"),
    ("multiselect", {"options": ["a", "b"]}, "a"),
    ("multiselect", {"options": ["a", "b"]}, ["a", "z"]),
    ("multiselect", {"options": ["a", "b"]}, [1]),
    ("multiselect", {}, ["a"]),
]


@pytest.mark.parametrize(("kind", "more", "sent", "stored"), VALID)
async def test_valid_values(
    api: httpx.AsyncClient, kind: str, more: dict[str, Any], sent: Any, stored: Any
) -> None:
    await make_field(api, "f", kind, **more)
    r = await make_contact(api, "v@example.com", fields={"f": sent})
    assert r.status_code == 201, r.text
    shown = {} if stored is None else {"f": stored}
    assert r.json()["fields"] == shown
    got = await api.get(f"/v3/contacts/{r.json()['id']}")
    assert got.json()["fields"] == shown


@pytest.mark.parametrize(("kind", "more", "sent"), INVALID)
async def test_invalid_values(
    api: httpx.AsyncClient, kind: str, more: dict[str, Any], sent: Any
) -> None:
    await make_field(api, "f", kind, **more)
    r = await make_contact(api, "v@example.com", fields={"f": sent})
    assert set(errors_of(r)) == {"fields.f"}
    made = await make_contact(api, "w@example.com")
    r = await api.patch(f"/v3/contacts/{made.json()['id']}", json={"fields": {"f": sent}})
    assert set(errors_of(r)) == {"fields.f"}


async def test_unknown_key_and_contact_without_fields(api: httpx.AsyncClient) -> None:
    r = await make_contact(api, "u@example.com", fields={"nope": 1, "Bad Key": 2})
    assert set(errors_of(r)) == {"fields.nope", "fields.Bad Key"}
    r = await make_contact(api, "u@example.com")
    assert r.json()["fields"] == {}
    listed = (await api.get("/v3/contacts")).json()["data"]
    assert listed[0]["fields"] == {}


async def test_patch_merges_and_null_clears(api: httpx.AsyncClient) -> None:
    await make_field(api, "city", "text")
    await make_field(api, "score", "number")
    await make_field(api, "vip", "boolean")
    r = await make_contact(api, "p@example.com", fields={"city": "Oslo", "score": 3})
    url = f"/v3/contacts/{r.json()['id']}"
    r = await api.patch(url, json={"fields": {"vip": True, "score": None}})
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {"city": "Oslo", "vip": True}
    r = await api.patch(url, json={"firstName": "Pia"})
    assert r.json()["fields"] == {"city": "Oslo", "vip": True}
    r = await api.patch(url, json={"fields": {}})
    assert r.json()["fields"] == {"city": "Oslo", "vip": True}
    r = await api.patch(url, json={"fields": None})
    assert r.json()["fields"] == {}


async def test_put_replaces(api: httpx.AsyncClient) -> None:
    await make_field(api, "city", "text")
    await make_field(api, "score", "number", defaultValue=1)
    r = await make_contact(api, "r@example.com", fields={"city": "Oslo", "score": 3})
    assert r.json()["fields"] == {"city": "Oslo", "score": 3}
    url = f"/v3/contacts/{r.json()['id']}"
    r = await api.put(url, json={"email": "r@example.com", "fields": {"city": "Rome"}})
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {"city": "Rome", "score": 1}  # the default again
    r = await api.put(url, json={"email": "r@example.com", "fields": {"score": None}})
    assert r.json()["fields"] == {}


async def test_defaults_and_required(api: httpx.AsyncClient) -> None:
    await make_field(api, "plan", "dropdown", options=["Free", "Gold"], defaultValue="Free")
    await make_field(api, "region", "text", required=True)
    await make_field(api, "tier", "number", required=True, defaultValue=1)
    r = await make_contact(api, "d@example.com")
    assert errors_of(r) == {"fields.region": "is required"}
    r = await make_contact(api, "d@example.com", fields={"region": None})
    assert errors_of(r) == {"fields.region": "is required"}
    r = await make_contact(api, "d@example.com", fields={"region": "EU"})
    assert r.status_code == 201, r.text
    assert r.json()["fields"] == {"plan": "Free", "region": "EU", "tier": 1}
    url = f"/v3/contacts/{r.json()['id']}"
    r = await make_contact(api, "e@example.com", fields={"region": "EU", "plan": None})
    assert r.json()["fields"] == {"region": "EU", "tier": 1}  # an explicit null: no default
    assert errors_of(await api.patch(url, json={"fields": {"region": None}})) == {
        "fields.region": "is required"
    }
    r = await api.patch(url, json={"fields": {"plan": None}})
    assert r.json()["fields"] == {"region": "EU", "tier": 1}
    r = await api.put(url, json={"email": "d@example.com"})
    assert errors_of(r) == {"fields.region": "is required"}


async def test_a_deleted_fields_values_vanish(api: httpx.AsyncClient) -> None:
    field = await make_field(api, "city", "text")
    await make_field(api, "score", "number")
    r = await make_contact(api, "g@example.com", fields={"city": "Oslo", "score": 2})
    url = f"/v3/contacts/{r.json()['id']}"
    assert (await api.delete(f"/v3/contactFields/{field['id']}")).status_code == 204
    assert (await api.get(url)).json()["fields"] == {"score": 2}
    listed = (await api.get("/v3/contacts")).json()["data"]
    assert listed[0]["fields"] == {"score": 2}
    await make_field(api, "city", "text")  # the same key: a new field, empty
    assert (await api.get(url)).json()["fields"] == {"score": 2}
    r = await api.patch(url, json={"fields": {"city": "Rome"}})
    assert r.json()["fields"] == {"score": 2, "city": "Rome"}


async def test_a_field_a_segment_uses_is_not_deleted(api: Any, account: Any, app: Any) -> None:
    field = await make_field(api, "city", "text")
    other_field = await make_field(api, "cityx", "text")
    db = app.state.services.db
    stamp = "2026-12-07T00:00:00.000000Z"
    async with db.transaction() as conn:
        for name, conditions in (
            ("Berliners", '{"all": [{"field": "fields.city", "op": "eq", "value": "Berlin"}]}'),
            ("Deep", '{"any": [{"not": {"all": [{"field": "fields.city", "op": "is_set"}]}}]}'),
            ("Mentions", '{"all": [{"field": "email", "op": "eq", "value": "fields.cityx"}]}'),
        ):
            await conn.execute(
                "INSERT INTO segments (account_id, env, name, conditions, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (int(account.id), "sandbox", name, conditions, stamp, stamp),
            )
    body = problem(await api.delete(f"/v3/contactFields/{field['id']}"), 409)
    assert "Berliners" in body["detail"]
    assert "Deep" in body["detail"]
    assert "Mentions" not in body["detail"]
    assert (await api.get(f"/v3/contactFields/{field['id']}")).status_code == 200
    # A key only mentioned as a compared value is not a use.
    assert (await api.delete(f"/v3/contactFields/{other_field['id']}")).status_code == 204


async def test_contact_events_carry_fields(api: httpx.AsyncClient, account: Any, app: Any) -> None:
    await make_field(api, "city", "text")
    r = await make_contact(api, "h@example.com", fields={"city": "Oslo"})
    url = f"/v3/contacts/{r.json()['id']}"
    await api.patch(url, json={"fields": {"city": "Rome"}})
    db = app.state.services.db
    rows = await db.fetchall(
        "SELECT type, data FROM events WHERE account_id = ? AND env = ? ORDER BY id",
        (int(account.id), "sandbox"),
    )
    payloads = [(row["type"], orjson.loads(row["data"])) for row in rows]
    created = [d for t, d in payloads if t == "contact.created"]
    updated = [d for t, d in payloads if t == "contact.updated"]
    assert created[-1]["fields"] == {"city": "Oslo"}
    assert updated[-1]["fields"] == {"city": "Rome"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


async def test_webhooks_carry_fields(api: httpx.AsyncClient, receiver: Receiver) -> None:
    await make_field(api, "city", "text")
    await make_field(api, "score", "number", defaultValue=0)
    hook = await new_hook(api, receiver.url, ["contact.created", "contact.updated"])
    r = await make_contact(api, "wh@example.com", fields={"city": "Oslo"})
    await api.patch(f"/v3/contacts/{r.json()['id']}", json={"fields": {"city": None, "score": 2}})
    await wait_for(lambda: len(receiver.received) >= 2)
    messages = [Webhook(hook["secret"]).verify(got.body, got.headers) for got in receiver.received]
    assert [(m["type"], m["data"]["fields"]) for m in messages] == [
        ("contact.created", {"city": "Oslo", "score": 0}),
        ("contact.updated", {"score": 2}),
    ]


async def test_odd_keys_and_values_are_422_not_500(api: httpx.AsyncClient) -> None:
    await make_field(api, "city", "text")
    await make_field(api, "plan", "dropdown", options=["a"])
    for fields in (
        {"\ud800": 1},
        {"x" * 5000: 1},
        {"city": "a\x00b"},
        {"city": "\udc80"},
        {"plan": "\ud800"},
        {"city": {"nested": [1, 2]}},
    ):
        r = await api.post(
            "/v3/contacts",
            content=_json_with_surrogates({"email": "odd@example.com", "fields": fields}),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422, (fields, r.text)
        assert all(e["field"].startswith("fields") for e in r.json()["errors"])
    r = await api.post(
        "/v3/contactFields",
        content=_json_with_surrogates(
            {"name": "T", "key": "t", "type": "text", "defaultValue": "\ud800"}
        ),
        headers={"content-type": "application/json"},
    )
    assert field_errors(r) == {"defaultValue"}


def _json_with_surrogates(value: Any) -> bytes:
    """JSON as a client may send it: lone surrogates written as \\u escapes."""
    return json.dumps(value).encode()


async def test_concurrent_patches_of_different_keys_all_stay(api: httpx.AsyncClient) -> None:
    keys = [f"k{i}" for i in range(8)]
    for key in keys:
        await make_field(api, key, "number")
    r = await make_contact(api, "c@example.com")
    url = f"/v3/contacts/{r.json()['id']}"
    results = await asyncio.gather(
        *(api.patch(url, json={"fields": {key: i}}) for i, key in enumerate(keys))
    )
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert (await api.get(url)).json()["fields"] == {key: i for i, key in enumerate(keys)}


async def test_changing_options_keeps_stored_values(api: httpx.AsyncClient) -> None:
    field = await make_field(api, "plan", "dropdown", options=["Free", "Gold"])
    await make_field(api, "city", "text")
    r = await make_contact(api, "o@example.com", fields={"plan": "Gold"})
    url = f"/v3/contacts/{r.json()['id']}"
    r = await api.patch(f"/v3/contactFields/{field['id']}", json={"options": ["Free", "Pro"]})
    assert r.status_code == 200, r.text
    r = await api.patch(url, json={"fields": {"city": "Oslo"}})
    assert r.json()["fields"] == {"plan": "Gold", "city": "Oslo"}
    assert set(errors_of(await api.patch(url, json={"fields": {"plan": "Gold"}}))) == {
        "fields.plan"
    }
    r = await api.patch(f"/v3/contactFields/{field['id']}", json={"defaultValue": "Gold"})
    assert field_errors(r) == {"defaultValue"}
