"""The command line as operators use it: real processes, a real HTTP server."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
from servers import CLI, cli_account, cli_env, running_server


def test_accounts_create_json(database_url: str, tmp_path: Path) -> None:
    env = cli_env(ACTIVECOMMERCE_DATABASE_URL=database_url, ACTIVECOMMERCE_DATA_DIR=str(tmp_path))
    for plan, live in (("free", False), ("professional", True)):
        out = subprocess.run(
            [*CLI, "accounts", "create", "--name", "Acme Ltd", "--plan", plan, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        info = json.loads(out.stdout)
        assert info["plan"] == plan
        assert isinstance(info["accountId"], str)
        assert info["sandboxApiKey"].startswith("ac_test_")
        if live:
            assert info["liveApiKey"].startswith("ac_live_")
        else:
            assert info["liveApiKey"] is None
        assert info["sandboxApiKey"] not in out.stderr


def test_accounts_create_refuses_unknown_plan(tmp_path: Path) -> None:
    env = cli_env(ACTIVECOMMERCE_DATA_DIR=str(tmp_path))
    out = subprocess.run(
        [*CLI, "accounts", "create", "--name", "X", "--plan", "platinum", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "platinum" in out.stderr
    assert out.stdout == ""


def test_serve_on_a_fresh_data_dir_prints_a_working_key(tmp_path: Path) -> None:
    env = cli_env(ACTIVECOMMERCE_DATA_DIR=str(tmp_path / "data"))
    with running_server(env, tmp_path / "serve.log") as (base, log):
        text = log.read_text()
        key = re.search(r"(ac_test_[A-Za-z0-9_-]+)", text)
        assert key, text
        assert f"{base}/docs" in text
        assert f"{base}/v3" in text
        headers = {"Api-Token": key.group(1)}
        created = httpx.post(f"{base}/v3/contacts", json={"email": "a@b.co"}, headers=headers)
        assert created.status_code == 201
        listed = httpx.get(f"{base}/v3/contacts", headers=headers)
        assert listed.json()["meta"]["total"] == 1
    assert (tmp_path / "data" / "activecommerce.db").exists()
    # A second start keeps the data and does not make another account.
    with running_server(env, tmp_path / "serve2.log") as (base, log):
        assert "ac_test_" not in log.read_text()
        listed = httpx.get(f"{base}/v3/contacts", headers=headers)
        assert listed.json()["meta"]["total"] == 1


def test_db_upgrade(tmp_path: Path) -> None:
    env = cli_env(ACTIVECOMMERCE_DATA_DIR=str(tmp_path))
    out = subprocess.run([*CLI, "db", "upgrade"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "activecommerce.db").exists()


def test_contacts_import(database_url: str, tmp_path: Path) -> None:
    env = cli_env(ACTIVECOMMERCE_DATABASE_URL=database_url, ACTIVECOMMERCE_DATA_DIR=str(tmp_path))
    account = cli_account(env, "plus")["accountId"]
    people = tmp_path / "people.csv"
    people.write_text(
        "email,firstName,tags\n"
        + "".join(f"cli{i}@example.com,Name {i},cli\n" for i in range(1200))
        + "not-an-email,X,\n"
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [*CLI, "contacts", "import", *args, "--account", account, "--env", "sandbox"]
        return subprocess.run(command, env=env, capture_output=True, text=True)

    out = run(str(people), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "completed"
    assert (result["total"], result["created"], result["failed"]) == (1201, 1200, 1)
    assert result["errors"][0]["line"] == 1202
    assert result["finishedAt"]

    out = run(str(people), "--no-update", "--json")  # the same file again: all there
    assert out.returncode == 0, out.stderr
    assert (json.loads(out.stdout)["skipped"], json.loads(out.stdout)["created"]) == (1200, 0)

    lines = tmp_path / "more.ndjson"
    lines.write_text('{"email": "cli0@example.com", "firstName": "Changed"}\n{"email": "n@e.co"}\n')
    out = run(str(lines))
    assert out.returncode == 0, out.stderr
    assert "2 rows, 1 created, 1 updated, 0 skipped, 0 failed" in out.stderr
    assert out.stdout == ""

    out = subprocess.run(
        [*CLI, "contacts", "import", str(lines), "--account", account, "--env", "staging"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "live or sandbox" in out.stderr
    free = cli_account(env, "free")["accountId"]
    out = subprocess.run(
        [*CLI, "contacts", "import", str(lines), "--account", free, "--env", "live", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "no live data" in out.stderr
