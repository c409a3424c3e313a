"""The segments pages over HTTP, in process (no browser): the builder's shape changes,
the live preview, saving (and a refusal beside its rule), editing a saved tree, a tree
too deep for the builder, the contacts list filtered by a segment, another account's
segment."""

from __future__ import annotations

import html
import re

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import created
from oauthflow import browser, field, new_user, sign_in


async def _signed_in(app: FastAPI, account: Account, b: httpx.AsyncClient) -> str:
    """Signs `b` in as a new owner of `account` (the console opens its live data); the
    CSRF token."""
    email = await new_user(app, account.id)
    assert (await sign_in(b, email, "/segments")).status_code == 303
    return field((await b.get("/segments/new")).text, "csrf_token")


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


async def test_build_preview_save_and_filter(app: FastAPI, account: Account) -> None:
    api = account.live
    tag = await created(api, "/v3/contactTags", {"name": "vip"})
    for name in ("ann", "bob", "cid"):
        contact = await created(api, "/v3/contacts", {"email": f"{name}@shop.io"})
        if name != "cid":
            assert (
                await api.put(f"/v3/contacts/{contact['id']}/tags/{tag['id']}")
            ).status_code == 204
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        empty = await b.get("/segments")
        assert "No segments yet" in empty.text
        new = (await b.get("/segments/new")).text
        assert 'name="i0.what"' in new
        assert 'name="i0.kind" value="rule"' in new

        # Shape changes: a group (with one rule), a second rule in it, a rule that turns
        # into a tag rule; removing renumbers.
        form = {"csrf_token": token, "name": "VIPs", "mode": "all", "i0.kind": "rule"}
        form |= {"i0.what": "field", "i0.field": "email", "i0.op": "contains", "i0.value": "o"}
        r = await b.post(
            "/segments/builder",
            data={**form, "action": "add-group"},
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 200
        assert r.headers["hx-trigger"] == "segment-changed"
        assert 'name="i1.kind" value="group"' in r.text
        assert 'name="i1.r0.what"' in r.text
        assert "<html" not in r.text  # the builder alone
        grouped = form | {"i1.kind": "group", "i1.mode": "any", "i1.r0.what": "tag"}
        r = await b.post(
            "/segments/builder",
            data={**grouped, "action": "add-rule:i1"},
            headers={"HX-Request": "true"},
        )
        assert 'name="i1.r1.what"' in r.text
        assert 'name="i1.r0.target"' in r.text  # a tag rule offers the tags
        assert f'<option value="{tag["id"]}">vip</option>' in r.text
        r = await b.post("/segments/builder", data={**grouped, "action": "remove:i0"})
        assert "<html" in r.text  # without htmx: the whole page
        assert 'name="i0.kind" value="group"' in r.text
        assert 'name="i1.kind"' not in r.text

        # The live preview: a field rule and a group holding a tag rule.
        two = form | {
            "i1.kind": "group",
            "i1.mode": "any",
            "i1.r0.what": "tag",
            "i1.r0.yes": "yes",
            "i1.r0.target": tag["id"],
        }
        r = await b.post("/segments/preview", data=two, headers={"HX-Request": "true"})
        assert r.status_code == 200
        assert "2 contacts" in _text(r.text)
        assert "ann@shop.io" in r.text
        assert "cid@shop.io" not in r.text
        negated = two | {"i1.negate": "on"}
        r = await b.post("/segments/preview", data=negated, headers={"HX-Request": "true"})
        assert "1 contact " in _text(r.text)  # an "o" (all of them) and not vip: cid
        assert "cid@shop.io" in r.text
        unchosen = two | {"i1.r0.target": ""}
        r = await b.post("/segments/preview", data=unchosen, headers={"HX-Request": "true"})
        assert "must be an id" in r.text

        # Saving: a refusal beside its rule, then saved.
        r = await b.post("/segments/new", data=unchosen)
        assert r.status_code == 422
        assert "must be an id" in r.text
        assert 'value="VIPs"' in r.text
        r = await b.post("/segments/new", data=two)
        assert r.status_code == 303
        listed = (await api.get("/v3/segments")).json()["data"]
        assert [s["name"] for s in listed] == ["VIPs"]
        segment = listed[0]
        assert segment["conditions"] == {
            "all": [
                {"field": "email", "op": "contains", "value": "o"},
                {"any": [{"tag": tag["id"], "has": True}]},
            ]
        }
        page = (await b.get("/segments")).text
        assert f'href="/contacts?segmentId={segment["id"]}"' in page

        # The contacts list filtered by it, with the segment chosen in its select.
        contacts = await b.get(f"/contacts?segmentId={segment['id']}")
        assert "2 contacts" in _text(contacts.text)
        assert f'<option value="{segment["id"]}" selected>VIPs</option>' in contacts.text
        exported = await b.get(f"/contacts/export?segmentId={segment['id']}")
        assert sorted(exported.text.splitlines()[1:]) == [
            line for line in sorted(exported.text.splitlines()[1:]) if "@shop.io" in line
        ]
        assert len(exported.text.splitlines()) == 3

        # Editing shows the saved tree in the builder; saving changes it.
        edit = (await b.get(f"/segments/{segment['id']}/edit")).text
        assert 'name="i1.kind" value="group"' in edit
        assert 'id="i1.mode"' in edit
        assert re.search(r'name="i0.value" type="text" value="o"', edit)
        changed = two | {"name": "O-people", "i0.value": "a"}
        r = await b.post(f"/segments/{segment['id']}/edit", data=changed)
        assert r.status_code == 303
        got = (await api.get(f"/v3/segments/{segment['id']}")).json()
        assert got["name"] == "O-people"
        assert got["conditions"]["all"][0]["value"] == "a"


async def test_a_deep_tree_is_edited_as_json_and_others_are_404(
    app: FastAPI, account: Account, other: Account
) -> None:
    deep = {"all": [{"any": [{"all": [{"field": "email", "op": "is_set"}]}]}]}
    segment = await created(account.live, "/v3/segments", {"name": "Deep", "conditions": deep})
    theirs = await created(other.live, "/v3/segments", {"name": "Theirs", "conditions": deep})
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        edit = (await b.get(f"/segments/{segment['id']}/edit")).text
        assert 'name="conditions_json"' in edit
        r = await b.post(
            f"/segments/{segment['id']}/edit",
            data={
                "csrf_token": token,
                "name": "Deep",
                "conditions_json": '{"all": [{"tag": "0", "has": true}]}',
            },
        )
        assert r.status_code == 422
        assert "must be an id" in r.text
        r = await b.post(
            f"/segments/{segment['id']}/edit",
            data={
                "csrf_token": token,
                "name": "Deep",
                "conditions_json": '{"not": {"field": "email", "op": "is_set"}}',
            },
        )
        assert r.status_code == 303
        for path in (f"/segments/{theirs['id']}/edit", f"/segments/{theirs['id']}/delete"):
            assert (await b.get(path)).status_code == 404
        assert (
            await b.post(f"/segments/{theirs['id']}/delete", data={"csrf_token": token})
        ).status_code == 404
        r = await b.post(f"/segments/{segment['id']}/delete", data={"csrf_token": token})
        assert r.status_code == 303
        assert (await account.live.get(f"/v3/segments/{segment['id']}")).status_code == 404
