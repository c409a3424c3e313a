"""Segments at a million contacts: counts and first pages, and GET by id while counts run.

For each setup (`sqlite`: one `serve` with the worker inside; `postgres`: a new database
on 127.0.0.1:5432, one `serve` and one `worker`), fresh:

1. Data, written straight into the database the server made (bulk SQL through the
   server's own db layer, `kit.db`: COPY on PostgreSQL, executemany in transactions of
   50,000 rows on SQLite), so that the maintained counts and the text index are kept by
   the database's own triggers as on any other write: N contacts (default 1,000,000) in
   one account, each with three custom fields (`city`: one of 50 cities, `score`: a
   number from 0 to 100 with decimals, `signup`: a date within two years), 10% tagged
   `vip`, an email campaign sent to 100,000 of them (25% opened, 5% clicked, some
   without a recorded open). Then what autovacuum does after a bulk insert on
   PostgreSQL (VACUUM ANALYZE); nothing on SQLite (the application never runs ANALYZE
   there).
2. For each segment (below), `--reps` samples (after 2 unmeasured) of its count and its
   first page of 20 (the contacts list's default order, `created_at, id`), p50/p95. By
   default the trees are checked and compiled by `segments.conditions` and the
   statements run against the same database through `kit.db` in this process, as the
   server would run them (`scan`: off the event loop on SQLite); with `--api` they go
   through the server: `POST /v3/segments` makes each one, `POST /v3/segments/preview`
   is timed as its count and `GET /v3/segments/{id}/contacts?pageSize=20` as its first
   page. The baseline, measured the same way in the same run: the account's count of
   every contact by a scan (`count(*)` of the account, no condition) and the unfiltered
   first page; figures are also printed as ratios of it. Direct runs also time what a
   request does before its statements (`prep`: check, plan and compile the tree).
3. GET /v3/contacts/{id} throughput over HTTP (bench/api.py's client, or `wrk`), alone
   and while one more client loops the slowest segment's count (the compiled statement
   through `kit.db` in this process, or `POST /v3/segments/preview` with `--api`),
   interleaved `--rounds` times; the figure is the ratio of the medians.

Targets: a count under 1 s at p95, a first page under 100 ms at p95, GET by id while
counts run at 0.7x or more of its rate alone, on both databases. Run from the
repository root (before the full run, try `--rows 100000`):

    .venv/bin/python bench/segments.py --rows 1000000 --setups sqlite,postgres
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import RunResult
from imports import Served, served
from scale import get_throughput, pct

from activecommerce.kit.clock import stamp
from activecommerce.kit.db import connect
from activecommerce.kit.principal import Principal
from activecommerce.segments.conditions import check, compile_tree, plan

CITIES = [
    "Berlin", "Paris", "Lyon", "Madrid", "Rome", "Vienna", "Prague", "Warsaw", "Lisbon",
    "Dublin", "Oslo", "Bergen", "Stockholm", "Malmö", "Helsinki", "Tallinn", "Riga",
    "Vilnius", "Krakow", "Budapest", "Zagreb", "Ljubljana", "Bratislava", "Brno", "Munich",
    "Hamburg", "Cologne", "Frankfurt", "Leipzig", "Dresden", "Zürich", "Geneva", "Basel",
    "Bern", "Milan", "Turin", "Naples", "Porto", "Seville", "Valencia", "Bilbao", "Nice",
    "Marseille", "Lille", "Ghent", "Antwerp", "Utrecht", "Rotterdam", "Aarhus", "Tartu",
]  # fmt: skip
CHUNK = 50_000
COLUMNS = (
    "account_id", "env", "email", "first_name", "last_name", "phone", "status", "fields",
    "created_at", "updated_at",
)  # fmt: skip
# The contacts list's columns and default order (kit/listing.py: pageSize + 1 rows).
PAGE_COLUMNS = "id, email, first_name, last_name, phone, status, fields, created_at, updated_at"
PAGE_ORDER = "ORDER BY created_at ASC NULLS LAST, id ASC LIMIT 21 OFFSET 0"


@dataclass
class Loaded:
    account: int
    env: str
    lo: int
    hi: int
    tag: int
    campaign: int
    seconds: float


def segments(loaded: Loaded) -> dict[str, Any]:
    return {
        "city, tag, opened (3 leaves)": {
            "all": [
                {"field": "fields.city", "op": "eq", "value": "Berlin"},
                {"tag": loaded.tag, "has": True},
                {"email": "opened", "campaignId": loaded.campaign},
            ]
        },
        "any of score >= 95, city in 2": {
            "any": [
                {"field": "fields.score", "op": "gte", "value": 95},
                {"field": "fields.city", "op": "in", "value": ["paris", "LYON"]},
            ]
        },
        "signup within 30 days, not received": {
            "all": [
                {"field": "fields.signup", "op": "within_last_days", "value": 30},
                {"not": {"email": "received", "campaignId": loaded.campaign}},
            ]
        },
    }


# ---------------------------------------------------------------- the data


def database_url(setup: Served) -> str:
    return setup.url or f"sqlite:///{(setup.data_dir / 'activecommerce.db').resolve()}"


async def load(url: str, count: int) -> Loaded:
    """The account's contacts, fields, tag and campaign, written in bulk."""
    started = time.monotonic()
    db = await connect(url, acquire_timeout=600, statement_timeout=3600)
    try:
        row = await db.fetchone("SELECT id AS account_id FROM accounts ORDER BY id LIMIT 1")
        assert row is not None
        account, env = int(row["account_id"]), "sandbox"
        now = datetime.now(UTC)
        made = stamp(now - timedelta(days=800))
        slots = {}
        async with db.transaction() as conn:
            for key, kind in (("city", "text"), ("score", "number"), ("signup", "date")):
                found = await conn.fetchone(
                    "INSERT INTO contact_fields (account_id, env, name, key, type, required,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    [account, env, key.title(), key, kind, False, made, made],
                )
                assert found is not None
                slots[key] = str(found["id"])
        rnd = random.Random(1)
        today = now.date()
        first = now - timedelta(days=730)
        for start in range(0, count, CHUNK):
            rows = []
            for i in range(start, min(count, start + CHUNK)):
                values = {
                    slots["city"]: rnd.choice(CITIES),
                    slots["score"]: round(rnd.uniform(0, 100), 1),
                    slots["signup"]: (today - timedelta(days=rnd.randint(0, 730))).isoformat(),
                }
                created = stamp(first + timedelta(seconds=i * 730 * 86400 / count))
                rows.append(
                    (
                        account,
                        env,
                        f"user{i}@example{i % 97}.com",
                        f"First{i % 300}",
                        f"Last{i % 5000}",
                        f"+1555{i:07d}",
                        "unsubscribed" if i % 33 == 7 else "active",
                        orjson.dumps(values).decode(),
                        created,
                        created,
                    )
                )
            async with db.transaction() as conn:
                if db.dialect == "postgresql":
                    await conn.copy("contacts", COLUMNS, rows)
                else:
                    marks = ", ".join("?" for _ in COLUMNS)
                    await conn.executemany(
                        f"INSERT INTO contacts ({', '.join(COLUMNS)}) VALUES ({marks})", rows
                    )
        span = await db.fetchone(
            "SELECT min(id) AS lo, max(id) AS hi FROM contacts WHERE account_id = ? AND env = ?",
            [account, env],
        )
        assert span is not None
        async with db.transaction() as conn:
            found = await conn.fetchone(
                "INSERT INTO contact_tags (account_id, env, name, created_at, updated_at)"
                " VALUES (?, ?, 'vip', ?, ?) RETURNING id",
                [account, env, made, made],
            )
            assert found is not None
            tag = int(found["id"])
            await conn.execute(
                "INSERT INTO contact_tag_members (contact_id, tag_id, account_id, env,"
                " created_at) SELECT id, ?, account_id, env, ? FROM contacts"
                " WHERE account_id = ? AND env = ? AND (id / 7) % 10 = 3",
                [tag, made, account, env],
            )
            found = await conn.fetchone(
                "INSERT INTO email_campaigns (account_id, env, name, subject, from_email,"
                " status, sent_at, created_at, updated_at)"
                " VALUES (?, ?, 'November', 'News', 'news@example.com', 'sent', ?, ?, ?)"
                " RETURNING id",
                [account, env, stamp(now - timedelta(days=20)), made, made],
            )
            assert found is not None
            campaign = int(found["id"])
            sent = stamp(now - timedelta(days=20))
            opened = stamp(now - timedelta(days=19))
            # 100,000 recipients at 1M (ids ending in 30 to 39 of each hundred); of them
            # 25% open, 5% click, and a third of those who click show no open (images
            # off: the click counts as one). Independent of the tag ((id / 7) % 10).
            await conn.execute(
                "INSERT INTO email_messages (account_id, env, campaign_id, contact_id, is_test,"
                " status, due_at, sent_at, opened_at, clicked_at, open_count, click_count,"
                " created_at, updated_at)"
                " SELECT account_id, env, ?, id, ?, 'sent', ?, ?,"
                " CASE WHEN (id / 100) % 4 = 0 AND (id / 100) % 60 <> 0 THEN ? END,"
                " CASE WHEN (id / 100) % 20 = 0 THEN ? END,"
                " CASE WHEN (id / 100) % 4 = 0 THEN 1 ELSE 0 END,"
                " CASE WHEN (id / 100) % 20 = 0 THEN 1 ELSE 0 END,"
                " ?, ? FROM contacts"
                " WHERE account_id = ? AND env = ? AND (id / 10) % 10 = 3",
                [campaign, False, sent, sent, opened, opened, sent, sent, account, env],
            )
        if db.dialect == "postgresql":
            for table in ("contacts", "contact_tag_members", "email_messages"):
                await db.fetchone(f"VACUUM ANALYZE {table}")
        return Loaded(
            account, env, int(span["lo"]), int(span["hi"]), tag, campaign,
            time.monotonic() - started,
        )  # fmt: skip
    finally:
        await db.close()


# ---------------------------------------------------------------- measured through kit.db


async def compiled(db: Any, loaded: Loaded, tree: Any) -> tuple[str, str, list[Any]]:
    """The segment's count and first-page statements, as the server would run them: the
    tree checked, planned (`plan`: which set is read first, and the tenant scopes) and
    compiled."""
    principal = Principal.acting_for(loaded.account, loaded.env)
    checked = await check(db, principal, tree, "conditions")
    scopes = await plan(db, principal, checked)
    where = compile_tree(checked, principal, db.dialect)
    params = [loaded.account, loaded.env, *where.params]
    count = f"SELECT count(*) AS n FROM contacts WHERE {scopes.count} AND {where.sql}"
    page = (
        f"SELECT {PAGE_COLUMNS}, created_at AS sort_key_ FROM contacts"
        f" WHERE {scopes.rows} AND {where.sql} {PAGE_ORDER}"
    )
    return count, page, params


async def measure_direct(url: str, loaded: Loaded, reps: int, explain: bool) -> dict[str, Any]:
    db = await connect(url, acquire_timeout=60, statement_timeout=600)
    try:
        plain = "account_id = ? AND env = ?"
        base = [loaded.account, loaded.env]
        baseline = (
            f"SELECT count(*) AS n FROM contacts WHERE {plain}",
            f"SELECT {PAGE_COLUMNS}, created_at AS sort_key_ FROM contacts"
            f" WHERE {plain} {PAGE_ORDER}",
            base,
        )
        trees: dict[str, Any] = {"baseline: every contact of the account": None}
        trees.update(segments(loaded))
        results: dict[str, Any] = {}
        for label, tree in trees.items():
            if explain:
                count, page, params = baseline if tree is None else await compiled(db, loaded, tree)
                for sql in (count, page):
                    prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
                    plan = await db.scan(prefix + sql, params)
                    print(f"-- {label}\n{sql}\n" + "\n".join(str(tuple(r)) for r in plan))
            prepares, counts, pages = [], [], []
            n = 0
            rows: list[Any] = []
            for i in range(reps + 2):
                # check + plan + compile, as a request does before its statements
                t0 = time.perf_counter()
                count, page, params = baseline if tree is None else await compiled(db, loaded, tree)
                t1 = time.perf_counter()
                found = await db.scan(count, params)
                t2 = time.perf_counter()
                rows = await db.scan(page, params)
                t3 = time.perf_counter()
                n = int(found[0]["n"])
                if i >= 2:
                    prepares.append(t1 - t0)
                    counts.append(t2 - t1)
                    pages.append(t3 - t2)
            if len(rows) != min(21, n):
                raise RuntimeError(f"{label}: a page of {len(rows)} rows for a count of {n}")
            results[label] = summary(n, counts, pages, prepares)
        return results
    finally:
        await db.close()


def summary(
    n: int, counts: list[float], pages: list[float], prepares: list[float] | None = None
) -> dict[str, Any]:
    return {
        "n": n,
        "prepare_p50_ms": pct(prepares, 0.5) if prepares else None,
        "prepare_p95_ms": pct(prepares, 0.95) if prepares else None,
        "count_p50_ms": pct(counts, 0.5),
        "count_p95_ms": pct(counts, 0.95),
        "page_p50_ms": pct(pages, 0.5),
        "page_p95_ms": pct(pages, 0.95),
    }


class CountLoop:
    """Another client that counts the slowest segment until stopped (a thread)."""

    def __init__(self, url: str, loaded: Loaded, tree: Any, setup: Served, api: bool) -> None:
        self.url, self.loaded, self.tree, self.setup, self.api = url, loaded, tree, setup, api
        self.stop = threading.Event()
        self.done = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CountLoop:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(600)

    def _run(self) -> None:
        if self.api:
            with httpx.Client(
                base_url=self.setup.base, headers={"Api-Token": self.setup.key}, timeout=120
            ) as http:
                while not self.stop.is_set():
                    answer = http.post("/v3/segments/preview", json={"conditions": self.tree})
                    if answer.status_code != 200:
                        raise RuntimeError(f"preview: {answer.status_code} {answer.text[:300]}")
                    self.done += 1
            return
        asyncio.run(self._direct())

    async def _direct(self) -> None:
        db = await connect(self.url, acquire_timeout=60, statement_timeout=600)
        try:
            count, _, params = await compiled(db, self.loaded, self.tree)
            while not self.stop.is_set():
                await db.scan(count, params)
                self.done += 1
        finally:
            await db.close()


# ---------------------------------------------------------------- measured through the API


def measure_api(setup: Served, loaded: Loaded, reps: int) -> dict[str, Any]:
    with httpx.Client(base_url=setup.base, headers={"Api-Token": setup.key}, timeout=120) as http:

        def timed(method: str, path: str, body: Any = None) -> tuple[float, dict[str, Any]]:
            t0 = time.perf_counter()
            answer = http.request(method, path, json=body)
            elapsed = time.perf_counter() - t0
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
            result: dict[str, Any] = answer.json()
            return elapsed, result

        results: dict[str, Any] = {}
        counts, pages = [], []
        n = 0
        for i in range(reps + 2):
            c, body = timed("GET", "/v3/contacts?pageSize=20")
            n = int(body["meta"]["total"])
            p, _ = timed("GET", "/v3/contacts?pageSize=20&page=2")
            if i >= 2:
                counts.append(c)
                pages.append(p)
        results["baseline: the contacts list, pages 1 and 2"] = summary(n, counts, pages)
        for label, tree in segments(loaded).items():
            _, made = timed("POST", "/v3/segments", {"name": label, "conditions": tree})
            counts, pages = [], []
            for i in range(reps + 2):
                c, preview = timed("POST", "/v3/segments/preview", {"conditions": tree})
                p, page = timed("GET", f"/v3/segments/{made['id']}/contacts?pageSize=20")
                n = int(preview["count"])
                if len(page["data"]) != min(20, n) or page["meta"]["total"] != n:
                    raise RuntimeError(f"{label}: page {len(page['data'])}, total {page['meta']}")
                if i >= 2:
                    counts.append(c)
                    pages.append(p)
            results[label] = summary(n, counts, pages)
        return results


# ---------------------------------------------------------------- GET by id, quiet and loaded


def measure_throughput(
    setup: Served,
    url: str,
    loaded: Loaded,
    tree: Any,
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    lo, hi = loaded.lo, loaded.hi
    get_throughput(setup, lo, hi, 2, args.connections, workdir)  # warm-up
    alone: list[RunResult] = []
    loaded_runs: list[RunResult] = []
    counted = 0
    for _ in range(args.rounds):
        alone.append(get_throughput(setup, lo, hi, args.seconds, args.connections, workdir))
        with CountLoop(url, loaded, tree, setup, args.api) as loop:
            loaded_runs.append(
                get_throughput(setup, lo, hi, args.seconds, args.connections, workdir)
            )
        counted += loop.done
    for run in (*alone, *loaded_runs):
        if run.non_2xx or run.socket_errors:
            raise RuntimeError(f"GET by id load had errors: {run}")
    alone_rps = statistics.median(run.rps for run in alone)
    loaded_rps = statistics.median(run.rps for run in loaded_runs)
    return {
        "alone_rps": alone_rps,
        "alone_p99_ms": statistics.median(run.p99_ms for run in alone),
        "loaded_rps": loaded_rps,
        "loaded_p99_ms": statistics.median(run.p99_ms for run in loaded_runs),
        "ratio": loaded_rps / alone_rps if alone_rps else float("nan"),
        "counts_per_s": counted / (args.seconds * args.rounds),
    }


# ---------------------------------------------------------------- the run


def run_setup(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with served(name, workdir, plan="enterprise") as setup:
        url = database_url(setup)
        print(f"[{name}] loading {args.rows:,} contacts ...", flush=True)
        loaded = asyncio.run(load(url, args.rows))
        print(f"[{name}] loaded in {loaded.seconds:.1f} s", flush=True)
        if args.api:
            figures = measure_api(setup, loaded, args.reps)
        else:
            figures = asyncio.run(measure_direct(url, loaded, args.reps, args.explain))
        print(f"[{name}] segments measured", flush=True)
        trees = segments(loaded)
        slowest = max(trees, key=lambda label: figures[label]["count_p50_ms"])
        throughput = measure_throughput(setup, url, loaded, trees[slowest], args, workdir)
        throughput["looping"] = slowest
        return {
            "setup": name,
            "rows": args.rows,
            "via": "HTTP API" if args.api else "compiled statements through kit.db",
            "load_s": loaded.seconds,
            "segments": figures,
            "throughput": throughput,
        }


def print_report(result: dict[str, Any]) -> None:
    print(f"\n== {result['setup']}: {result['rows']:,} contacts ({result['via']}) ==")
    print(
        f"{'segment':40} {'matches':>8} {'count p50':>10} {'p95':>8} {'x base':>7}"
        f" {'page p50':>9} {'p95':>7} {'x base':>7} {'prep p50':>9} {'p95':>6}"
    )
    rows = result["segments"]
    base = next(row for label, row in rows.items() if label.startswith("baseline"))
    for label, row in rows.items():
        print(
            f"{label:40} {row['n']:8,} {row['count_p50_ms']:10.1f} {row['count_p95_ms']:8.1f}"
            f" {row['count_p50_ms'] / base['count_p50_ms']:7.2f}"
            f" {row['page_p50_ms']:9.2f} {row['page_p95_ms']:7.2f}"
            f" {row['page_p50_ms'] / base['page_p50_ms']:7.2f}"
            + (
                f" {row['prepare_p50_ms']:9.2f} {row['prepare_p95_ms']:6.2f}"
                if row.get("prepare_p50_ms") is not None
                else ""
            )
        )
    t = result["throughput"]
    print(
        f"GET by id: {t['alone_rps']:,.0f} req/s alone (p99 {t['alone_p99_ms']:.1f} ms),"
        f" {t['loaded_rps']:,.0f} req/s while another client counts {t['looping']!r}"
        f" ({t['counts_per_s']:.1f}/s, p99 {t['loaded_p99_ms']:.1f} ms): {t['ratio']:.2f}x"
    )
    print(f"data loaded in {result['load_s']:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--setups", default="sqlite,postgres")
    parser.add_argument("--reps", type=int, default=20, help="samples per segment")
    parser.add_argument("--seconds", type=int, default=8, help="seconds per throughput run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="alone/loaded throughput pairs")
    parser.add_argument(
        "--api",
        action="store_true",
        help="through the segments API (POST /v3/segments/preview, GET .../contacts)",
    )
    parser.add_argument("--explain", action="store_true", help="print each statement's plan")
    parser.add_argument("--json-out", help="also write the results to this JSON file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ac-bench-segments-"))
    results = []
    try:
        for name in args.setups.split(","):
            result = run_setup(name, args, workdir)
            print_report(result)
            results.append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json_out:
        Path(args.json_out).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
