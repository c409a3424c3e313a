"""Bulk actions on the contacts list over HTTP, in process: on the ticked contacts, and
on every contact the list's filters match ("select all matching"): in the request for a
small selection, as a background job with a progress page for a large one; a delete of
all matching is confirmed by typing the count. Other contacts and other accounts are
untouched."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from conftest import Account
from fastapi import FastAPI
from helpers import created, wait_for
from oauthflow import browser, field, new_user, sign_in

from activecommerce.contacts import selection

PAGE = 25  # the contacts list's page


async def _signed_in(app: FastAPI, account: Account, b: httpx.AsyncClient) -> str:
    email = await new_user(app, account.id)
    assert (await sign_in(b, email, "/contacts")).status_code == 303
    return field((await b.get("/contacts/new")).text, "csrf_token")


async def _people(api: httpx.AsyncClient, prefix: str, n: int, group: str | None) -> list[str]:
    ids = []
    for i in range(n):
        contact = await created(api, "/v3/contacts", {"email": f"{prefix}{i}@example.com"})
        ids.append(contact["id"])
        if group is not None:
            assert (
                await api.put(f"/v3/contacts/{contact['id']}/groups/{group}")
            ).status_code == 204
    return ids


async def _tag_total(api: httpx.AsyncClient, tag_id: str) -> int:
    listed = await api.get("/v3/contacts", params={"tagId": tag_id, "pageSize": 1})
    return int(listed.json()["meta"]["total"])


async def _tag_named(api: httpx.AsyncClient, name: str) -> dict[str, str]:
    (tag,) = [t for t in (await api.get("/v3/contactTags")).json()["data"] if t["name"] == name]
    return dict(tag)


async def test_all_matching_are_tagged_others_and_other_accounts_untouched(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.live
    fans = await created(api, "/v3/contactGroups", {"name": "fans"})
    matching = await _people(api, "fan", 2 * PAGE + 3, fans["id"])
    others = await _people(api, "else", 4, None)
    their_group = await created(other.live, "/v3/contactGroups", {"name": "fans"})
    theirs = await _people(other.live, "their", 3, their_group["id"])

    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        listed = await b.get("/contacts", params={"groupId": fans["id"]})
        assert listed.text.count('name="ids"') == PAGE  # one page of them
        assert f"All {len(matching)} contacts matching these filters" in listed.text
        assert f'name="match-groupId" value="{fans["id"]}"' in listed.text
        back = f"/contacts?groupId={fans['id']}"
        done = await b.post(
            "/contacts/bulk",
            data={
                "csrf_token": token,
                "scope": "all",
                "match-groupId": fans["id"],
                "new_tag": "all fans",
                "action": "tag",
                "back": back,
            },
        )
        assert done.status_code == 303
        assert done.headers["location"] == back
        shown = await b.get(back)
        assert f"{len(matching)} contacts tagged." in shown.text
        tag = await _tag_named(api, "all fans")
        assert await _tag_total(api, tag["id"]) == len(matching)
        tagged = await api.get(
            "/v3/contacts", params={"tagId": tag["id"], "groupId": fans["id"], "pageSize": 100}
        )
        assert {c["id"] for c in tagged.json()["data"]} == set(matching)
        for contact_id in others:
            assert (await api.get(f"/v3/contacts/{contact_id}/tags")).json()["data"] == []
        # Each membership is the API's own: its event, the contact's activity.
        row = await app.state.services.db.fetchone(
            "SELECT count(*) AS n FROM contact_activity WHERE account_id = ? AND type = ?",
            (int(account.id), "contact.tagged"),
        )
        assert row is not None
        assert row["n"] == len(matching)

        # Another account's group as the filter matches none of ours, nor touches theirs.
        foreign = await b.post(
            "/contacts/bulk",
            data={
                "csrf_token": token,
                "scope": "all",
                "match-groupId": their_group["id"],
                "tag": tag["id"],
                "action": "untag",
            },
        )
        assert foreign.status_code == 303
        assert await _tag_total(api, tag["id"]) == len(matching)
        for contact_id in theirs:
            assert (await other.live.get(f"/v3/contacts/{contact_id}/tags")).json()["data"] == []
        # Another account's tag as the target: refused, nothing done.
        their_tag = await created(other.live, "/v3/contactTags", {"name": "x"})
        refused = await b.post(
            "/contacts/bulk",
            data={
                "csrf_token": token,
                "scope": "all",
                "tag": their_tag["id"],
                "action": "tag",
            },
        )
        assert refused.status_code == 303
        assert await _tag_total(other.live, their_tag["id"]) == 0

        # The ticked ones: added to a group, then removed.
        picked = await b.post(
            "/contacts/bulk",
            data={"csrf_token": token, "ids": others[:2], "new_group": "picked", "action": "group"},
        )
        assert picked.status_code == 303
        groups = (await api.get("/v3/contactGroups")).json()["data"]
        (group,) = [g for g in groups if g["name"] == "picked"]
        listed = await api.get("/v3/contacts", params={"groupId": group["id"]})
        assert {c["id"] for c in listed.json()["data"]} == set(others[:2])
        await b.post(
            "/contacts/bulk",
            data={"csrf_token": token, "ids": others[0], "group": group["id"], "action": "ungroup"},
        )
        listed = await api.get("/v3/contacts", params={"groupId": group["id"]})
        assert [c["id"] for c in listed.json()["data"]] == [others[1]]


async def test_a_large_selection_is_a_job_with_progress(
    app: FastAPI, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selection, "INLINE_LIMIT", 5)  # 33 contacts are "large" here
    api = account.live
    fans = await created(api, "/v3/contactGroups", {"name": "fans"})
    matching = await _people(api, "fan", PAGE + 8, fans["id"])
    others = await _people(api, "else", 2, None)
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        queued = await b.post(
            "/contacts/bulk",
            data={
                "csrf_token": token,
                "scope": "all",
                "match-groupId": fans["id"],
                "match-q": "fan",
                "new_tag": "later",
                "action": "tag",
                "back": f"/contacts?groupId={fans['id']}&q=fan",
            },
        )
        assert queued.status_code == 303
        progress = queued.headers["location"]
        assert re.fullmatch(r"/contacts/bulk/\d+\?back=.+", progress)
        first = await b.get(progress)
        assert first.status_code == 200
        assert "to be tagged" in first.text or "Finished" in first.text

        async def finished() -> bool:
            answer = await b.get(progress, headers={"HX-Request": "true"})
            return "Finished" in answer.text

        await wait_for(finished, 30, "the bulk action")
        tag = await _tag_named(api, "later")
        assert await _tag_total(api, tag["id"]) == len(matching)
        for contact_id in others:
            assert (await api.get(f"/v3/contacts/{contact_id}/tags")).json()["data"] == []


async def test_deleting_all_matching_is_confirmed_by_the_count(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.live
    gone_group = await created(api, "/v3/contactGroups", {"name": "old"})
    doomed = await _people(api, "old", PAGE + 2, gone_group["id"])
    kept = await _people(api, "keep", 3, None)
    theirs = await _people(other.live, "old", 2, None)
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        form = {
            "csrf_token": token,
            "scope": "all",
            "match-groupId": gone_group["id"],
            "action": "delete",
            "back": "/contacts",
        }
        ask = await b.post("/contacts/bulk", data=form)
        assert ask.status_code == 200
        assert f"Delete {len(doomed)} contacts?" in ask.text
        assert f"Type {len(doomed)} to confirm" in ask.text
        assert f'name="match-groupId" value="{gone_group["id"]}"' in ask.text
        wrong = await b.post("/contacts/bulk", data=form | {"confirm": "3"})
        assert wrong.status_code == 422
        assert 'id="f-confirm-help"' in wrong.text
        assert await _count(api) == len(doomed) + len(kept)
        deleted = await b.post("/contacts/bulk", data=form | {"confirm": str(len(doomed))})
        assert deleted.status_code == 303
        assert f"{len(doomed)} contacts deleted." in (await b.get("/contacts")).text
        assert await _count(api) == len(kept)
        for contact_id in kept:
            assert (await api.get(f"/v3/contacts/{contact_id}")).status_code == 200
        # The ticked ones: confirmed too.
        one = {"csrf_token": token, "ids": kept[0], "action": "delete"}
        assert (await b.post("/contacts/bulk", data=one)).status_code == 200
        assert (await b.post("/contacts/bulk", data=one | {"confirm": "1"})).status_code == 303
        assert (await api.get(f"/v3/contacts/{kept[0]}")).status_code == 404
    for contact_id in theirs:
        assert (await other.live.get(f"/v3/contacts/{contact_id}")).status_code == 200


async def _count(api: httpx.AsyncClient) -> int:
    return int((await api.get("/v3/contacts", params={"pageSize": 1})).json()["meta"]["total"])


async def test_bad_bulk_forms_are_messages_not_errors(app: FastAPI, account: Account) -> None:
    contact = await created(account.live, "/v3/contacts", {"email": "only@example.com"})
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        for data, message in (
            ({"ids": ["²", "x"], "action": "tag", "new_tag": "t"}, "Select some contacts first."),
            ({"ids": contact["id"], "action": "tag", "tag": "abc"}, "No such contact tag."),
            ({"ids": contact["id"], "action": "tag"}, "Choose a contact tag or type a new name."),
            ({"ids": contact["id"], "action": "explode"}, "action must be one of"),
            ({"scope": "all", "match-status": "nope", "action": "tag", "new_tag": "t"}, "status"),
        ):
            answer = await b.post("/contacts/bulk", data={"csrf_token": token, **data})
            assert answer.status_code == 303, data
            shown = await b.get(answer.headers["location"])
            assert 'role="alert"' in shown.text, data
            assert message.lower() in html.unescape(shown.text).lower(), (data, shown.text)
    tags = (await account.live.get(f"/v3/contacts/{contact['id']}/tags")).json()["data"]
    assert tags == []
