"""The web console at scale: a signed-in browser's requests at 1,000,000 contacts and
10,000 deals.

For each setup (`sqlite`: the embedded default; `postgres`: a new database, one `serve`
and one `worker`), fresh: an enterprise account with an owner; N contacts imported
through the API (the generated data of bench/scale.py: a tag `vip` on 10%, a group
`newsletter` on half, 3% unsubscribed), a pipeline of five stages and D deals spread over
them (each with a value and a random contact), made through the API. Then one client,
signed in through the sign-in form like a person (session cookie, keep-alive), measures
p50/p95 over `--reps` requests (after 3 unmeasured) of:

- the contacts page: the first page, a search (`Search` field: a name substring), a
  filter (the tag), the second page by cursor;
- the deals board of the pipeline (every stage's count, value total and first cards).

Each answer must be 200 HTML holding what the page shows (a marker per page); anything
else stops the run. Run from the repository root:

    .venv/bin/python bench/console.py --rows 1000000 --deals 10000 --setups sqlite,postgres
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from imports import Served, import_csv, served
from scale import NAME_SUBSTRING, pct, read_chunks, write_csv

OWNER = "owner@bench.example.com"
PASSWORD = "bench-password-1"


def api(setup: Served) -> httpx.Client:
    return httpx.Client(base_url=setup.base, headers={"Api-Token": setup.key}, timeout=60)


def make_deals(setup: Served, count: int) -> str:
    """A pipeline of five stages and `count` deals over them; returns the pipeline's id."""
    rnd = random.Random(5)
    with api(setup) as client:
        pipeline = client.post("/v3/pipelines", json={"name": "Sales"}).json()["id"]
        stages = [
            client.post(
                "/v3/dealStages", json={"pipelineId": pipeline, "name": name, "order": i}
            ).json()["id"]
            for i, name in enumerate(("Lead", "Qualified", "Proposal", "Negotiation", "Won"))
        ]
        contacts = [c["id"] for c in client.get("/v3/contacts?pageSize=100").json()["data"]]
        for i in range(count):
            body = {
                "name": f"Deal {i}",
                "value": rnd.randint(100, 100_000),
                "currency": "USD",
                "pipelineId": pipeline,
                "stageId": rnd.choice(stages),
                "contact": rnd.choice(contacts),
            }
            answer = client.post("/v3/deals", json=body)
            if answer.status_code != 201:
                raise RuntimeError(f"deal: {answer.status_code} {answer.text}")
    return str(pipeline)


def submit(browser: httpx.Client, page: str, action: str, fields: dict[str, str]) -> None:
    """Posts a form of the console as a browser would: the CSRF token of `page`, this
    site's Origin; a redirect (303) is success."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(page).text)
    if token is None:
        raise RuntimeError(f"no CSRF token on {page}")
    answer = browser.post(
        action,
        data={**fields, "csrf_token": token[1]},
        headers={"Origin": str(browser.base_url).rstrip("/")},
    )
    if answer.status_code != 303:
        raise RuntimeError(f"POST {action}: {answer.status_code} {answer.text[:300]}")


def signed_in(setup: Served) -> httpx.Client:
    browser = httpx.Client(base_url=setup.base, timeout=60, follow_redirects=False)
    submit(browser, "/signin", "/signin", {"email": OWNER, "password": PASSWORD, "next": "/"})
    if "ac_session" not in browser.cookies:
        raise RuntimeError("signed in without a session cookie")
    # A production account's console opens in live; the data is in the sandbox.
    submit(browser, "/", "/environment", {"env": "sandbox", "next": "/"})
    return browser


def measure(browser: httpx.Client, path: str, marker: str, reps: int) -> dict[str, Any]:
    samples = []
    for i in range(reps + 3):
        t0 = time.perf_counter()
        answer = browser.get(path)
        elapsed = time.perf_counter() - t0
        if answer.status_code != 200 or marker not in answer.text:
            raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:500]}")
        if i >= 3:
            samples.append(elapsed)
    return {"p50_ms": pct(samples, 0.5), "p95_ms": pct(samples, 0.95)}


def run_setup(name: str, args: argparse.Namespace, workdir: Path, csv_file: Path) -> dict[str, Any]:
    owner = (OWNER, PASSWORD)
    with served(name, workdir, plan="enterprise", owner=owner) as setup:
        print(f"[{name}] importing {args.rows:,} contacts ...", flush=True)
        _, seconds, _, state = import_csv(setup, read_chunks(csv_file))
        if state["status"] != "completed":
            raise RuntimeError(f"import: {state}")
        print(f"[{name}] imported in {seconds:.0f} s; making {args.deals:,} deals", flush=True)
        pipeline = make_deals(setup, args.deals)
        with api(setup) as client:
            tags = client.get("/v3/contactTags?pageSize=100").json()["data"]
            tag = next(t["id"] for t in tags if t["name"] == "vip")
        browser = signed_in(setup)
        first = browser.get("/contacts").text
        cursor = re.search(r"cursor=([A-Za-z0-9_\-=%]+)", first)
        pages = {
            "contacts: first page": ("/contacts", "Search"),
            f"contacts: Search {NAME_SUBSTRING!r}": (f"/contacts?q={NAME_SUBSTRING}", "arber"),
            "contacts: tag filter (10%)": (f"/contacts?tagId={tag}", "Search"),
            "deals: board (5 stages)": (f"/deals?pipeline={pipeline}", "Lead"),
        }
        if cursor is not None:
            pages["contacts: next page (cursor)"] = (
                f"/contacts?cursor={cursor.group(1)}",
                "Search",
            )
        results = {
            label: measure(browser, path, marker, args.reps)
            for label, (path, marker) in pages.items()
        }
        return {"setup": name, "rows": args.rows, "deals": args.deals, "pages": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--setups", default="sqlite,postgres")
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ac-bench-console-"))
    try:
        csv_file = write_csv(workdir, args.rows)
        for name in args.setups.split(","):
            result = run_setup(name, args, workdir, csv_file)
            print(f"\n== {name}: {args.rows:,} contacts, {args.deals:,} deals ==")
            print(f"{'page':40} {'p50 ms':>8} {'p95 ms':>8}")
            for label, row in result["pages"].items():
                print(f"{label:40} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
