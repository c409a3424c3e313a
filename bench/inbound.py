"""Bounce intake benchmark: delivery status notifications into `activecommerce inbound`.

What it measures
----------------
--messages (default 20,000) live messages, each to a contact of its own, are written
straight to the database (as the sender leaves them: `sent`). `activecommerce inbound`
(ACTIVECOMMERCE_BOUNCE_DOMAIN set) and `activecommerce serve` run on that database; this
process then sends one Postfix-style DSN (RFC 3464, `5.1.1`: a hard bounce, the costliest
report: the message, the contact's status, its suppression, a consent withdrawal and the
events) to each message's signed return path, over --connections (default 8) SMTP
connections at once, each sending its next DSN as soon as the last is answered `250`
(which the server says only once the report is committed).

It reports:

- DSNs processed per second (target: at least 500), end to end: the first DSN sent to the
  last `250`;
- the API's `GET /v3/contacts/{random id}` throughput and latency with --api-clients
  (default 8) keep-alive clients in a process of their own (bench/send.py's load), for
  --idle-seconds with no DSN flowing, then for as long as the DSNs flow; the ratio of the
  two (target: at least 0.7x);
- the inbound process's CPU time per DSN, and the rate one core of its own would give:
  on a machine shared with other work (the CPUs are shared by the SMTP clients, the API
  load, `serve`, PostgreSQL and anything else running) the wall-clock rate says more
  about the machine than about the server;
- that every message got its report and every contact is `bounced`.

Setups, each fresh: SQLite in a temporary data directory (the embedded mode: `serve` with
its worker, and `inbound`, on one file); with --postgres-url (an admin URL; a database
with a random name is made and dropped) the same on PostgreSQL (`serve` with
ACTIVECOMMERCE_EMBEDDED_WORKER=false). Everything is bounded: --timeout seconds per
flood. Processes are stopped by process group and the temporary directory removed, also
on error (--keep keeps it, with the servers' logs).

Run it from the repository root:

    python bench/inbound.py [--messages 20000] [--connections 8] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api as base
import send as sendbench

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

from activecommerce.deliverability.verp import Verp  # noqa: E402

HOST = base.HOST
PRODUCT = [sys.executable, "-m", "activecommerce"]
SECRET_KEY = "inbound-bench-secret-" + "x" * 24
BOUNCE_DOMAIN = "bounces.bench.test"
STAMP = "2026-01-01T00:00:00.000000Z"


@dataclass
class Result:
    setup: str
    dsns: int
    seconds: float
    quiet: dict[str, Any]
    busy: dict[str, Any]
    reports: int
    bounced: int
    # CPU seconds the inbound process spent during the flood (user + system): the figure
    # the machine's other load changes least.
    inbound_cpu: float

    @property
    def rate(self) -> float:
        return self.dsns / self.seconds

    @staticmethod
    def rps(load: dict[str, Any]) -> float:
        return float(load["requests"]) / max(1e-9, float(load["seconds"]))


def dsn(return_path: str, recipient: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {return_path}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: User unknown\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <x@shop.io>\r\nTo: {recipient}\r\n\r\n--B--\r\n"
    ).encode()


# ---------------------------------------------------------------------------- the database


def prepare(db_url: str | None, data_dir: Path, account_id: int, n: int) -> list[tuple[int, str]]:
    """N contacts and a sent live message to each: [(message id, address)]."""
    contacts = [
        (account_id, "live", f"p{i}@bench.example", "active", STAMP, STAMP) for i in range(n)
    ]
    insert = (
        "INSERT INTO email_messages (account_id, env, contact_id, is_test, to_email, status,"
        " due_at, sent_at, created_at, updated_at)"
        f" SELECT account_id, env, id, {{false}}, email, 'sent', '{STAMP}', '{STAMP}',"
        f" '{STAMP}', '{STAMP}' FROM contacts WHERE account_id = {int(account_id)}"
    )
    select = (
        f"SELECT id, to_email FROM email_messages WHERE account_id = {int(account_id)} ORDER BY id"
    )
    if db_url is None:
        conn = sqlite3.connect(data_dir / base.DB_NAME, timeout=30)
        try:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO contacts (account_id, env, email, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                contacts,
            )
            conn.execute(insert.format(false="0"))
            conn.execute("COMMIT")
            rows = conn.execute(select).fetchall()
        finally:
            conn.close()
        return [(int(r[0]), str(r[1])) for r in rows]
    import psycopg

    with psycopg.connect(db_url, connect_timeout=10) as pg:
        with pg.cursor() as cur:
            copy_sql = (
                "COPY contacts (account_id, env, email, status, created_at, updated_at) FROM STDIN"
            )
            with cur.copy(copy_sql) as copy:
                for row in contacts:
                    copy.write_row(row)
            cur.execute(insert.format(false="false"))
        pg.commit()
        pg.autocommit = True
        pg.execute("ANALYZE")
        rows = pg.execute(select).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def outcome(db_url: str | None, data_dir: Path, account_id: int) -> tuple[int, int]:
    """(reports stored, contacts bounced) of the account."""
    sqls = (
        f"SELECT count(*) FROM email_reports WHERE account_id = {int(account_id)}",
        f"SELECT count(*) FROM contacts WHERE account_id = {int(account_id)}"
        " AND status = 'bounced'",
    )
    if db_url is None:
        conn = sqlite3.connect(data_dir / base.DB_NAME, timeout=30)
        try:
            got = [int(conn.execute(sql).fetchone()[0]) for sql in sqls]
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(db_url, connect_timeout=10) as pg:
            got = []
            for sql in sqls:
                row = pg.execute(sql).fetchone()
                assert row is not None
                got.append(int(row[0]))
    return got[0], got[1]


# ---------------------------------------------------------------------------- the flood


async def flood(port: int, messages: list[tuple[str, bytes]], connections: int) -> float:
    """Send every DSN over `connections` connections; seconds from the first to the last
    250."""
    queue = list(reversed(messages))

    async def connection() -> None:
        async with aiosmtplib.SMTP(hostname=HOST, port=port, timeout=30) as smtp:
            while queue:
                rcpt, raw = queue.pop()
                errors, _ = await smtp.sendmail("", [rcpt], raw)
                if errors:
                    raise RuntimeError(f"refused: {errors}")

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return time.perf_counter() - started


async def flood_under_load(
    args: argparse.Namespace, port: int, api_port: int, key: str, lo: int, hi: int, dsns: Any
) -> tuple[float, dict[str, Any]]:
    task = asyncio.create_task(flood(port, dsns, args.connections))
    load = await asyncio.to_thread(
        sendbench.ApiLoad, api_port, key, lo, hi, args.api_clients, args.timeout
    )
    try:
        seconds = await asyncio.wait_for(task, args.timeout)
    finally:
        busy = await asyncio.to_thread(load.stop)
    return seconds, busy


def wait_smtp(server: base.Server, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            import socket

            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("inbound server did not listen in time")


# ---------------------------------------------------------------------------- a setup


def run_setup(args: argparse.Namespace, name: str, root: Path, db_url: str | None) -> Result:
    data_dir = root / name
    data_dir.mkdir()
    env = base.bench_env(data_dir)
    env["PYTHONPATH"] = str(SRC)
    env["ACTIVECOMMERCE_SECRET_KEY"] = SECRET_KEY
    env["ACTIVECOMMERCE_BOUNCE_DOMAIN"] = BOUNCE_DOMAIN
    if db_url is not None:
        env["ACTIVECOMMERCE_DATABASE_URL"] = db_url
        env["ACTIVECOMMERCE_EMBEDDED_WORKER"] = "false"
    subprocess.run([*PRODUCT, "db", "upgrade"], env=env, check=True, capture_output=True)
    account = sendbench.create_account(env)
    account_id, key = int(account["accountId"]), str(account["liveApiKey"])
    sent = prepare(db_url, data_dir, account_id, args.messages)
    verp = Verp(SECRET_KEY.encode(), BOUNCE_DOMAIN)
    dsns = []
    for message_id, address in sent:
        return_path = verp.return_path(message_id, "live")
        dsns.append((return_path, dsn(return_path, address)))
    contact_ids = [int(r) for r in _contact_range(db_url, data_dir, account_id)]
    api_port, smtp_port = base.free_port(), base.free_port()
    serve = base.Server(
        f"{name} serve",
        [*PRODUCT, "serve", "--port", str(api_port)],
        env,
        data_dir / "serve.log",
    )
    profile = [] if not args.profile else ["-m", "cProfile", "-o", str(root / f"{name}.prof")]
    inbound = base.Server(
        f"{name} inbound",
        [sys.executable, *profile, "-m", "activecommerce", "inbound", "--port", str(smtp_port)],
        env,
        data_dir / "inbound.log",
    )
    try:
        base.wait_ready(serve, api_port, key, contact_ids[0])
        wait_smtp(inbound, smtp_port)
        quiet_load = sendbench.ApiLoad(
            api_port, key, contact_ids[0], contact_ids[1], args.api_clients, args.timeout
        )
        time.sleep(args.idle_seconds)
        quiet = quiet_load.stop()
        cpu_before = inbound.cpu_seconds()
        seconds, busy = asyncio.run(
            flood_under_load(args, smtp_port, api_port, key, contact_ids[0], contact_ids[1], dsns)
        )
        inbound.check_alive()
        cpu = inbound.cpu_seconds() - cpu_before
        reports, bounced = outcome(db_url, data_dir, account_id)
    finally:
        serve.stop()
        inbound.stop()
    return Result(name, len(dsns), seconds, quiet, busy, reports, bounced, cpu)


def _contact_range(db_url: str | None, data_dir: Path, account_id: int) -> tuple[int, int]:
    return sendbench.contact_id_range(db_url, data_dir, account_id)


def make_database(admin_url: str) -> str:
    import psycopg

    name = f"ac_bench_inbound_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str, admin_url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def print_result(r: Result) -> list[str]:
    quiet, busy = Result.rps(r.quiet), Result.rps(r.busy)
    ratio = busy / quiet if quiet else float("nan")
    print(f"\n== {r.setup}")
    print(f"DSNs processed: {r.dsns} in {r.seconds:.2f} s = {r.rate:,.0f}/s (target >= 500/s)")
    per = r.inbound_cpu / r.dsns * 1000
    print(
        f"inbound process CPU: {per:.2f} ms per DSN ({r.inbound_cpu / r.seconds:.0%} of a core"
        f" during the flood): {1000 / per:,.0f} DSNs/s per core it has to itself"
    )
    print(f"reports stored: {r.reports}, contacts bounced: {r.bounced}")
    for label, load in (("quiet", r.quiet), ("while DSNs flow", r.busy)):
        print(
            f"API GET /v3/contacts/{{id}} {label}: {Result.rps(load):,.0f} req/s"
            f" p50 {load['p50_ms']:.1f} ms p99 {load['p99_ms']:.1f} ms"
            f" non-2xx {load['non_2xx']} errors {load['errors']}"
        )
    print(f"API ratio while DSNs flow / quiet: {ratio:.2f}x (target >= 0.7x)")
    print(f"load average: {base.load_average()}")
    problems = []
    if r.rate < 500:
        problems.append(f"{r.setup}: {r.rate:.0f} DSNs/s is under 500/s")
    if ratio < 0.7:
        problems.append(f"{r.setup}: API ratio {ratio:.2f}x is under 0.7x")
    if r.reports != r.dsns or r.bounced != r.dsns:
        problems.append(f"{r.setup}: {r.reports} reports, {r.bounced} bounced of {r.dsns}")
    if r.busy["seconds"] < 2:
        problems.append(f"{r.setup}: the flood lasted under 2 s: use more --messages")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--api-clients", type=int, default=8)
    parser.add_argument("--idle-seconds", type=float, default=4.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("ACTIVECOMMERCE_TEST_DATABASE_URL")
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--keep", action="store_true")
    # The inbound process under cProfile: <dir>/<setup>.prof (with --keep).
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ac-bench-inbound-"))
    problems: list[str] = []
    try:
        if not args.skip_sqlite:
            result = run_setup(args, "sqlite", root, None)
            problems += print_result(result)
        if args.postgres_url and not args.skip_postgres:
            url = make_database(args.postgres_url)
            try:
                result = run_setup(args, "postgres", root, url)
                problems += print_result(result)
            finally:
                drop_database(url, args.postgres_url)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    for problem in problems:
        print("NOTE:", problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
