"""Webhook delivery benchmark: throughput and latency from an API change to its receipt.

What it measures
----------------
A webhook subscribed to `contact.created` points at a fast local receiver; then N changes
(`POST /v3/contacts`, default 5,000) go through the API from 16 concurrent keep-alive
connections. For every change the client notes time.time() when its 201 arrives; the
receiver notes time.time() when each delivery's body has arrived, with its `webhook-id`
header and the delivered contact's email (`data.email`). From that the benchmark reports:

- deliveries per second, from the first to the last arrival, and overall (from the first
  API call to the last arrival);
- p50/p90/p99/max latency from the API's 201 reaching the client to the delivery reaching
  the receiver (a delivery may arrive before its 201 does: such latencies are negative);
- missing deliveries (a 201 without a delivery after waiting, bounded by --wait seconds),
  duplicates (a `webhook-id` received more than once) and unknown arrivals;
- the baseline the project requires of every benchmark, measured in the same run: the
  API's own creation rate (contacts/s from the first call to the last 201), and the
  ratio deliveries/s / creation rate (1.0: delivery keeps up with the changes);
- CPU used by each process during the run (100% = one core) and the load average, since
  the client, the receiver, the API, the worker(s) and PostgreSQL share the machine.

Two setups, each fresh:

- embedded: SQLite in a temporary data directory, one `activecommerce serve` running the
  worker inside its process;
- postgres: a fresh PostgreSQL database on 127.0.0.1:5432 (dropped at the end), one
  `activecommerce serve` with ACTIVECOMMERCE_EMBEDDED_WORKER=false and two separate
  `activecommerce worker` processes.

The receiver is a bare ASGI app under uvicorn (uvloop and httptools when installed) in
its own process, answering 200 at once; it keeps its records in memory and hands them over
on GET /records. Before the measured run, a probe change and --warmup changes are
delivered and left out of the figures. Everything listens on 127.0.0.1 on free ports with
ACTIVECOMMERCE_RATE_LIMIT_ENABLED=false; processes are stopped by process group, and the
temporary directory and the database are removed, also on error or SIGTERM. Helpers (free
ports, server processes, the HTTP/1.1 request and response code) come from bench/api.py.

Run it from the repository root:

    .venv/bin/python bench/webhooks.py --changes 5000

Options: --changes, --concurrency, --setups embedded,postgres, --workers (postgres
setup), --worker-concurrency, --warmup, --wait (seconds to wait for the deliveries),
--json-out FILE, --keep (keep the temporary directory). The exit status is 1 when a change
failed or a delivery is missing or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api as base

HOST = base.HOST
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SETUPS = ("embedded", "postgres")
AIM_P50_MS = 100.0
AIM_RATE = 500.0


# ---------------------------------------------------------------------------- receiver


def build_receiver() -> Any:
    """A bare ASGI app: POST records (webhook-id, arrival, data.email or data.name);
    GET /count answers how many; GET /records hands them all over."""
    records: list[tuple[str, float, str | None]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            at = time.time()
            hook_id = next((v.decode() for k, v in scope["headers"] if k == b"webhook-id"), "")
            key = None
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                data = orjson.loads(body)["data"]
                key = data.get("email") or data.get("name")
            records.append((hook_id, at, key))
            out = b"ok"
        elif scope["path"] == "/count":
            out = orjson.dumps({"n": len(records)})
        else:
            out = orjson.dumps(records)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(out)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": out})

    return app


def serve_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(
        build_receiver(),
        host=HOST,
        port=port,
        access_log=False,
        log_level="warning",
        lifespan="off",
    )


def receiver_get(port: int, path: str) -> Any:
    status, body = base.http_call(port, "GET", path, "")
    if status != 200:
        raise RuntimeError(f"receiver GET {path}: {status}")
    return orjson.loads(body)


# ---------------------------------------------------------------------------- load


@dataclass
class Load:
    done: dict[str, float]  # email -> time.time() when its 201 arrived
    started: float
    finished: float
    non_201: int = 0
    errors: int = 0
    notes: list[str] = field(default_factory=list)


async def drive(
    port: int,
    key: str,
    emails: list[str],
    concurrency: int,
    timeout: float,  # noqa: ASYNC109
) -> Load:
    """POSTs one contact per email over `concurrency` keep-alive connections."""
    load = Load({}, time.time(), 0.0)
    todo = iter(emails)
    rnd = random.Random(0)  # unused by POST requests; build_request wants one

    async def worker() -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for email in todo:
            request = base.build_request("post", port, key, rnd, 0, 0, email)
            try:
                if conn is None:
                    conn = await asyncio.open_connection(HOST, port)
                reader, writer = conn
                writer.write(request)
                status, keep = await base._read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                load.errors += 1
                if len(load.notes) < 5:
                    load.notes.append(f"POST {email}: {type(exc).__name__}: {exc}")
                if conn is not None:
                    conn[1].close()
                conn = None
                continue
            if status == 201:
                load.done[email] = time.time()
            else:
                load.non_201 += 1
                if len(load.notes) < 5:
                    load.notes.append(f"POST {email}: status {status}")
            if not keep:
                writer.close()
                conn = None
        if conn is not None:
            conn[1].close()

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    _done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        load.notes.append(f"the load did not finish within {timeout:.0f} s")
    load.finished = max(load.done.values(), default=time.time())
    return load


def run_load(port: int, key: str, emails: list[str], concurrency: int, timeout: float) -> Load:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(drive(port, key, emails, concurrency, timeout))
    return uvloop.run(drive(port, key, emails, concurrency, timeout))


# ---------------------------------------------------------------------------- setups


@dataclass
class Outcome:
    setup: str
    changes: int
    created: int = 0
    non_201: int = 0
    errors: int = 0
    delivered: int = 0
    missing: int = 0
    duplicates: int = 0
    unknown: int = 0
    create_rate: float = 0.0
    first_to_last_rate: float = 0.0
    overall_rate: float = 0.0
    p50_ms: float = float("nan")
    p90_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    min_ms: float = float("nan")
    create_seconds: float = 0.0
    drain_seconds: float = 0.0  # from the last 201 to the last arrival
    failed_attempts: int = 0
    attempts: int = 0
    jobs_left: int = -1
    send_ms: float = float("nan")  # mean duration_ms of the product's delivery attempts
    cpu: dict[str, float] = field(default_factory=dict)
    load_before: str = ""
    load_after: str = ""
    notes: list[str] = field(default_factory=list)


def create_account(env: dict[str, str]) -> str:
    command = [base.cli_path(), "accounts", "create", "--name", "Webhook bench"]
    command += ["--plan", "enterprise", "--json"]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"accounts create failed:\n{out.stdout}\n{out.stderr}")
    return str(orjson.loads(out.stdout.strip().splitlines()[-1])["sandboxApiKey"])


def wait_until(check: Any, what: str, servers: list[base.Server], timeout: float) -> float:
    """Polls `check()` until true; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        for server in servers:
            server.check_alive()
        with contextlib.suppress(OSError):
            if check():
                return time.monotonic() - start
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def delivery_log(setup: str, data_dir: Path, pg_url: str | None) -> list[float]:
    """[attempts, failed attempts, jobs left, mean send ms] from the product's own tables."""
    queries = (
        "SELECT count(*) FROM webhook_deliveries",
        "SELECT count(*) FROM webhook_deliveries"
        " WHERE status_code IS NULL OR status_code < 200 OR status_code >= 300",
        "SELECT count(*) FROM jobs",
        "SELECT avg(duration_ms) FROM webhook_deliveries",
    )
    if setup == "postgres" and pg_url:
        import psycopg

        with psycopg.connect(pg_url, connect_timeout=10) as conn:
            counts = [conn.execute(q).fetchone() for q in queries]
    else:
        conn = sqlite3.connect(f"file:{data_dir / base.DB_NAME}?mode=ro", uri=True, timeout=10)
        try:
            counts = [conn.execute(q).fetchone() for q in queries]
        finally:
            conn.close()
    return [float(row[0]) if row and row[0] is not None else -1.0 for row in counts]


def run_setup(setup: str, args: argparse.Namespace, tmp: Path, pg_url: str | None) -> Outcome:
    outcome = Outcome(setup, args.changes, load_before=base.load_average())
    data_dir = tmp / setup
    data_dir.mkdir()
    env = base.bench_env(data_dir)
    if setup == "postgres":
        assert pg_url
        env["ACTIVECOMMERCE_DATABASE_URL"] = pg_url
        env["ACTIVECOMMERCE_EMBEDDED_WORKER"] = "false"
    else:
        env["ACTIVECOMMERCE_EMBEDDED_WORKER"] = "true"
    if args.worker_concurrency:
        env["ACTIVECOMMERCE_WORKER_CONCURRENCY"] = str(args.worker_concurrency)
    servers: list[base.Server] = []
    try:
        key = create_account(env)  # also migrates the database
        api_port, hook_port = base.free_port(), base.free_port()
        receiver_cmd = [sys.executable, str(Path(__file__).resolve()), "--role", "receiver"]
        receiver_cmd += ["--port", str(hook_port)]
        receiver = base.Server(
            "receiver", receiver_cmd, base.bench_env(data_dir), tmp / f"{setup}-receiver.log"
        )
        servers.append(receiver)
        serve_cmd = [base.cli_path(), "serve", "--host", HOST, "--port", str(api_port)]
        api = base.Server("serve", serve_cmd, env, tmp / f"{setup}-serve.log")
        servers.append(api)
        wait_until(lambda: receiver_get(hook_port, "/count") is not None, "receiver", servers, 30)
        wait_until(
            lambda: base.http_call(api_port, "GET", "/v3/webhooks", key)[0] == 200,
            "serve ready",
            servers,
            60,
        )
        workers = args.workers if setup == "postgres" else 0
        for i in range(workers):
            log = tmp / f"{setup}-worker{i}.log"
            servers.append(base.Server(f"worker{i}", [base.cli_path(), "worker"], env, log))
        for server in servers[2:]:
            wait_until(
                lambda s=server: "running" in s.log_path.read_text(errors="replace"),
                f"{server.name} ready",
                servers,
                60,
            )

        status, body = base.http_call(
            api_port,
            "POST",
            "/v3/webhooks",
            key,
            {"url": f"http://{HOST}:{hook_port}/hook", "events": ["contact.created"]},
        )
        if status != 201 or not orjson.loads(body).get("secret"):
            raise RuntimeError(f"POST /v3/webhooks: {status}: {body[:300]!r}")

        # A probe and a warm-up, delivered before the measured run and left out of it.
        stamp = f"{int(time.time())}{os.getpid()}"
        warm = [f"warm{stamp}-{i}@bench.example.com" for i in range(max(1, args.warmup))]
        warm_load = run_load(api_port, key, warm, min(args.concurrency, len(warm)), 120)
        if len(warm_load.done) != len(warm):
            raise RuntimeError(f"warm-up changes failed: {warm_load.notes}")
        wait_until(
            lambda: receiver_get(hook_port, "/count")["n"] >= len(warm),
            "warm-up deliveries",
            servers,
            60,
        )
        time.sleep(0.5)  # let the last warm-up deliveries be recorded
        before = receiver_get(hook_port, "/count")["n"]

        emails = [f"u{stamp}-{n}@bench.example.com" for n in range(args.changes)]
        cpu0 = {s.name: s.cpu_seconds() for s in servers}
        own0, wall0 = time.process_time(), time.monotonic()
        load = run_load(api_port, key, emails, args.concurrency, args.changes / 5 + 60)
        outcome.created = len(load.done)
        outcome.non_201, outcome.errors = load.non_201, load.errors
        outcome.notes += load.notes
        target = before + outcome.created
        try:
            wait_until(
                lambda: receiver_get(hook_port, "/count")["n"] >= target,
                f"{outcome.created} deliveries",
                servers,
                args.wait,
            )
        except RuntimeError as exc:
            outcome.notes.append(str(exc))
        wall = time.monotonic() - wall0
        outcome.cpu = {s.name: (s.cpu_seconds() - cpu0[s.name]) / wall * 100 for s in servers}
        outcome.cpu["client"] = (time.process_time() - own0) / wall * 100
        outcome.load_after = base.load_average()
        time.sleep(0.5)  # late duplicates, and the last attempts to be recorded
        records = receiver_get(hook_port, "/records")[before:]
        with contextlib.suppress(Exception):
            attempts, failed, jobs_left, send_ms = delivery_log(setup, data_dir, pg_url)
            outcome.attempts, outcome.failed_attempts = int(attempts), int(failed)
            outcome.jobs_left, outcome.send_ms = int(jobs_left), send_ms
        for server in servers:
            server.check_alive()
        summarize(outcome, load, records)
        return outcome
    finally:
        for server in reversed(servers):
            server.stop()


def summarize(outcome: Outcome, load: Load, records: list[list[Any]]) -> None:
    ids = Counter(r[0] for r in records)
    outcome.duplicates = sum(n - 1 for n in ids.values() if n > 1)
    first: dict[str, float] = {}
    for _hook_id, at, key in records:
        email = (key or "").lower()
        if email in load.done:
            first.setdefault(email, at)
        elif not email.startswith("warm"):
            outcome.unknown += 1
    outcome.delivered = len(first)
    outcome.missing = outcome.created - outcome.delivered
    outcome.create_seconds = load.finished - load.started
    if outcome.create_seconds > 0:
        outcome.create_rate = outcome.created / outcome.create_seconds
    if not first:
        return
    arrivals = sorted(first.values())
    if len(arrivals) > 1 and arrivals[-1] > arrivals[0]:
        outcome.first_to_last_rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    outcome.overall_rate = len(arrivals) / (arrivals[-1] - load.started)
    outcome.drain_seconds = arrivals[-1] - load.finished
    latencies = sorted((at - load.done[email]) * 1000 for email, at in first.items())
    outcome.p50_ms = percentile(latencies, 0.50)
    outcome.p90_ms = percentile(latencies, 0.90)
    outcome.p99_ms = percentile(latencies, 0.99)
    outcome.max_ms, outcome.min_ms = latencies[-1], latencies[0]


# ---------------------------------------------------------------------------- report


def print_report(outcomes: list[Outcome]) -> None:
    header = (
        f"{'setup':<9} {'changes':>7} {'201':>6} {'deliv':>6} {'miss':>5} {'dup':>4}"
        f" {'create/s':>9} {'deliv/s':>8} {'overall':>8} {'ratio':>6} {'ratio ov':>8}"
        f" {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        print(
            f"{o.setup:<9} {o.changes:>7} {o.created:>6} {o.delivered:>6} {o.missing:>5}"
            f" {o.duplicates:>4} {o.create_rate:>9.0f} {o.first_to_last_rate:>8.0f}"
            f" {o.overall_rate:>8.0f} {base.ratio(o.first_to_last_rate, o.create_rate):>6}"
            f" {base.ratio(o.overall_rate, o.create_rate):>8} {o.p50_ms:>8.1f}"
            f" {o.p90_ms:>8.1f} {o.p99_ms:>8.1f} {o.max_ms:>8.1f}"
        )
    print(
        "create/s = 201s / (last 201 - first call): the baseline of this run;"
        " deliv/s = deliveries first to last arrival;\noverall = deliveries / (last arrival"
        " - first call); ratio = deliv/s / create/s; ratio ov = overall / create/s;\n"
        "latency = receipt at the receiver - the 201 at the client (time.time() in both)"
    )
    print()
    header = (
        f"{'setup':<9} {'create s':>8} {'drain s':>8} {'min ms':>8} {'attempts':>8} {'send ms':>7}"
        f" {'failed':>6} {'jobs left':>9} {'non-201':>7} {'errors':>6} {'unknown':>7}"
        "  CPU % of one core"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        cpu = " ".join(f"{name} {value:.0f}" for name, value in o.cpu.items())
        print(
            f"{o.setup:<9} {o.create_seconds:>8.2f} {o.drain_seconds:>8.2f} {o.min_ms:>8.1f}"
            f" {o.attempts:>8} {o.send_ms:>7.1f} {o.failed_attempts:>6} {o.jobs_left:>9}"
            f" {o.non_201:>7} {o.errors:>6} {o.unknown:>7}  {cpu}"
        )
    print(
        "drain s = last arrival - last 201; attempts/send ms (mean duration_ms)/failed/jobs"
        " left: the product's\nwebhook_deliveries and jobs tables (probe and warm-up included)"
    )
    print()
    for o in outcomes:
        print(f"{o.setup}: load average before {o.load_before}, after {o.load_after}")
        aims = []
        if o.setup == "embedded":
            verdict = "met" if o.p50_ms < AIM_P50_MS else "NOT met"
            aims.append(f"p50 < {AIM_P50_MS:.0f} ms {verdict}")
        for label, rate in (("deliv/s", o.first_to_last_rate), ("overall", o.overall_rate)):
            verdict = "met" if rate >= AIM_RATE else "NOT met"
            aims.append(f"{label} >= {AIM_RATE:.0f} {verdict}")
        print(f"  aims: {'; '.join(aims)}")
        for note in o.notes:
            print(f"  NOTE: {note}")


# ---------------------------------------------------------------------------- main


def orchestrate(args: argparse.Namespace) -> int:
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    unknown = set(setups) - set(SETUPS)
    if unknown:
        raise SystemExit(f"--setups: unknown {sorted(unknown)}; choose from {SETUPS}")
    tmp = Path(tempfile.mkdtemp(prefix="ac-bench-wh-"))
    db_name = f"bench_wh_{os.getpid()}_{int(time.time())}"
    pg_created = False
    outcomes: list[Outcome] = []
    try:
        print(
            f"{args.changes} changes, {args.concurrency} concurrent connections, warm-up"
            f" {args.warmup}; python {platform.python_version()}, {os.cpu_count()} CPUs;"
            f" load average {base.load_average()}",
            flush=True,
        )
        pg_url = None
        if "postgres" in setups:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'CREATE DATABASE "{db_name}"')
            pg_created = True
            pg_url = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
        for setup in setups:
            t0 = time.monotonic()
            outcome = run_setup(setup, args, tmp, pg_url)
            outcomes.append(outcome)
            print(
                f"  {setup}: {outcome.delivered}/{outcome.created} delivered,"
                f" {outcome.first_to_last_rate:.0f} deliveries/s, p50 {outcome.p50_ms:.1f} ms"
                f" ({time.monotonic() - t0:.0f} s)",
                flush=True,
            )
        print()
        print_report(outcomes)
        if args.json_out:
            payload = {"changes": args.changes, "outcomes": [asdict(o) for o in outcomes]}
            Path(args.json_out).write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
        bad = any(o.missing or o.duplicates or o.non_201 or o.errors for o in outcomes)
        return 1 if bad else 0
    finally:
        if pg_created:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=5000, help="contacts to create")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent API calls")
    parser.add_argument("--setups", default="embedded,postgres", help="comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (postgres)")
    parser.add_argument("--worker-concurrency", type=int, help="ACTIVECOMMERCE_WORKER_CONCURRENCY")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured changes first")
    parser.add_argument("--wait", type=float, default=120, help="max seconds for deliveries")
    parser.add_argument("--json-out", help="also write the results to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    hidden = argparse.SUPPRESS
    parser.add_argument("--role", choices=("main", "receiver"), default="main", help=hidden)
    parser.add_argument("--port", type=int, help=hidden)
    args = parser.parse_args()
    if args.role == "receiver":
        serve_receiver(args.port)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(orchestrate(args))


if __name__ == "__main__":
    main()
