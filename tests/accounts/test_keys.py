"""API keys: listed by prefix, shown once, stored hashed, revoked at once; plans."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import problem
from servers import CLI, server_env


async def test_list_create_revoke(account: Account, anon: httpx.AsyncClient, app: FastAPI) -> None:
    api = account.sandbox
    listed = (await api.get("/v3/apiKeys")).json()
    assert listed["meta"]["total"] == 1
    (only,) = listed["data"]
    assert set(only) == {"id", "name", "prefix", "environment", "createdAt", "lastUsedAt"}
    assert only["environment"] == "sandbox"
    assert account.info["sandboxApiKey"].startswith(only["prefix"])
    assert only["lastUsedAt"] is not None  # this very request used it

    r = await api.post("/v3/apiKeys", json={})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["key"].startswith("ac_test_")
    assert created["environment"] == "sandbox"
    new_key = created["key"]
    assert (await anon.get("/v3/contacts", headers={"Api-Token": new_key})).status_code == 200
    keys = (await api.get("/v3/apiKeys")).json()["data"]
    assert len(keys) == 2
    assert all("key" not in k for k in keys)

    # Stored only as a keyed hash: the key is in no column of any row.
    rows = await app.state.services.db.fetchall(
        "SELECT * FROM api_keys WHERE account_id = ?", (int(account.id),)
    )
    for row in rows:
        assert all(new_key not in str(row[k]) for k in row.keys())  # noqa: SIM118 - a Row iterates its values

    assert (await api.delete(f"/v3/apiKeys/{created['id']}")).status_code == 204
    problem(await anon.get("/v3/contacts", headers={"Api-Token": new_key}), 401)
    problem(await api.delete(f"/v3/apiKeys/{created['id']}"), 404)


async def test_keys_of_other_environments_and_accounts(account: Account, other: Account) -> None:
    live_keys = (await account.live.get("/v3/apiKeys")).json()["data"]
    assert [k["environment"] for k in live_keys] == ["live"]
    sandbox_keys = (await account.sandbox.get("/v3/apiKeys")).json()["data"]
    problem(await other.sandbox.delete(f"/v3/apiKeys/{sandbox_keys[0]['id']}"), 404)
    problem(await account.sandbox.delete(f"/v3/apiKeys/{live_keys[0]['id']}"), 404)
    r = await account.sandbox.post("/v3/apiKeys", json={"environment": "live"})
    problem(r, 403)
    r = await account.live.post("/v3/apiKeys", json={"environment": "live"})
    assert r.status_code == 201
    assert r.json()["key"].startswith("ac_live_")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True)


def test_developer_accounts_have_the_sandbox_only(database_url: str, tmp_path: Path) -> None:
    env = server_env(
        database_url,
        tmp_path,
    )
    info = json.loads(_cli(env, "accounts", "create", "--name", "Dev", "--json").stdout)
    assert info["plan"] == "free"
    assert info["liveApiKey"] is None
    sandbox = {"Api-Token": info["sandboxApiKey"]}

    refused = _cli(env, "keys", "create", "--account", info["accountId"], "--env", "live")
    assert refused.returncode == 2
    assert "sandbox only" in refused.stderr

    assert _cli(env, "accounts", "set-plan", info["accountId"], "lite").returncode == 0
    made = _cli(env, "keys", "create", "--account", info["accountId"], "--env", "live", "--json")
    assert made.returncode == 0, made.stderr
    live_key = json.loads(made.stdout)["key"]
    assert live_key.startswith("ac_live_")

    listed = json.loads(_cli(env, "keys", "list", "--account", info["accountId"], "--json").stdout)
    assert sorted(k["environment"] for k in listed) == ["live", "sandbox"]
    assert live_key not in json.dumps(listed)

    # Downgrading takes the live environment away from the next request on.
    assert _cli(env, "accounts", "set-plan", info["accountId"], "free").returncode == 0
    live_id = next(k["id"] for k in listed if k["environment"] == "live")
    assert _cli(env, "keys", "revoke", live_id, "--account", info["accountId"]).returncode == 0
    again = _cli(env, "keys", "revoke", live_id, "--account", info["accountId"])
    assert again.returncode == 1
    assert sandbox["Api-Token"] not in again.stdout + again.stderr


async def test_live_key_of_downgraded_account_is_403(account: Account, app: FastAPI) -> None:
    from activecommerce.accounts.service import set_plan

    assert (await account.live.get("/v3/contacts")).status_code == 200
    await set_plan(app.state.services.db, int(account.id), "free")
    body = problem(await account.live.get("/v3/contacts"), 403)
    assert "sandbox only" in body["detail"]
    assert (await account.sandbox.get("/v3/contacts")).status_code == 200
    await set_plan(app.state.services.db, int(account.id), "plus")
    assert (await account.live.get("/v3/contacts")).status_code == 200


def test_the_command_line_names_a_key(database_url: str, tmp_path: Path) -> None:
    env = server_env(database_url, tmp_path)
    info = json.loads(_cli(env, "accounts", "create", "--name", "Named", "--json").stdout)
    account = info["accountId"]
    made = _cli(env, "keys", "create", "--account", account, "--name", "Deploy", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["name"] == "Deploy"
    listed = json.loads(_cli(env, "keys", "list", "--account", account, "--json").stdout)
    assert sorted(k["name"] or "" for k in listed) == ["", "Deploy"]
    refused = _cli(env, "keys", "create", "--account", account, "--name", "a\nb")
    assert refused.returncode != 0
    assert "name" in refused.stderr
