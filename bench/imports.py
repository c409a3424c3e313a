"""Contact import benchmark: rows per second and the server's peak memory.

A generated CSV of N contacts (default 100,000: email, firstName, lastName, phone, and with
--tags one tag and one group per row out of a few) is streamed to `POST
/v3/contactImports` by httpx from a generator (the file never exists whole, on either
side), and the import is polled until it is completed. Reported per setup:

- upload: seconds until the 202 (the body staged), and MB/s;
- total: seconds from the first byte sent to `completed`, and rows/s over that;
- peak RSS (VmHWM) of each server process (`serve`, and `worker` on PostgreSQL).

Setups, each fresh: `sqlite` (a temporary data directory, one `serve` with the worker
inside) and `postgres` (a new database on 127.0.0.1:5432, dropped at the end; one `serve`
and one `worker`). Run from the repository root:

    .venv/bin/python bench/imports.py --rows 1000000 --setups sqlite,postgres
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CLI = [sys.executable, "-m", "activecommerce"]


def rows(count: int, tags: bool) -> Iterator[bytes]:
    header = "email,firstName,lastName,phone" + (",tags,groups" if tags else "")
    yield (header + "\n").encode()
    block: list[str] = []
    for i in range(count):
        line = f"user{i}@example{i % 50}.com,First{i},Last{i},+1555{i:07d}"
        if tags:
            line += f",tag{i % 10},group{i % 5}"
        block.append(line)
        if len(block) == 2000:
            yield ("\n".join(block) + "\n").encode()
            block = []
    if block:
        yield ("\n".join(block) + "\n").encode()


def peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(url: str | None, data_dir: Path, embedded: bool, batch: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVECOMMERCE_")}
    if batch:
        env["ACTIVECOMMERCE_IMPORT_BATCH_SIZE"] = str(batch)
    env.update(
        ACTIVECOMMERCE_DATA_DIR=str(data_dir),
        ACTIVECOMMERCE_RATE_LIMIT_ENABLED="false",
        ACTIVECOMMERCE_SECRET_KEY="bench-secret",
        ACTIVECOMMERCE_EMBEDDED_WORKER="true" if embedded else "false",
    )
    if url:
        env["ACTIVECOMMERCE_DATABASE_URL"] = url
    return env


@dataclass
class Served:
    """A running setup: its base URL, a sandbox API key, its processes and database URL."""

    base: str
    key: str
    processes: list[subprocess.Popen[bytes]]
    url: str | None
    data_dir: Path

    def peak_rss(self) -> dict[str, float]:
        return {f"{i}": peak_rss_mb(p.pid) for i, p in enumerate(self.processes)}


@contextlib.contextmanager
def served(
    name: str,
    workdir: Path,
    batch: int | None = None,
    plan: str = "plus",
    owner: tuple[str, str] | None = None,
) -> Iterator[Served]:
    """Starts a fresh setup: `sqlite` (one `serve` with the worker inside, on a temporary
    data directory) or `postgres` (a new database, one `serve` and one `worker`); an account
    on `plan` (with `owner`'s email and password as its owner); stops it all (and drops
    the database) on exit."""
    data_dir = workdir / name
    url = None
    database = None
    if name == "postgres":
        import psycopg

        database = f"ac_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    env = env_for(url, data_dir, embedded=name == "sqlite", batch=batch)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
        made = subprocess.run(
            [*CLI, "accounts", "create", "--name", "Bench", "--plan", plan, "--json"]
            + (["--owner-email", owner[0], "--owner-password", owner[1]] if owner else []),
            env=env,
            check=True,
            capture_output=True,
        )
        key = orjson.loads(made.stdout)["sandboxApiKey"]
        port = free_port()
        log = (workdir / f"{name}-serve.log").open("wb")
        processes.append(
            subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
        )
        if name == "postgres":
            wlog = (workdir / f"{name}-worker.log").open("wb")
            processes.append(subprocess.Popen([*CLI, "worker"], env=env, stdout=wlog, stderr=wlog))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        yield Served(base, key, processes, url, data_dir)
    finally:
        for process in processes:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(15)
            if process.poll() is None:
                process.kill()
        if database:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def import_csv(setup: Served, body: Iterator[bytes]) -> tuple[float, float, int, dict[str, Any]]:
    """Streams `body` to POST /v3/contactImports and polls until the import ends: returns
    the seconds to the 202, the seconds to the end, the bytes sent and the import."""
    sent = 0

    def counted() -> Iterator[bytes]:
        nonlocal sent
        for chunk in body:
            sent += len(chunk)
            yield chunk

    headers = {"Api-Token": setup.key}
    started = time.monotonic()
    response = httpx.post(
        f"{setup.base}/v3/contactImports",
        content=counted(),
        headers={**headers, "content-type": "text/csv"},
        timeout=600,
    )
    uploaded = time.monotonic() - started
    if response.status_code != 202:
        raise RuntimeError(f"{response.status_code} {response.text}")
    import_id = response.json()["id"]
    with httpx.Client(base_url=setup.base, headers=headers, timeout=30) as client:
        while True:
            state: dict[str, Any] = client.get(f"/v3/contactImports/{import_id}").json()
            if state["status"] in ("completed", "failed"):
                break
            time.sleep(0.2)
    return uploaded, time.monotonic() - started, sent, state


BARE_COLUMNS = ("email", "first_name", "last_name", "phone", "status")


def bare_insert(name: str, workdir: Path, body: Iterator[bytes], batch: int = 5000) -> float:
    """The floor an import is measured against: the same CSV rows (their first five
    columns) written straight into the contacts table of a freshly migrated database, with
    its indexes, count triggers and text index, by one plain client in this process,
    `batch` rows per transaction (sqlite3 executemany with SQLite's defaults in WAL mode;
    COPY on PostgreSQL): no HTTP, no staging, no checks, no tags, groups or activity.
    Returns the seconds from the first byte read to the last commit."""
    from activecommerce.kit.db import register_functions
    from activecommerce.kit.migrate import upgrade

    database = f"ac_bare_{uuid.uuid4().hex[:10]}"
    if name == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    else:
        (workdir / database).mkdir(parents=True)
        url = f"sqlite:///{workdir / database / 'bare.db'}"
    upgrade(url)
    stamp = "2026-01-01T00:00:00.000000Z"
    insert = (
        "INSERT INTO contacts (account_id, env, email, first_name, last_name, phone, status,"
        " created_at, updated_at) VALUES (1, 'live', ?, ?, ?, ?, ?, ?, ?)"
    )
    account = (
        "INSERT INTO accounts (name, plan, created_at, updated_at)"
        " VALUES ('Bare', 'plus', 'x', 'x')"
    )

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        rest = b""
        rows: list[tuple[Any, ...]] = []
        header = True
        for chunk in body:
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if header:
                    header = False
                    continue
                rows.append((*line.decode().split(",")[: len(BARE_COLUMNS)], stamp, stamp))
                if len(rows) == batch:
                    yield rows
                    rows = []
        if rows:
            yield rows

    started = time.monotonic()
    try:
        if name == "postgres":
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(account)
                columns = ", ".join((*BARE_COLUMNS, "created_at", "updated_at"))
                for rows in batches():
                    with conn.transaction(), conn.cursor() as cursor:
                        copy_sql = f"COPY contacts (account_id, env, {columns}) FROM STDIN"
                        with cursor.copy(copy_sql) as copy:
                            for row in rows:
                                copy.write_row((1, "live", *row))
        else:
            import sqlite3

            conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            register_functions(conn)  # the unique index's lower()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(account)
            for rows in batches():
                conn.execute("BEGIN")
                conn.executemany(insert, rows)
                conn.execute("COMMIT")
            conn.close()
        return time.monotonic() - started
    finally:
        if name == "postgres":
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        else:
            shutil.rmtree(workdir / database, ignore_errors=True)


def run_setup(
    name: str, count: int, tags: bool, workdir: Path, batch: int | None = None
) -> dict[str, Any]:
    with served(name, workdir, batch) as setup:
        uploaded, total, sent, state = import_csv(setup, rows(count, tags))
        rss = {f"{name}-{k}": v for k, v in setup.peak_rss().items()}
        return {
            "setup": name,
            "rows": count,
            "tags": tags,
            "batch": batch,
            "status": state["status"],
            "created": state["created"],
            "failed": state["failed"],
            "upload_s": round(uploaded, 1),
            "upload_mb_s": round(sent / 1e6 / uploaded, 1),
            "total_s": round(total, 1),
            "rows_per_s": round(count / total),
            "peak_rss_mb": {k: round(v) for k, v in rss.items()},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--setups", default="sqlite,postgres")
    parser.add_argument("--tags", action="store_true", help="one tag and one group per row")
    parser.add_argument("--batch", type=int, help="ACTIVECOMMERCE_IMPORT_BATCH_SIZE")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ac-bench-imports-"))
    try:
        for name in args.setups.split(","):
            result = run_setup(name, args.rows, args.tags, workdir, args.batch)
            print(orjson.dumps(result).decode(), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
