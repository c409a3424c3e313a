"""Signup forms: hosted-form submissions per second with double opt-in, and GET by id
beside them.

For each setup (`sqlite`: one `serve` with the worker inside; `postgres`: a new database
on 127.0.0.1:5432, one `serve` and one `worker`; bench/imports.py's `served`, rate
limiting off, so the per-address limit is off too), fresh:

1. Through the API: a group, a tag, a form with double opt-in asking first and last name
   (joining the group and the tag on confirmation), and `--contacts` contacts for GET by
   id to read.
2. Submissions: `--connections` keep-alive clients each POST the hosted form
   (`/f/{publicId}`, form-encoded, a new address each time) for `--seconds`, measured
   after a warm-up; every answer must be the thank-you page (200). Each submission makes
   an `unconfirmed` contact, a submission row, its event and the confirmation email's
   job, which the worker captures meanwhile (the sandbox). Reported: submissions/s, p50
   and p99 latency, and how long the confirmation emails took to be all captured.
3. GET /v3/contacts/{id} throughput (bench/scale.py's `get_throughput`: wrk, or
   bench/api.py's loader) alone, beside a steady signup rate (`--pace` submissions a
   second, default 100), and beside one more client that submits the form as fast as it
   can, interleaved `--rounds` times; the figures are ratios of the medians (the
   baseline measured in the same run).

Targets: at least 500 submissions/s, p99 under 100 ms, GET by id beside them at 0.7x or
more of its rate alone, on both databases. Run from the repository root:

    .venv/bin/python bench/forms.py --setups sqlite,postgres
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import RunResult
from imports import Served, served
from scale import get_throughput, pct


def api(setup: Served) -> httpx.Client:
    return httpx.Client(base_url=setup.base, headers={"Api-Token": setup.key}, timeout=60)


def made(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(path, json=body)
    if answer.status_code not in (201, 202):
        raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text[:300]}")
    result: dict[str, Any] = answer.json()
    return result


def prepare(setup: Served, contacts: int) -> tuple[str, int, int]:
    """The form's public id and the id range of the contacts to GET."""
    with api(setup) as client:
        group = made(client, "/v3/contactGroups", {"name": "Newsletter"})
        tag = made(client, "/v3/contactTags", {"name": "web"})
        form = made(
            client,
            "/v3/forms",
            {
                "name": "Newsletter",
                "fields": [{"key": "firstName", "required": True}, {"key": "lastName"}],
                "groupIds": [group["id"]],
                "tagIds": [tag["id"]],
            },
        )
        ids = [
            int(made(client, "/v3/contacts", {"email": f"reader{i}@bench.io"})["id"])
            for i in range(contacts)
        ]
    return str(form["publicId"]), min(ids), max(ids)


async def submit_load(
    base: str,
    public_id: str,
    seconds: float,
    connections: int,
    tag: str,
    pace: float | None = None,
) -> dict[str, Any]:
    """`connections` clients submitting the form for `seconds` (each as fast as it can,
    or `pace` submissions a second in all): rate and latencies."""
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    counter = [0]

    async def one_client(n: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            while time.monotonic() < deadline:
                counter[0] += 1
                body = {
                    "email": f"s{tag}-{n}-{counter[0]}@bench.io",
                    "firstName": "Ann",
                    "lastName": "Example",
                }
                t0 = time.perf_counter()
                answer = await client.post(f"/f/{public_id}", data=body)
                latencies.append(time.perf_counter() - t0)
                if answer.status_code != 200:
                    errors.append(f"{answer.status_code} {answer.text[:200]}")
                if pace:
                    await asyncio.sleep(max(0.0, connections / pace - (time.perf_counter() - t0)))

    started = time.monotonic()
    await asyncio.gather(*(one_client(n) for n in range(connections)))
    elapsed = time.monotonic() - started
    if errors:
        raise RuntimeError(f"{len(errors)} submissions failed, e.g. {errors[0]}")
    return {
        "submissions": len(latencies),
        "per_s": len(latencies) / elapsed,
        "p50_ms": pct(latencies, 0.50),
        "p99_ms": pct(latencies, 0.99),
    }


def captured_count(setup: Served) -> int:
    with api(setup) as client:
        answer = client.get("/v3/sandbox/emails", params={"pageSize": "1"})
        return int(answer.json()["meta"]["total"])


def run_setup(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with served(name, workdir) as setup:
        public_id, lo, hi = prepare(setup, args.contacts)
        warm = asyncio.run(submit_load(setup.base, public_id, 2, args.connections, "warm"))
        runs = [
            asyncio.run(submit_load(setup.base, public_id, args.seconds, args.connections, f"r{i}"))
            for i in range(args.rounds)
        ]
        expected = warm["submissions"] + sum(run["submissions"] for run in runs)
        t0 = time.monotonic()
        deadline = t0 + 120
        while captured_count(setup) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        drained_s = time.monotonic() - t0
        # GET by id alone, and beside a client that submits the form in a loop.
        get_throughput(setup, lo, hi, 2, args.get_connections, workdir)  # warm-up
        alone: list[RunResult] = []
        beside: list[RunResult] = []
        beside_rate: list[float] = []
        paced: list[RunResult] = []
        for i in range(args.rounds):
            # Beside a steady signup rate (`--pace` a second, from 4 clients)...
            stop_paced = threading.Event()

            def steady(done: threading.Event = stop_paced, n: int = i) -> None:
                asyncio.run(
                    submit_load(setup.base, public_id, args.seconds + 1, 4, f"p{n}", pace=args.pace)
                )
                done.set()

            pacer = threading.Thread(target=steady, daemon=True)
            pacer.start()
            paced.append(get_throughput(setup, lo, hi, args.seconds, args.get_connections, workdir))
            pacer.join(120)
            # ... and beside one client submitting as fast as it can.
            alone.append(get_throughput(setup, lo, hi, args.seconds, args.get_connections, workdir))
            stop = threading.Event()
            result: dict[str, Any] = {}

            def loop(
                done: threading.Event = stop, out: dict[str, Any] = result, n: int = i
            ) -> None:
                out.update(
                    asyncio.run(submit_load(setup.base, public_id, args.seconds + 1, 1, f"b{n}"))
                )
                done.set()

            looper = threading.Thread(target=loop, daemon=True)
            looper.start()
            beside.append(
                get_throughput(setup, lo, hi, args.seconds, args.get_connections, workdir)
            )
            looper.join(120)
            beside_rate.append(result.get("per_s", 0.0))
        alone_rps = statistics.median(r.rps for r in alone)
        beside_rps = statistics.median(r.rps for r in beside)
        paced_rps = statistics.median(r.rps for r in paced)
        return {
            "setup": name,
            "get_paced_rps": paced_rps,
            "get_paced_ratio": paced_rps / alone_rps if alone_rps else float("nan"),
            "submissions_per_s": statistics.median(r["per_s"] for r in runs),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "mail_drained_s": drained_s,
            "get_alone_rps": alone_rps,
            "get_beside_rps": beside_rps,
            "get_ratio": beside_rps / alone_rps if alone_rps else float("nan"),
            "beside_submissions_per_s": statistics.median(beside_rate),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", default="sqlite,postgres")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--get-connections", type=int, default=8)
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument(
        "--pace", type=float, default=100, help="submissions/s beside GET by id (paced run)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix=f"forms-{uuid.uuid4().hex[:6]}-") as tmp:
        results = [run_setup(name, args, Path(tmp)) for name in args.setups.split(",")]
    print(
        f"{'setup':9} {'subm/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'mail s':>7}"
        f" {'GET alone':>10} {'GET beside':>11} {'ratio':>6} {'(subm/s)':>8}"
        f" {'GET paced':>10} {'ratio':>6}"
    )
    for r in results:
        print(
            f"{r['setup']:9} {r['submissions_per_s']:8.0f} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f}"
            f" {r['mail_drained_s']:7.1f} {r['get_alone_rps']:10.0f} {r['get_beside_rps']:11.0f}"
            f" {r['get_ratio']:6.2f} {r['beside_submissions_per_s']:8.0f}"
            f" {r['get_paced_rps']:10.0f} {r['get_paced_ratio']:6.2f}"
        )


if __name__ == "__main__":
    main()
