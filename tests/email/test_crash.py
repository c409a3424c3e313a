"""Exactly once, crash or not (SPEC §5): a 2,000-recipient campaign while the serving
process (with its embedded worker) is killed with SIGKILL at random points and started
again. A real SMTP server counts what arrives: everyone at least once, and at most one
duplicate per SMTP connection per kill, under the same Message-ID. With the capture
transport: exactly once."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import own_database
from servers import CLI, cli_account, free_port, server_env
from smtp import Inbox, smtp_server

from activecommerce.kit.clock import now
from activecommerce.kit.migrate import upgrade

RECIPIENTS = 2000
CONNECTIONS = 4
KILLS = 3


class Server:
    """`activecommerce serve` that can be killed (-9) and started again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.port = env, log, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            with suppress(httpx.TransportError):
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _sql(url: str, sql: str, rows: list[tuple[Any, ...]] | None = None) -> list[Any]:
    """Run SQL on the test database from outside the server (setup and counting)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            if rows is not None:
                conn.executemany(sql, rows)
                conn.commit()
                return []
            return list(conn.execute(sql).fetchall())
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url) as pg:
        pg_sql = sql.replace("?", "%s")
        if rows is not None:
            with pg.cursor() as cur:
                cur.executemany(pg_sql, rows)
            return []
        return list(pg.execute(pg_sql).fetchall())


def _audience(url: str, api: httpx.Client, account_id: int, env: str) -> str:
    """RECIPIENTS contacts in one group (written straight to the database: fast)."""
    group = api.post("/v3/contactGroups", json={"name": "Everyone"}).json()
    stamp = now()
    _sql(
        url,
        "INSERT INTO contacts (account_id, env, email, first_name, status, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, 'active', ?, ?)",
        [(account_id, env, f"r{i}@example.com", f"R{i}", stamp, stamp) for i in range(RECIPIENTS)],
    )
    _sql(
        url,
        "INSERT INTO contact_group_members (contact_id, group_id, account_id, env, created_at)"
        f" SELECT id, {int(group['id'])}, account_id, env, created_at FROM contacts"
        f" WHERE account_id = {account_id} AND env = '{env}'",
        [()],
    )
    return str(group["id"])


@pytest.mark.parametrize("transport", ["smtp", "capture"])
def test_killed_mid_send_everyone_gets_it_and_duplicates_stay_bounded(
    tmp_path: Path, transport: str
) -> None:
    rng = random.Random()
    with own_database(tmp_path) as url, smtp_server() as (inbox, port):
        upgrade(url)
        env = server_env(
            url,
            tmp_path,
            ACTIVECOMMERCE_EMBEDDED_WORKER="true",
            ACTIVECOMMERCE_SMTP_URL=f"smtp://127.0.0.1:{port}",
            ACTIVECOMMERCE_SMTP_CONNECTIONS=str(CONNECTIONS),
            ACTIVECOMMERCE_JOB_LEASE_SECONDS="2",
            ACTIVECOMMERCE_EMAIL_BATCH_SIZE="100",
            ACTIVECOMMERCE_PUBLIC_URL="https://mail.shop.io",
        )
        info = cli_account(env, plan="enterprise")
        live = transport == "smtp"
        key = info["liveApiKey"] if live else info["sandboxApiKey"]
        server = Server(env, tmp_path / "server.log")
        server.start()
        try:
            with httpx.Client(base_url=server.base, headers={"Api-Token": key}) as api:
                group = _audience(url, api, int(info["accountId"]), "live" if live else "sandbox")
                body = {
                    "name": "Big",
                    "subject": "Hi {{ contact.firstName }}",
                    "fromEmail": "n@shop.io",
                    "htmlContent": "<p>Hello {{ contact.firstName }}</p>",
                }
                campaign = api.post("/v3/emailCampaigns", json=body).json()
                # Live marketing email needs a postal address (the account's default).
                address = {"postalAddress": "1 Main St, Springfield"}
                assert api.patch("/v3/account", json=address).status_code == 200
                r = api.post(
                    f"/v3/emailCampaigns/{campaign['id']}/send",
                    json={"audience": {"groupIds": [group]}},
                )
                assert r.status_code == 202, r.text

            def delivered() -> int:
                if live:
                    return int(inbox.count())
                rows = _sql(
                    url,
                    f"SELECT count(*) FROM captured_emails WHERE campaign_id = {campaign['id']}",
                )
                return int(rows[0][0])

            for threshold in sorted(rng.sample(range(100, RECIPIENTS - 100), KILLS)):
                deadline = time.monotonic() + 120
                while delivered() < threshold:
                    assert time.monotonic() < deadline, f"stuck below {threshold}: {delivered()}"
                    time.sleep(0.002)
                server.kill()
                server.start()

            with httpx.Client(base_url=server.base, headers={"Api-Token": key}) as api:
                deadline = time.monotonic() + 120
                while api.get(f"/v3/emailCampaigns/{campaign['id']}").json()["status"] != "sent":
                    assert time.monotonic() < deadline, (
                        server.log.read_text()[-3000:],
                        delivered(),
                    )
                    time.sleep(0.1)
                report = api.get(f"/v3/emailCampaigns/{campaign['id']}/report").json()
        finally:
            server.stop()

        assert report["recipients"] == RECIPIENTS
        assert report["sent"] == RECIPIENTS
        expected = {f"r{i}@example.com" for i in range(RECIPIENTS)}
        if live:
            _check_smtp(inbox, expected)
        else:
            rows = _sql(
                url, f"SELECT to_email FROM captured_emails WHERE campaign_id = {campaign['id']}"
            )
            counts = Counter(row[0] for row in rows)
            assert set(counts) == expected
            assert max(counts.values()) == 1  # exactly once


def _check_smtp(inbox: Inbox, expected: set[str]) -> None:
    counts = Counter(inbox.recipients())
    assert set(counts) == expected  # nobody missed
    duplicates = sum(counts.values()) - len(expected)
    # Only what was in flight when killed: at most one per connection per kill.
    assert duplicates <= KILLS * CONNECTIONS, counts.most_common(5)
    ids: dict[str, set[str]] = {}
    for message in inbox.messages():
        ids.setdefault(str(message["To"]), set()).add(str(message["Message-ID"]))
    assert all(len(found) == 1 for found in ids.values())  # a resend keeps its Message-ID
