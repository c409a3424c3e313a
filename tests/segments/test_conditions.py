"""The condition compiler on hand-picked cases: each kind of leaf, not/any/all, and the
mistakes that are 422s. (test_random.py checks it against an independent evaluation.)"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from conftest import Account
from fastapi import FastAPI

from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem
from activecommerce.segments.conditions import check, compile_tree


async def _matching(app: FastAPI, account: Account, tree: Any) -> set[str]:
    db = app.state.services.db
    principal = Principal.acting_for(int(account.id), "sandbox")
    checked = await check(db, principal, tree, "conditions")
    where = compile_tree(checked, principal, db.dialect)
    rows = await db.fetchall(
        f"SELECT email FROM contacts WHERE account_id = ? AND env = ? AND {where.sql}",
        [principal.account_id, principal.env, *where.params],
    )
    return {row["email"] for row in rows}


async def _field(app: FastAPI, account: Account, key: str, kind: str, options: Any = None) -> int:
    db = app.state.services.db
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO contact_fields (account_id, env, name, key, type, options, required,"
            " created_at, updated_at) VALUES (?, 'sandbox', ?, ?, ?, ?, ?, 'x', 'x')",
            [
                int(account.id),
                key,
                key,
                kind,
                orjson.dumps(options).decode() if options else None,
                False,
            ],
        )
    row = await db.fetchone(
        "SELECT id FROM contact_fields WHERE account_id = ? AND env = 'sandbox' AND key = ?",
        [int(account.id), key],
    )
    assert row is not None
    return int(row["id"])


async def _set(app: FastAPI, contact: str, values: dict[str, Any]) -> None:
    db = app.state.services.db
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE contacts SET fields = ? WHERE id = ?",
            [orjson.dumps(values).decode(), int(contact)],
        )


async def test_each_leaf_and_combination(app: FastAPI, account: Account, other: Account) -> None:
    api = account.sandbox
    ids = {}
    for email, first in [("a@x.io", "Ann"), ("b@x.io", "Bob"), ("c@x.io", None)]:
        body: dict[str, Any] = {"email": email}
        if first:
            body["firstName"] = first
        ids[email] = (await api.post("/v3/contacts", json=body)).json()["id"]
    city = await _field(app, account, "city", "text")
    size = await _field(app, account, "size", "number")
    vip = await _field(app, account, "vip", "boolean")
    born = await _field(app, account, "born", "date")
    likes = await _field(app, account, "likes", "multiselect", ["red", "blue"])
    await _set(
        app,
        ids["a@x.io"],
        {
            str(city): "Berlin",
            str(size): 10,
            str(vip): True,
            str(born): "1990-05-01",
            str(likes): ["red", "blue"],
        },
    )
    await _set(
        app,
        ids["b@x.io"],
        {str(city): "Paris", str(size): 2.5, str(vip): False, str(likes): ["blue"]},
    )
    tag = (await api.post("/v3/contactTags", json={"name": "t"})).json()["id"]
    await api.put(f"/v3/contacts/{ids['b@x.io']}/tags/{tag}")

    async def m(tree: Any) -> set[str]:
        return await _matching(app, account, tree)

    assert await m({"field": "fields.city", "op": "eq", "value": "berlin"}) == {"a@x.io"}
    # unset is false for ne and not_contains; is_not_set finds it
    assert await m({"field": "fields.city", "op": "ne", "value": "Berlin"}) == {"b@x.io"}
    assert await m({"field": "fields.city", "op": "not_contains", "value": "x"}) == {
        "a@x.io",
        "b@x.io",
    }
    assert await m({"field": "fields.city", "op": "is_not_set"}) == {"c@x.io"}
    assert await m({"not": {"field": "fields.city", "op": "eq", "value": "Berlin"}}) == {
        "b@x.io",
        "c@x.io",
    }
    assert await m({"field": "fields.size", "op": "gt", "value": 2}) == {"a@x.io", "b@x.io"}
    assert await m({"field": "fields.size", "op": "lte", "value": 2.5}) == {"b@x.io"}
    assert await m({"field": "fields.size", "op": "in", "value": [10, 3]}) == {"a@x.io"}
    assert await m({"field": "fields.vip", "op": "eq", "value": False}) == {"b@x.io"}
    assert await m({"field": "fields.born", "op": "lt", "value": "2000-01-01"}) == {"a@x.io"}
    assert await m({"field": "fields.born", "op": "more_than_days_ago", "value": 30}) == {"a@x.io"}
    assert await m({"field": "fields.likes", "op": "contains", "value": "red"}) == {"a@x.io"}
    assert await m({"field": "fields.likes", "op": "not_contains", "value": "red"}) == {"b@x.io"}
    assert await m({"field": "fields.likes", "op": "in", "value": ["red", "blue"]}) == {
        "a@x.io",
        "b@x.io",
    }
    assert await m({"field": "firstName", "op": "starts_with", "value": "a"}) == {"a@x.io"}
    assert await m({"field": "firstName", "op": "is_not_set"}) == {"c@x.io"}
    assert await m({"field": "createdAt", "op": "within_last_days", "value": 1}) == {
        "a@x.io",
        "b@x.io",
        "c@x.io",
    }
    assert await m({"tag": tag, "has": True}) == {"b@x.io"}
    assert await m({"tag": tag, "has": False}) == {"a@x.io", "c@x.io"}
    assert await m(
        {
            "any": [
                {"tag": tag, "has": True},
                {"field": "fields.city", "op": "eq", "value": "Berlin"},
            ]
        }
    ) == {"a@x.io", "b@x.io"}
    assert await m(
        {
            "all": [
                {"tag": tag, "has": False},
                {"not": {"field": "fields.vip", "op": "eq", "value": True}},
            ]
        }
    ) == {"c@x.io"}
    assert await m({"email": "opened"}) == set()
    assert await m({"email": "opened", "negate": True}) == {"a@x.io", "b@x.io", "c@x.io"}
    assert await m({"deal": {}, "has": False}) == {"a@x.io", "b@x.io", "c@x.io"}

    # another account's tag is a 422, as is its field
    other_tag = (await other.sandbox.post("/v3/contactTags", json={"name": "t"})).json()["id"]
    for tree, where in [
        ({"tag": other_tag, "has": True}, "conditions.tag"),
        ({"all": [{"field": "fields.nope", "op": "eq", "value": "x"}]}, "conditions.all.0.field"),
        ({"field": "fields.size", "op": "gt", "value": "big"}, "conditions.value"),
        ({"field": "fields.size", "op": "contains", "value": 1}, "conditions.op"),
        ({"field": "fields.likes", "op": "contains", "value": "green"}, "conditions.value"),
        ({"field": "status", "op": "eq", "value": "gone"}, "conditions.value"),
        ({"any": []}, "conditions.any"),
        ({"email": "sent"}, "conditions.email"),
        ({"tag": tag}, "conditions.has"),
        ({"field": "email", "op": "is_set", "value": 1}, "conditions.value"),
        (
            {"not": {"not": {"not": {"not": {"not": {"not": {"tag": tag, "has": True}}}}}}},
            "conditions.not.not.not.not.not",
        ),
        ({"any": [{"tag": tag, "has": True}] * 51}, "conditions.any.50"),
        ([1], "conditions"),
    ]:
        with pytest.raises(Problem) as caught:
            await _matching(app, account, tree)
        assert caught.value.status == 422
        errors = caught.value.errors or []
        assert errors[0]["field"] == where, (tree, errors)
