"""The command line as operators use it: real processes, a real HTTP server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import POSTGRES_ADMIN_URL, Account, own_database
from fastapi import FastAPI
from oauthflow import PASSWORD, browser, new_user, sign_in
from servers import CLI, cli_account, cli_env, free_port, running_server, server_env

from activecommerce.kit.migrate import has_schema


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
        # The account's id is printed too: the one `accounts list` shows.
        account_id = re.search(r"developer account, id (\d+)", text)
        assert account_id, text
        accounts = _cli(env, "accounts", "list", "--json")
        assert [a["id"] for a in json.loads(accounts.stdout)] == [account_id.group(1)]
        # No relay configured: the start says live mail is captured, not delivered.
        assert "live mail is captured, not delivered" in text
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


def _cli(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True)


def _cli_each(
    env: dict[str, str], commands: list[tuple[str, ...]], cwd: Path | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """The commands run at once (each is mostly its start-up)."""
    procs = [
        subprocess.Popen(
            [*CLI, *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    done = []
    for args, proc in zip(commands, procs, strict=True):
        stdout, stderr = proc.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(list(args), proc.returncode, stdout, stderr))
    return done


# Commands that work on an existing database (each with arguments that would pass): one
# of the service commands, the new one and the worker.
NEEDS_A_DATABASE = [
    ("keys", "list", "--account", "1"),
    ("users", "reset-password", "--email", "ann@example.com"),
    ("worker",),
]


def test_commands_refuse_where_there_is_no_database(tmp_path: Path) -> None:
    """Run from another folder (the default data directory is ./.data), or pointed at an
    empty data directory: a clear refusal naming where it looked, and nothing made."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    empty = tmp_path / "empty"
    runs = _cli_each(cli_env(), NEEDS_A_DATABASE, cwd=elsewhere)
    [in_empty] = _cli_each(cli_env(ACTIVECOMMERCE_DATA_DIR=str(empty)), [("accounts", "list")])
    for out in runs:
        assert out.returncode != 0, (out.args, out.stderr)
        assert str(elsewhere / ".data" / "activecommerce.db") in out.stderr, out.stderr
        assert "ACTIVECOMMERCE_DATA_DIR" in out.stderr
        assert "ACTIVECOMMERCE_DATABASE_URL" in out.stderr
    assert list(elsewhere.iterdir()) == []  # no ./.data made
    assert in_empty.returncode != 0
    assert str(empty / "activecommerce.db") in in_empty.stderr
    assert not empty.exists()


def test_commands_refuse_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    """ACTIVECOMMERCE_DATABASE_URL naming a database without the schema (on PostgreSQL an
    empty database): refused, left as it was; `accounts create` may make it (and says so)."""
    with own_database(tmp_path) as url:
        env = cli_env(ACTIVECOMMERCE_DATABASE_URL=url, ACTIVECOMMERCE_DATA_DIR=str(tmp_path))
        for out in _cli_each(env, NEEDS_A_DATABASE[::2]):
            assert out.returncode != 0, (out.args, out.stderr)
            assert "No ActiveCommerce database at" in out.stderr, out.stderr
            assert "activecommerce db upgrade" in out.stderr
            assert "ACTIVECOMMERCE_DATABASE_URL" in out.stderr
        assert not has_schema(url)
        out = _cli(env, "accounts", "create", "--name", "First", "--plan", "free", "--json")
        assert out.returncode == 0, out.stderr
        assert "Setting up a new database at" in out.stderr
        assert json.loads(out.stdout)["plan"] == "free"
        assert has_schema(url)


async def test_accounts_list(
    account: Account, other: Account, database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, tmp_path)
    out, table = await asyncio.to_thread(
        _cli_each, env, [("accounts", "list", "--json"), ("accounts", "list")]
    )
    assert out.returncode == 0, out.stderr
    listed = {a["id"]: a for a in json.loads(out.stdout)}
    for made in (account, other):
        row = listed[made.id]
        assert (row["name"], row["plan"]) == (made.info["name"], "plus")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*Z", row["createdAt"])
    ids = [int(i) for i in listed]
    assert ids == sorted(ids)  # oldest first
    assert table.returncode == 0, table.stderr
    line = next(x for x in table.stdout.splitlines() if f" {account.info['name']} " in x)
    assert f" {account.id} " in line
    assert "plus" in line


async def test_users_reset_password(
    app: FastAPI, account: Account, database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, tmp_path)
    email = await new_user(app, account.id, "owner")

    async def reset(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(_cli, env, "users", "reset-password", *args)

    async with browser(app) as old_session:
        await sign_in(old_session, email, "/")
        assert (await old_session.get("/account/password")).status_code == 200

        out = await reset("--email", email.upper(), "--json")  # emails match in any case
        assert out.returncode == 0, out.stderr
        answer = json.loads(out.stdout)
        assert answer["email"] == email
        generated = answer["password"]
        assert len(generated) >= 12
        # The user's session ended; the old password no longer signs in, the new one does.
        assert (await old_session.get("/account/password")).status_code in (302, 303)
    assert await _signs_in(app, email, PASSWORD) is False
    assert await _signs_in(app, email, generated) is True

    # A chosen password (not printed), an unknown email and a short password, at once.
    chosen, unknown, short = await asyncio.to_thread(
        _cli_each,
        env,
        [
            ("users", "reset-password", "--email", email, "--password", "chosen-password-1"),
            ("users", "reset-password", "--email", "nobody-" + email),
            ("users", "reset-password", "--email", email, "--password", "short"),
        ],
    )
    assert chosen.returncode == 0, chosen.stderr
    assert email in chosen.stderr
    assert "chosen-password-1" not in chosen.stderr + chosen.stdout  # the chooser knows it
    assert unknown.returncode != 0
    assert "No user with the email" in unknown.stderr
    assert short.returncode != 0
    assert "8 to 1024" in short.stderr
    assert await _signs_in(app, email, "chosen-password-1") is True


async def _signs_in(app: FastAPI, email: str, password: str) -> bool:
    async with browser(app) as b:
        answer = await sign_in(b, email, "/", password)
        return answer.status_code in (302, 303)


def test_serve_workers_refused_on_sqlite(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = _cli(cli_env(ACTIVECOMMERCE_DATA_DIR=str(data)), "serve", "--workers", "2")
    assert out.returncode != 0
    assert "--workers needs PostgreSQL" in out.stderr
    assert not data.exists()  # refused before anything was made


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _servers_of(pid: int) -> list[int]:
    return [c for c in _children(pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="--workers runs on PostgreSQL")
def test_serve_workers_on_postgresql(tmp_path: Path) -> None:
    """N API processes on one port; killed, the supervisor leaves none behind."""
    with own_database(tmp_path) as url:
        env = server_env(url, tmp_path)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = tmp_path / "serve.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [*CLI, "serve", "--port", str(port), "--workers", "2"],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 60
            while len(_servers_of(proc.pid)) < 2 or not _answers(base):
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            servers = _servers_of(proc.pid)
            assert len(servers) == 2
            text = log.read_text()
            assert "API processes: 2" in text
            key = re.search(r"Api-Token: (ac_test_[A-Za-z0-9_-]+)", text)  # not the db name
            assert key, text
            with httpx.Client(base_url=base, headers={"Api-Token": key.group(1)}) as client:
                for i in range(20):  # a new connection each: either process answers
                    made = httpx.post(
                        f"{base}/v3/contacts",
                        json={"email": f"w{i}@example.com"},
                        headers={"Api-Token": key.group(1)},
                    )
                    assert made.status_code == 201, made.text
                assert client.get("/v3/contacts").json()["meta"]["total"] == 20
            proc.kill()  # SIGKILL: the supervisor cannot stop its processes itself
            proc.wait()
            deadline = time.monotonic() + 15
            while any(_alive(pid) for pid in servers):
                assert time.monotonic() < deadline, "a server process outlived its parent"
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(15)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
