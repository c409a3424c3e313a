"""Sending under database faults: duplicates and losses of live sends while the database
misbehaves.

What it runs
------------
Each run is a fresh setup sending through a local SMTP sink (bench/send.py's raw sink, in a
process of its own, which counts messages and distinct Message-IDs: every attempt at one
recipient carries the same Message-ID, so duplicates = messages - distinct Message-IDs).

- sqlite-lock: embedded (`serve` with its worker, SQLite); a campaign to --recipients
  contacts (default 20,000); once a quarter has arrived, another process takes SQLite's
  write lock (BEGIN IMMEDIATE) and holds it --lock-seconds (6).
- sqlite-lock-past-lease: the same with ACTIVECOMMERCE_JOB_LEASE_SECONDS=--short-lease
  (3) and the lock held --long-fault-seconds (8): longer than the lease.
- postgres-cut: `serve` without a worker and two `activecommerce worker` processes; every
  connection of worker 1 (its own application_name) is terminated with
  pg_terminate_backend every 50 ms for --cut-seconds (15).
- postgres-cut-past-lease: the same with the short lease: worker 2 takes over worker 1's
  jobs while worker 1 is cut off.
- postgres-tagging: an automation (trigger tag_added, delay 0) and --threads (16) threads
  PUT/DELETE-ing its tag on --tag-contacts (500) contacts for --tag-seconds (20), on
  --window (8) contacts at a time moving along the list; reports
  the API's answers, the deadlocks PostgreSQL counted, duplicates and losses.

Lost = recipients (or enrolled contacts) - distinct Message-IDs at the sink, once the
campaign is `sent` (or nothing is queued). Every run is bounded by --timeout seconds.

    .venv/bin/python bench/faults.py                    # every run
    .venv/bin/python bench/faults.py --skip-postgres    # the SQLite runs only
    .venv/bin/python bench/faults.py --only postgres-tagging

The bound the product promises: at most one duplicate per SMTP connection in flight per
fault (ACTIVECOMMERCE_SMTP_CONNECTIONS, 8 here), nothing lost, no 409 or 5xx to plain
tag PUTs and DELETEs. The exit status is 1 when a run breaks it. A cut is as many faults
as outages the cut-off worker logged: terminated every 50 ms, a new connection sometimes
gets a few statements through, and the worker resumes until the next one is cut.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api as base
import send as sendbench

HOST = base.HOST
CONNECTIONS = 8
RUNS = (
    "sqlite-lock",
    "sqlite-lock-past-lease",
    "postgres-cut",
    "postgres-cut-past-lease",
    "postgres-tagging",
)


@dataclass
class Result:
    run: str
    expected: int = 0
    received: int = 0
    distinct: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    deadlocks: int | None = None
    episodes: int = 1  # outages the faulty worker saw begin
    notes: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.received - self.distinct

    @property
    def lost(self) -> int:
        return self.expected - self.distinct


class Setup:
    """serve (with its worker on SQLite; with --workers worker processes on PostgreSQL)."""

    def __init__(
        self, name: str, tmp: Path, sink_port: int, db_url: str | None, **extra: str
    ) -> None:
        self.name = name
        self.data_dir = tmp / name
        self.data_dir.mkdir()
        self.db_url = db_url
        env_extra = {
            "ACTIVECOMMERCE_SMTP_URL": f"smtp://{HOST}:{sink_port}",
            "ACTIVECOMMERCE_SMTP_CONNECTIONS": str(CONNECTIONS),
            "ACTIVECOMMERCE_EMAIL_RETRY_SECONDS": "1",
            **extra,
        }
        if db_url is not None:
            env_extra |= {
                "ACTIVECOMMERCE_DATABASE_URL": db_url,
                "ACTIVECOMMERCE_EMBEDDED_WORKER": "false",
            }
        else:
            env_extra["ACTIVECOMMERCE_EMBEDDED_WORKER"] = "true"
        args = argparse.Namespace(smtp_connections=None, batch_size=None)
        self.env = sendbench.product_env(self.data_dir, args, **env_extra)
        account = sendbench.create_account(self.env)  # also migrates the database
        self.key, self.account_id = account["liveApiKey"], int(account["accountId"])
        self.servers: list[base.Server] = []
        self.port = base.free_port()

    def start(self, workers: int) -> None:
        serve = [*sendbench.PRODUCT, "serve", "--host", HOST, "--port", str(self.port)]
        log = self.data_dir / "serve.log"
        self.servers.append(base.Server("serve", serve, self.env, log))
        for i in range(workers):
            env = dict(self.env)
            assert self.db_url is not None
            # Its own application_name, so that its connections can be told apart.
            env["ACTIVECOMMERCE_DATABASE_URL"] = f"{self.db_url}?application_name=worker{i + 1}"
            log = self.data_dir / f"worker{i + 1}.log"
            self.servers.append(
                base.Server(f"worker{i + 1}", [*sendbench.PRODUCT, "worker"], env, log)
            )
        sendbench.wait_started(self.servers, self.port, self.key)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return sendbench.api_json(self.port, method, path, self.key, body)

    def sql(self, query: str) -> list[Any]:
        if self.db_url is None:
            conn = sqlite3.connect(self.data_dir / base.DB_NAME, timeout=30)
            try:
                return list(conn.execute(query).fetchall())
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.db_url, connect_timeout=10) as pg:
            return list(pg.execute(query).fetchall())

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


def hold_sqlite_lock(setup: Setup, seconds: float) -> None:
    conn = sqlite3.connect(setup.data_dir / base.DB_NAME, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def cut_worker(setup: Setup, seconds: float, application: str = "worker1") -> int:
    """Terminate every connection of one worker, again and again, for `seconds`."""
    import psycopg

    assert setup.db_url is not None
    killed = 0
    deadline = time.monotonic() + seconds
    with psycopg.connect(setup.db_url, autocommit=True, connect_timeout=10) as pg:
        while time.monotonic() < deadline:
            rows = pg.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                (application,),
            ).fetchall()
            killed += len(rows)
            time.sleep(0.05)
    return killed


def campaign_run(
    run: str,
    setup: Setup,
    args: argparse.Namespace,
    status_port: int,
    fault: Any,
    fault_seconds: float,
) -> Result:
    result = Result(run, expected=args.recipients)
    group = int(setup.call("POST", "/v3/contactGroups", {"name": "Everyone"})["id"])
    sendbench.insert_audience(
        setup.db_url, setup.data_dir, setup.account_id, group, args.recipients
    )
    setup.call("PATCH", "/v3/account", {"postalAddress": sendbench.POSTAL_ADDRESS})
    body = {"name": run, "subject": sendbench.SUBJECT, "fromEmail": sendbench.FROM_EMAIL}
    body["htmlContent"] = sendbench.HTML
    campaign = setup.call("POST", "/v3/emailCampaigns", body)
    path = f"/v3/emailCampaigns/{campaign['id']}"
    sendbench.sink_status(status_port, "reset")
    started = time.monotonic()
    setup.call("POST", f"{path}/send", {"audience": {"groupIds": [str(group)]}})
    deadline = started + args.timeout
    while sendbench.sink_status(status_port)["count"] < args.recipients // 4:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run}: the send did not start")
        time.sleep(0.05)
    at = sendbench.sink_status(status_port)["count"]
    print(f"  {run}: fault for {fault_seconds:.0f} s at {at} received", flush=True)
    done = fault(setup, fault_seconds)
    if done is not None:
        print(f"  {run}: {done} connections of worker1 terminated", flush=True)
    status = ""
    while time.monotonic() < deadline:
        for server in setup.servers:
            server.check_alive()
        with contextlib.suppress(RuntimeError, OSError):
            status = setup.call("GET", path)["status"]
        if status == "sent":
            break
        time.sleep(0.5)
    else:
        result.notes.append(f"{run}: not sent within {args.timeout:.0f} s ({status!r})")
    time.sleep(1.0)  # anything late (a duplicate) reaches the sink
    result.seconds = time.monotonic() - started
    if done is not None:
        # Each outage worker1 saw begin (it logs one line per outage): while connections
        # are terminated every 50 ms, a new one sometimes gets a few statements through
        # first, and the worker resumes for a moment.
        log = (setup.data_dir / "worker1.log").read_text(errors="replace")
        result.episodes = log.count("unavailable, answering 503")
    got = sendbench.sink_status(status_port)
    result.received, result.distinct = got["count"], got["distinct_ids"]
    return result


def tagging_run(setup: Setup, args: argparse.Namespace, status_port: int) -> Result:
    result = Result("postgres-tagging")
    setup.call("PATCH", "/v3/account", {"postalAddress": sendbench.POSTAL_ADDRESS})
    tag = setup.call("POST", "/v3/contactTags", {"name": "Trial"})
    body = {
        "name": "Welcome",
        "subject": sendbench.SUBJECT,
        "fromEmail": sendbench.FROM_EMAIL,
        "htmlContent": sendbench.HTML,
        "trigger": {"type": "tag_added", "tagId": tag["id"]},
        "delaySeconds": 0,
    }
    automation = setup.call("POST", "/v3/emailAutomations", body)
    ids = []
    for i in range(args.tag_contacts):
        contact = setup.call("POST", "/v3/contacts", {"email": f"t{i}@bench.example.com"})
        ids.append(int(contact["id"]))
    sendbench.sink_status(status_port, "reset")
    before = setup.sql("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    started = time.monotonic()
    stop_at = started + args.tag_seconds

    def client(seed: int) -> None:
        # The threads work on --window contacts at a time, moving along the list over the
        # run: each contact is tagged and untagged again and again while its email is
        # being sent and recorded (where the worker's group commit and tagging meet).
        rng = random.Random(seed)
        while (now := time.monotonic()) < stop_at:
            first = int((now - started) / args.tag_seconds * (len(ids) - args.window))
            path = f"/v3/contacts/{ids[first + rng.randrange(args.window)]}/tags/{tag['id']}"
            method = "PUT" if rng.random() < 0.6 else "DELETE"
            try:
                code = base.http_call(setup.port, method, path, setup.key)[0]
            except OSError:
                code = 0
            with lock:
                statuses[code] += 1

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    query = f"SELECT count(*) FROM email_messages WHERE automation_id = {int(automation['id'])}"
    deadline = time.monotonic() + args.timeout
    while setup.sql(f"{query} AND status = 'queued'")[0][0]:
        if time.monotonic() > deadline:
            result.notes.append("postgres-tagging: emails still queued at the deadline")
            break
        time.sleep(0.5)
    time.sleep(1.0)
    after = setup.sql("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    result.deadlocks = int(after[0][0]) - int(before[0][0])
    result.expected = int(setup.sql(f"{query} AND status = 'sent'")[0][0])
    result.seconds = time.monotonic() - started
    got = sendbench.sink_status(status_port)
    result.received, result.distinct = got["count"], got["distinct_ids"]
    result.statuses = dict(statuses)
    if set(statuses) - {204}:
        result.notes.append(f"postgres-tagging: API answers {dict(statuses)}")
    return result


def orchestrate(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="ac-bench-faults-"))
    sink: base.Server | None = None
    databases: list[str] = []
    admin = args.postgres_url
    results: list[Result] = []
    runs = [r for r in RUNS if (not args.only or r in args.only)]
    if args.skip_postgres:
        runs = [r for r in runs if not r.startswith("postgres")]
    try:
        print(f"runs: {', '.join(runs)}; load average {base.load_average()}", flush=True)
        sink_port, status_port = base.free_port(), base.free_port()
        sink_cmd = [sys.executable, str(Path(sendbench.__file__).resolve()), "--role", "sink"]
        sink_cmd += ["--sink", "raw", "--port", str(sink_port), "--status-port", str(status_port)]
        sink = base.Server("sink", sink_cmd, base.bench_env(tmp), tmp / "sink.log")
        deadline = time.monotonic() + 30
        while True:
            sink.check_alive()
            with contextlib.suppress(OSError):
                sendbench.sink_status(status_port)
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the sink did not start")
            time.sleep(0.1)
        for run in runs:
            db_url = None
            if run.startswith("postgres"):
                import psycopg

                name = f"bench_faults_{uuid.uuid4().hex[:12]}"
                with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                databases.append(name)
                db_url = admin.rsplit("/", 1)[0] + f"/{name}"
            extra = {}
            if run.endswith("past-lease"):
                extra["ACTIVECOMMERCE_JOB_LEASE_SECONDS"] = str(args.short_lease)
            setup = Setup(run, tmp, sink_port, db_url, **extra)
            try:
                setup.start(workers=0 if db_url is None else 2)
                if run == "postgres-tagging":
                    result = tagging_run(setup, args, status_port)
                elif run.startswith("sqlite"):
                    seconds = args.lock_seconds if run == "sqlite-lock" else args.long_fault_seconds
                    result = campaign_run(run, setup, args, status_port, hold_sqlite_lock, seconds)
                else:
                    seconds = args.cut_seconds
                    result = campaign_run(run, setup, args, status_port, cut_worker, seconds)
            finally:
                setup.stop()
            results.append(result)
            print_result(result)
        print()
        print(f"{'run':26} {'expected':>9} {'received':>9} {'duplicates':>10} {'lost':>5}")
        for r in results:
            print(f"{r.run:26} {r.expected:9} {r.received:9} {r.duplicates:10} {r.lost:5}")
        failed = False
        for r in results:
            if r.duplicates > CONNECTIONS * max(1, r.episodes) or r.lost or r.notes:
                failed = True
            for note in r.notes:
                print(f"NOTE: {note}")
        print(f"load average after: {base.load_average()}")
        return 1 if failed else 0
    finally:
        if sink is not None:
            sink.stop()
        if databases:
            import psycopg

            with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                for name in databases:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def print_result(r: Result) -> None:
    line = (
        f"  {r.run}: {r.received} received for {r.expected}, {r.duplicates} duplicates,"
        f" {r.lost} lost, {r.seconds:.1f} s"
    )
    if r.episodes != 1:
        line += f"; {r.episodes} outages seen by worker1"
    if r.deadlocks is not None:
        line += f"; deadlocks {r.deadlocks}; API answers {r.statuses}"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--lock-seconds", type=float, default=6.0)
    parser.add_argument("--cut-seconds", type=float, default=15.0)
    parser.add_argument("--short-lease", type=float, default=3.0)
    parser.add_argument("--long-fault-seconds", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--tag-contacts", type=int, default=500)
    parser.add_argument("--tag-seconds", type=float, default=20.0)
    parser.add_argument("--window", type=int, default=8, help="contacts tagged at a time")
    parser.add_argument("--timeout", type=float, default=300, help="max seconds per run")
    parser.add_argument("--only", nargs="*", choices=RUNS, help="these runs only")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--postgres-url", default=sendbench.PG_ADMIN_URL, help="an admin URL")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    # A SIGTERM runs the finally blocks too, so no process is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(orchestrate(args))


if __name__ == "__main__":
    main()
