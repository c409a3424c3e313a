"""A million contacts in one account: import, lists, search, export and GET by id under load.

For each setup (`sqlite`: the embedded default, one `serve` with the worker inside;
`postgres`: a new database on 127.0.0.1:5432, one `serve` and one `worker`), fresh:

0. The baseline of step 1 (skip with --no-baseline): the same rows written straight into
   the contacts table of another fresh database by a plain client (bench/imports.py's
   `bare_insert`: no HTTP, staging, tags, groups or activity), timed.
1. Imports N generated contacts (default 1,000,000) through `POST /v3/contactImports`,
   streamed from a CSV file generated beforehand: 10% carry the tag `vip`, half are in
   the group `newsletter`, 3% are unsubscribed; names come from a few hundred first names
   and a few thousand generated last names.
2. One client, keep-alive, measures p50/p95 over `--reps` requests (after 3 unmeasured) of:
   the first page (default sort), `sortBy=email&sortOrder=desc`, `sortBy=lastName`,
   `tagId`, `groupId`, `status=unsubscribed`, `q=` an email prefix, `q=` a name substring,
   50 pages walked by cursor (each page one sample), `page=1000`, and GET by id (random ids
   over the whole account).
3. GET by id throughput (`wrk` when installed, else the asyncio client of bench/api.py;
   `--connections` keep-alive connections, `--seconds`), alone and while one more client
   loops the heaviest list query of step 2, interleaved `--rounds` times; the figure is the
   ratio of the medians (the machine's noise moves both alike).
4. Exports the whole account (`GET /v3/contacts/export`), timed, rows counted.
5. The peak RSS (VmHWM) of each server process.

Every list response is checked (200, `pageSize` rows or fewer); anything else stops the
run. Run from the repository root (about 5 minutes a setup at 1M on two cores):

    .venv/bin/python bench/scale.py --rows 1000000 --setups sqlite,postgres
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import WRK_SCRIPT, RunResult, wrk_load
from imports import Served, bare_insert, import_csv, served

FIRST = [
    f"{a}{b}"
    for a in ("Al", "Be", "Ca", "Da", "El", "Fe", "Gi", "Ha", "Iv", "Jo", "Ka", "Li", "Ma", "No")
    for b in ("ma", "ria", "na", "lia", "ssa", "ne", "ra", "vin", "ton", "lo", "bert", "ya")
]
LAST = [
    f"{a}{b}{c}"
    for a in ("Ander", "Bro", "Car", "Dun", "Ell", "Fisch", "Gar", "Hol", "Ing", "Jan", "Kow")
    for b in ("", "a", "e", "i", "o", "u", "ber", "man", "ton")
    for c in ("son", "sen", "ski", "ez", "er", "ley", "ford", "wood", "berg", "ini")
]
EMAIL_PREFIX = "lima.ellu"  # the start of about 60 of the generated emails at 1M
NAME_SUBSTRING = "garber"  # inside about 1% of the last names ("Garberson", "Garberski", ...)


def person(i: int) -> tuple[str, str, str]:
    rnd = random.Random(i)
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    return f"{first.lower()}.{last.lower()}{i}@example{i % 97}.com", first, last


def rows(count: int) -> Iterator[bytes]:
    yield b"email,firstName,lastName,phone,status,tags,groups\n"
    block: list[str] = []
    for i in range(count):
        email, first, last = person(i)
        status = "unsubscribed" if i % 33 == 7 else "active"
        tags = "vip" if i % 10 == 3 else ""
        groups = "newsletter" if i % 2 else ""
        block.append(f"{email},{first},{last},+1555{i:07d},{status},{tags},{groups}")
        if len(block) == 2000:
            yield ("\n".join(block) + "\n").encode()
            block = []
    if block:
        yield ("\n".join(block) + "\n").encode()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Client:
    """One keep-alive client that checks every answer."""

    def __init__(self, setup: Served) -> None:
        self.http = httpx.Client(base_url=setup.base, headers={"Api-Token": setup.key}, timeout=60)

    def get(self, path: str) -> tuple[float, dict[str, Any]]:
        t0 = time.perf_counter()
        response = self.http.get(path)
        elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
        body: dict[str, Any] = response.json()
        return elapsed, body

    def find(self, collection: str, name: str) -> str:
        _, body = self.get(f"/v3/{collection}?pageSize=100")
        return str(next(item["id"] for item in body["data"] if item["name"] == name))


def list_queries(tag_id: str, group_id: str) -> dict[str, str]:
    base = "/v3/contacts?pageSize=20"
    return {
        "first page": base,
        "sortBy=email desc": f"{base}&sortBy=email&sortOrder=desc",
        "sortBy=lastName": f"{base}&sortBy=lastName",
        "tagId (10%)": f"{base}&tagId={tag_id}",
        "groupId (50%)": f"{base}&groupId={group_id}",
        "status=unsubscribed (3%)": f"{base}&status=unsubscribed",
        f"q={EMAIL_PREFIX} (email prefix)": f"{base}&q={EMAIL_PREFIX}",
        f"q={NAME_SUBSTRING} (name substring)": f"{base}&q={NAME_SUBSTRING}",
        "page=1000": f"{base}&page=1000",
    }


def measure_lists(client: Client, queries: dict[str, str], reps: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for label, path in queries.items():
        samples = []
        meta: dict[str, Any] = {}
        for i in range(reps + 3):
            elapsed, body = client.get(path)
            if len(body["data"]) > 20:
                raise RuntimeError(f"{label}: {len(body['data'])} rows")
            meta = body["meta"]
            if i >= 3:
                samples.append(elapsed)
        results[label] = {
            "p50_ms": pct(samples, 0.5),
            "p95_ms": pct(samples, 0.95),
            "total": meta.get("total"),
            "exact": meta.get("totalExact", True),
        }
    return results


def measure_cursor_walk(client: Client, pages: int = 50) -> dict[str, Any]:
    samples = []
    seen: set[str] = set()
    path = "/v3/contacts?pageSize=20"
    started = time.perf_counter()
    for _ in range(pages):
        elapsed, body = client.get(path)
        samples.append(elapsed)
        seen.update(str(item["id"]) for item in body["data"])
        path = f"/v3/contacts?pageSize=20&cursor={body['meta']['nextCursor']}"
    if len(seen) != pages * 20:
        raise RuntimeError(f"cursor walk saw {len(seen)} distinct contacts, not {pages * 20}")
    return {
        "p50_ms": pct(samples, 0.5),
        "p95_ms": pct(samples, 0.95),
        "total": f"{pages} pages in {time.perf_counter() - started:.2f} s",
        "exact": True,
    }


def id_range(client: Client) -> tuple[int, int]:
    _, low = client.get("/v3/contacts?pageSize=1&sortBy=createdAt&sortOrder=asc")
    _, high = client.get("/v3/contacts?pageSize=1&sortBy=createdAt&sortOrder=desc")
    return int(low["data"][0]["id"]), int(high["data"][0]["id"])


def measure_get(client: Client, lo: int, hi: int, reps: int) -> dict[str, Any]:
    rnd = random.Random(7)
    samples = []
    for i in range(reps * 5 + 3):
        elapsed, _ = client.get(f"/v3/contacts/{rnd.randint(lo, hi)}")
        if i >= 3:
            samples.append(elapsed)
    return {"p50_ms": pct(samples, 0.5), "p95_ms": pct(samples, 0.95), "total": 1, "exact": True}


def get_throughput(
    setup: Served, lo: int, hi: int, seconds: int, connections: int, workdir: Path
) -> RunResult:
    port = int(setup.base.rsplit(":", 1)[1])
    wrk = shutil.which("wrk")
    if wrk:
        script = workdir / "scale.lua"
        script.write_text(WRK_SCRIPT)
        return wrk_load(
            wrk, script, port, "get", setup.key, lo, hi, "scale", seconds, connections, 1
        )
    command = [
        sys.executable,
        str(Path(__file__).resolve().parent / "api.py"),
        *("--role", "load", "--port", str(port), "--mode", "get", "--key", setup.key),
        *("--id-min", str(lo), "--id-max", str(hi), "--tag", "scale"),
        *("--seconds", str(seconds), "--connections", str(connections)),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    data = orjson.loads(out.stdout.strip().splitlines()[-1])
    return RunResult(**data)


def measure_throughput(
    setup: Served, heavy: str, lo: int, hi: int, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    get_throughput(setup, lo, hi, 2, args.connections, workdir)  # warm-up
    alone: list[RunResult] = []
    loaded: list[RunResult] = []
    loops = 0
    for _ in range(args.rounds):
        alone.append(get_throughput(setup, lo, hi, args.seconds, args.connections, workdir))
        stop = threading.Event()
        counted = [0]

        def loop(done: threading.Event = stop, count: list[int] = counted) -> None:
            client = Client(setup)
            while not done.is_set():
                client.get(heavy)
                count[0] += 1

        looper = threading.Thread(target=loop, daemon=True)
        looper.start()
        try:
            loaded.append(get_throughput(setup, lo, hi, args.seconds, args.connections, workdir))
        finally:
            stop.set()
            looper.join(120)
        loops += counted[0]
    for run in (*alone, *loaded):
        if run.non_2xx or run.socket_errors:
            raise RuntimeError(f"GET by id load had errors: {run}")
    alone_rps = statistics.median(run.rps for run in alone)
    loaded_rps = statistics.median(run.rps for run in loaded)
    return {
        "alone_rps": alone_rps,
        "alone_p99_ms": statistics.median(run.p99_ms for run in alone),
        "loaded_rps": loaded_rps,
        "loaded_p99_ms": statistics.median(run.p99_ms for run in loaded),
        "ratio": loaded_rps / alone_rps if alone_rps else float("nan"),
        "heavy_per_s": loops / (args.seconds * args.rounds),
    }


def measure_export(setup: Served) -> dict[str, Any]:
    lines = 0
    size = 0
    started = time.monotonic()
    with httpx.stream(
        "GET",
        f"{setup.base}/v3/contacts/export",
        headers={"Api-Token": setup.key},
        timeout=600,
    ) as response:
        if response.status_code != 200:
            raise RuntimeError(f"export: {response.status_code}")
        for chunk in response.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
    return {"seconds": time.monotonic() - started, "rows": lines - 1, "mb": size / 1e6}


def write_csv(workdir: Path, count: int) -> Path:
    """The generated contacts as a file, made beforehand so that an import's time is the
    server's alone."""
    path = workdir / "contacts.csv"
    with path.open("wb") as out:
        out.writelines(rows(count))
    return path


def read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(256 * 1024):
            yield chunk


def run_setup(name: str, args: argparse.Namespace, workdir: Path, csv_file: Path) -> dict[str, Any]:
    bare_s = None
    if args.baseline:
        print(f"[{name}] bare insert of the same rows (the baseline) ...", flush=True)
        bare_s = bare_insert(name, workdir, read_chunks(csv_file))
        print(f"[{name}] bare insert in {bare_s:.1f} s", flush=True)
    with served(name, workdir, plan="enterprise") as setup:
        print(f"[{name}] importing {args.rows:,} contacts ...", flush=True)
        _, import_s, sent, state = import_csv(setup, read_chunks(csv_file))
        if state["status"] != "completed" or state["created"] != args.rows:
            raise RuntimeError(f"import: {state}")
        print(f"[{name}] imported in {import_s:.1f} s ({sent / 1e6:.0f} MB)", flush=True)
        client = Client(setup)
        queries = list_queries(
            client.find("contactTags", "vip"), client.find("contactGroups", "newsletter")
        )
        lists = measure_lists(client, queries, args.reps)
        lists["50 pages by cursor"] = measure_cursor_walk(client)
        lo, hi = id_range(client)
        lists["GET /v3/contacts/{id}"] = measure_get(client, lo, hi, args.reps)
        print(f"[{name}] lists measured", flush=True)
        heavy_label = max(queries, key=lambda label: lists[label]["p50_ms"])
        throughput = measure_throughput(setup, queries[heavy_label], lo, hi, args, workdir)
        throughput["heavy"] = heavy_label
        export = measure_export(setup)
        if export["rows"] != args.rows:
            raise RuntimeError(f"export gave {export['rows']} rows")
        return {
            "setup": name,
            "rows": args.rows,
            "import_s": import_s,
            "bare_insert_s": bare_s,
            "lists": lists,
            "throughput": throughput,
            "export": export,
            "peak_rss_mb": setup.peak_rss(),
        }


def print_report(result: dict[str, Any]) -> None:
    name = result["setup"]
    print(f"\n== {name}: {result['rows']:,} contacts ==")
    print(f"{'query':44} {'p50 ms':>8} {'p95 ms':>8}  total")
    for label, row in result["lists"].items():
        total = row["total"] if row["exact"] else f">= {row['total']} (not exact)"
        print(f"{label:44} {row['p50_ms']:8.2f} {row['p95_ms']:8.2f}  {total}")
    t = result["throughput"]
    print(
        f"GET by id throughput: {t['alone_rps']:,.0f} req/s alone (p99 {t['alone_p99_ms']:.1f} ms),"
        f" {t['loaded_rps']:,.0f} req/s with one client looping {t['heavy']!r}"
        f" ({t['heavy_per_s']:.1f}/s, p99 {t['loaded_p99_ms']:.1f} ms): {t['ratio']:.2f}x"
    )
    e = result["export"]
    rss = ", ".join(f"{k}: {v:.0f} MB" for k, v in result["peak_rss_mb"].items())
    if result["bare_insert_s"]:
        bare = result["bare_insert_s"]
        print(
            f"import {result['import_s']:.1f} s against a bare insert of the same rows into the"
            f" same table {bare:.1f} s: {result['import_s'] / bare:.2f}x the baseline"
        )
    print(
        f"import {result['import_s']:.1f} s; export {e['seconds']:.1f} s"
        f" ({e['rows']:,} rows, {e['mb']:.0f} MB); peak RSS {rss}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--setups", default="sqlite,postgres")
    parser.add_argument("--reps", type=int, default=40, help="samples per list query")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per throughput run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="alone/loaded throughput pairs")
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="skip the bare insert of the same rows that the import is compared with",
    )
    parser.add_argument("--json-out", help="also write the results to this JSON file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ac-bench-scale-"))
    results = []
    try:
        csv_file = write_csv(workdir, args.rows)
        for name in args.setups.split(","):
            result = run_setup(name, args, workdir, csv_file)
            print_report(result)
            results.append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json_out:
        Path(args.json_out).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
