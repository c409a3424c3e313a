"""Another account's or environment's data is invisible: a 404, never its data."""

from __future__ import annotations

import httpx
from conftest import Account
from helpers import problem


async def test_other_account_sees_404(account: Account, other: Account) -> None:
    mine = (await account.sandbox.post("/v3/contacts", json={"email": "me@x.io"})).json()
    theirs = other.sandbox
    problem(await theirs.get(f"/v3/contacts/{mine['id']}"), 404)
    problem(await theirs.patch(f"/v3/contacts/{mine['id']}", json={"firstName": "x"}), 404)
    problem(await theirs.put(f"/v3/contacts/{mine['id']}", json={"email": "x@x.io"}), 404)
    problem(await theirs.delete(f"/v3/contacts/{mine['id']}"), 404)
    assert (await theirs.get("/v3/contacts")).json()["meta"]["total"] == 0
    # The same email is free in another account.
    assert (await theirs.post("/v3/contacts", json={"email": "me@x.io"})).status_code == 201
    assert (await account.sandbox.get(f"/v3/contacts/{mine['id']}")).json() == mine


async def test_environments_are_separate(account: Account) -> None:
    sandbox, live = account.sandbox, account.live
    s = (await sandbox.post("/v3/contacts", json={"email": "same@x.io"})).json()
    assert (await live.post("/v3/contacts", json={"email": "same@x.io"})).status_code == 201
    problem(await live.get(f"/v3/contacts/{s['id']}"), 404)
    assert (await live.get("/v3/contacts")).json()["meta"]["total"] == 1
    assert (await sandbox.get("/v3/contacts")).json()["meta"]["total"] == 1


async def test_references_to_other_accounts_are_refused(account: Account, other: Account) -> None:
    pipeline = (await other.sandbox.post("/v3/pipelines", json={"name": "theirs"})).json()
    r = await account.sandbox.post(
        "/v3/dealStages", json={"pipelineId": pipeline["id"], "name": "S"}
    )
    problem(r, 422)
    tag = (await other.sandbox.post("/v3/contactTags", json={"name": "t"})).json()
    contact = (await account.sandbox.post("/v3/contacts", json={"email": "c@x.io"})).json()
    problem(await account.sandbox.put(f"/v3/contacts/{contact['id']}/tags/{tag['id']}"), 404)
    listed = await account.sandbox.get("/v3/contacts", params={"tagId": tag["id"]})
    assert listed.json()["data"] == []


async def test_bearer_and_api_token_reach_the_same_data(
    account: Account, anon: httpx.AsyncClient
) -> None:
    key = account.info["sandboxApiKey"]
    created = await anon.post(
        "/v3/contactTags", json={"name": "t"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert created.status_code == 201
    got = await anon.get(f"/v3/contactTags/{created.json()['id']}", headers={"Api-Token": key})
    assert got.status_code == 200
