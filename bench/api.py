"""HTTP benchmark of the contacts API against a bare Starlette baseline.

What it measures
----------------
Requests per second and p50/p99 latency of three endpoints of the real server
(`activecommerce serve`: FastAPI, auth, validation, the kit's SQLite access):

- GET  /v3/contacts/{id}        (ids drawn at random over the seeded rows)
- GET  /v3/contacts?pageSize=20 (count + first page, ordered by createdAt)
- POST /v3/contacts             (a fresh, unique email on every request)

and of the same three requests against a bare Starlette app defined in this file, run
under uvicorn in its own process with the same settings (one worker, uvicorn's default
loop and HTTP implementation, so uvloop and httptools when installed, no access log). The
bare app calls `sqlite3` inline in its async handlers (no thread pool, no ORM, no
validation library), performs the same reads (the API key lookup: an HMAC of the key and
the same indexed `api_keys JOIN accounts` read; then the same contact queries) on its own
copy of the same database, with the same connection pragmas, and encodes the same JSON with
orjson. The ratio column says how the product compares with that floor.

Setup: a temporary data directory; an enterprise account made with
`activecommerce accounts create --json`; 10,000 sandbox contacts inserted with sqlite3
directly. Both servers listen on 127.0.0.1 on free ports and run with
ACTIVECOMMERCE_RATE_LIMIT_ENABLED=false. The load comes from a separate process holding 32
keep-alive connections: `wrk` (with a Lua script) when it is installed, else a small
asyncio HTTP/1.1 client in this file. Each run is preceded by a short warm-up that is not
counted. Any response other than 2xx is counted and reported (and makes the exit status 1).

Run it from the repository root:

    .venv/bin/python bench/api.py --seconds 10

Options: --seconds (per endpoint and server), --warmup, --connections, --rows, --before DIR
(the same code before a change, served and measured interleaved in the same run),
--loader {auto,wrk,python}, --json-out FILE, --keep (keep the temporary directory).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import http.client
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

HOST = "127.0.0.1"
DB_NAME = "activecommerce.db"
ENDPOINTS = (
    ("get", "GET /v3/contacts/{id}"),
    ("list", "GET /v3/contacts?pageSize=20"),
    ("post", "POST /v3/contacts"),
)
AUTH_SQL = (
    "SELECT k.id, k.account_id, k.env, k.last_used_at, a.plan FROM api_keys k"
    " JOIN accounts a ON a.id = k.account_id"
    " WHERE k.key_hash = ? AND k.revoked_at IS NULL"
)
CONTACT_COLUMNS = "id, email, first_name, last_name, phone, status, created_at, updated_at"


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------- bare app


def _sqlite_connect(path: str) -> sqlite3.Connection:
    """The same connection settings as the product's kit.db."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _contact(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": str(row[0]),
        "email": row[1],
        "firstName": row[2],
        "lastName": row[3],
        "phone": row[4],
        "status": row[5],
        "createdAt": row[6],
        "updatedAt": row[7],
    }


def build_bare_app(db_path: str) -> Any:
    """A Starlette app doing the same SQLite work as the product, inline and by hand."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    reader = _sqlite_connect(db_path)
    writer = _sqlite_connect(db_path)
    secret_row = reader.execute("SELECT value FROM server_secrets WHERE name = 'hmac'").fetchone()
    secret = str(secret_row[0]).encode()
    get_sql = f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = ? AND account_id = ? AND env = ?"
    count_sql = "SELECT count(*) FROM contacts WHERE account_id = ? AND env = ?"
    page_sql = (
        f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE account_id = ? AND env = ?"
        " ORDER BY created_at ASC NULLS LAST, id ASC LIMIT ? OFFSET ?"
    )
    insert_sql = (
        "INSERT INTO contacts (account_id, env, email, first_name, last_name, phone, status,"
        f" created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {CONTACT_COLUMNS}"
    )

    def problem(status: int, detail: str) -> Response:
        body = orjson.dumps({"status": status, "detail": detail})
        return Response(body, status_code=status, media_type="application/problem+json")

    def principal(request: Request) -> tuple[int, str] | None:
        raw = request.headers.get("api-token")
        if not raw or len(raw) > 200:
            return None
        digest = hmac.new(secret, raw.encode(), hashlib.sha256).hexdigest()
        row = reader.execute(AUTH_SQL, (digest,)).fetchone()
        return (int(row[1]), row[2]) if row else None

    def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(
            orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
        )

    async def get_contact(request: Request) -> Response:
        who = principal(request)
        if who is None:
            return problem(401, "Send a valid API key.")
        raw_id = request.path_params["id"]
        if not raw_id.isdigit():
            return problem(404, "No such contact.")
        row = reader.execute(get_sql, (int(raw_id), *who)).fetchone()
        if row is None:
            return problem(404, "No such contact.")
        return json(_contact(row))

    async def contacts(request: Request) -> Response:
        who = principal(request)
        if who is None:
            return problem(401, "Send a valid API key.")
        if request.method == "POST":
            return await create_contact(request, who)
        try:
            page = int(request.query_params.get("page", "1"))
            size = int(request.query_params.get("pageSize", "20"))
        except ValueError:
            return problem(422, "page and pageSize must be integers.")
        if page < 1 or not 1 <= size <= 100:
            return problem(422, "page or pageSize out of range.")
        total = reader.execute(count_sql, who).fetchone()[0]
        rows = reader.execute(page_sql, (*who, size, (page - 1) * size)).fetchall()
        meta = {
            "page": page,
            "pageSize": size,
            "total": total,
            "totalPages": (total + size - 1) // size,
        }
        return json({"data": [_contact(r) for r in rows], "meta": meta})

    async def create_contact(request: Request, who: tuple[int, str]) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return problem(400, "The body is not valid JSON.")
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or "@" not in email:
            return problem(422, "email is required.")
        stamp = now_stamp()
        params = (
            *who,
            email,
            body.get("firstName"),
            body.get("lastName"),
            body.get("phone"),
            body.get("status", "active"),
            stamp,
            stamp,
        )
        try:
            row = writer.execute(insert_sql, params).fetchall()[0]
        except sqlite3.IntegrityError:
            return problem(409, "A contact with this email already exists.")
        return json(_contact(row), 201, {"Location": f"/v3/contacts/{row[0]}"})

    return Starlette(
        routes=[
            Route("/v3/contacts", contacts, methods=["GET", "POST"]),
            Route("/v3/contacts/{id}", get_contact, methods=["GET"]),
        ]
    )


def serve_bare(db_path: str, port: int) -> None:
    import uvicorn

    # The same call as `activecommerce serve` makes (one worker, auto loop and http).
    uvicorn.run(
        build_bare_app(db_path), host=HOST, port=port, access_log=False, log_level="warning"
    )


# ---------------------------------------------------------------------------- load


@dataclass
class RunResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    server_cpu: float = float("nan")  # share of one core the server used during the run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def build_request(
    mode: str, port: int, key: str, rnd: random.Random, lo: int, hi: int, email: str
) -> bytes:
    head = f"Host: {HOST}:{port}\r\nApi-Token: {key}\r\n"
    if mode == "get":
        return f"GET /v3/contacts/{rnd.randint(lo, hi)} HTTP/1.1\r\n{head}\r\n".encode()
    if mode == "list":
        return f"GET /v3/contacts?pageSize=20 HTTP/1.1\r\n{head}\r\n".encode()
    body = orjson.dumps({"email": email, "firstName": "Bench"})
    return (
        f"POST /v3/contacts HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Reads one response; returns its status and whether the server keeps the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    keep = b"connection: close" not in lower
    start = lower.find(b"content-length:")
    if start >= 0:
        end = lower.index(b"\r\n", start)
        await reader.readexactly(int(lower[start + 15 : end]))
    elif b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        keep = False
    return status, keep


async def python_load(
    port: int, mode: str, key: str, lo: int, hi: int, tag: str, seconds: float, connections: int
) -> RunResult:
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    perf = time.perf_counter
    start = perf()
    end = start + seconds

    async def worker(index: int) -> None:
        rnd = random.Random(index * 7919 + int(start * 1000))
        sequence = 0
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while perf() < end:
            try:
                if conn is None:
                    conn = await asyncio.open_connection(HOST, port)
                reader, writer = conn
                sequence += 1
                email = f"{tag}-c{index}-{sequence}@bench.example.com"
                request = build_request(mode, port, key, rnd, lo, hi, email)
                t0 = perf()
                writer.write(request)
                status, keep = await _read_response(reader)
                t1 = perf()
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                counts["errors"] += 1
                if conn is not None:
                    conn[1].close()
                conn = None
                await asyncio.sleep(0.01)
                continue
            if t1 <= end:
                latencies.append(t1 - t0)
                if not 200 <= status < 300:
                    counts["non_2xx"] += 1
            if not keep:
                writer.close()
                conn = None
        if conn is not None:
            conn[1].close()

    workers = [asyncio.create_task(worker(i)) for i in range(connections)]
    _done, pending = await asyncio.wait(workers, timeout=seconds + 30)
    for task in pending:
        task.cancel()
    elapsed = min(perf(), end) - start
    latencies.sort()

    def pct(q: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return RunResult(
        len(latencies), elapsed, counts["non_2xx"], counts["errors"], pct(0.50), pct(0.99)
    )


def run_python_loader_process(args: argparse.Namespace) -> None:
    """Entry point of the load process (--role load): prints one JSON result."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(
        python_load(
            args.port,
            args.mode,
            args.key,
            args.id_min,
            args.id_max,
            args.tag,
            args.seconds,
            args.connections,
        )
    )
    sys.stdout.write(orjson.dumps(asdict(result)).decode() + "\n")


WRK_SCRIPT = r"""
local mode, key, lo, hi, tag
local counter = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  mode, key, lo, hi, tag = args[1], args[2], tonumber(args[3]), tonumber(args[4]), args[5]
  wrk.headers["Api-Token"] = key
  if mode == "post" then
    wrk.headers["Content-Type"] = "application/json"
  end
  math.randomseed(os.time() * 1000 + (tid or 0))
end

function request()
  if mode == "get" then
    return wrk.format("GET", "/v3/contacts/" .. math.random(lo, hi))
  elseif mode == "list" then
    return wrk.format("GET", "/v3/contacts?pageSize=20")
  end
  counter = counter + 1
  local email = tag .. "-t" .. tid .. "-" .. counter .. "@bench.example.com"
  return wrk.format("POST", "/v3/contacts", nil,
    '{"email":"' .. email .. '","firstName":"Bench"}')
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"status_errors":%d,' ..
    '"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_load(
    wrk: str,
    script: Path,
    port: int,
    mode: str,
    key: str,
    lo: int,
    hi: int,
    tag: str,
    seconds: int,
    connections: int,
    threads: int,
) -> RunResult:
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://{HOST}:{port}",
        "--",
        mode,
        key,
        str(lo),
        str(hi),
        tag,
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    data = orjson.loads(line.removeprefix("BENCH_JSON "))
    # wrk counts statuses of 400 and over; the app answers nothing in the 1xx/3xx range.
    return RunResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non_2xx=data["status_errors"],
        socket_errors=data["socket_errors"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


# ---------------------------------------------------------------------------- orchestration


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def bench_env(data_dir: Path, before: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVECOMMERCE_")}
    env["ACTIVECOMMERCE_DATA_DIR"] = str(data_dir)
    env["ACTIVECOMMERCE_RATE_LIMIT_ENABLED"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    if before is not None:
        env["PYTHONPATH"] = str(before / "src")
    return env


def server_cli(before: Path | None) -> list[str]:
    """The product's command line: this checkout's, or (for --before) the source tree given,
    run by this venv's Python."""
    if before is None:
        return [cli_path()]
    return [sys.executable, "-m", "activecommerce"]


def cli_path() -> str:
    beside = Path(sys.executable).parent / "activecommerce"
    if beside.exists():
        return str(beside)
    found = shutil.which("activecommerce")
    if not found:
        raise SystemExit("activecommerce is not installed (run from the project's venv)")
    return found


def seed(data_dir: Path, rows: int, before: Path | None = None) -> dict[str, Any]:
    create = ["accounts", "create", "--name", "Bench", "--plan", "enterprise", "--json"]
    out = subprocess.run(
        [*server_cli(before), *create],
        env=bench_env(data_dir, before),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"accounts create failed:\n{out.stdout}\n{out.stderr}")
    account = orjson.loads(out.stdout.strip().splitlines()[-1])
    account_id = int(account["accountId"])
    base = datetime.now(UTC) - timedelta(days=1)
    records = []
    for i in range(rows):
        stamp = (base + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        records.append(
            (
                account_id,
                "sandbox",
                f"seed{i}@bench.example.com",
                f"First{i}",
                f"Last{i}",
                f"+1555{i:07d}",
                "active",
                stamp,
                stamp,
            )
        )
    conn = sqlite3.connect(data_dir / DB_NAME, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO contacts (account_id, env, email, first_name, last_name, phone, status,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            records,
        )
        conn.execute("COMMIT")
        lo, hi, count = conn.execute(
            "SELECT min(id), max(id), count(*) FROM contacts WHERE account_id = ? AND env = ?",
            (account_id, "sandbox"),
        ).fetchone()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    if count != rows or hi - lo + 1 != rows:
        raise RuntimeError(f"seeded ids are not contiguous: {lo}..{hi} for {count} rows")
    return {"account_id": account_id, "key": account["sandboxApiKey"], "id_min": lo, "id_max": hi}


def copy_database(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


class Server:
    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - held for the server's life, closed in stop()
        self.proc = subprocess.Popen(
            command,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} server exited ({self.proc.returncode}):\n{tail}")

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server process so far (Linux; else NaN)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


def http_call(port: int, method: str, path: str, key: str, body: Any = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        headers = {"Api-Token": key}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(server: Server, port: int, key: str, contact_id: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            status, _ = http_call(port, "GET", f"/v3/contacts/{contact_id}", key)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} server was not ready within {timeout:.0f} s")


def compare_bodies(ports: dict[str, int], key: str, contact_id: int) -> list[str]:
    """Checks that both servers answer the two reads with the same bytes."""
    notes = []
    for path in (f"/v3/contacts/{contact_id}", "/v3/contacts?pageSize=20"):
        answers = {name: http_call(port, "GET", path, key) for name, port in ports.items()}
        product, bare = answers["product"], answers["bare"]
        if product[0] != 200 or bare[0] != 200:
            notes.append(f"GET {path}: status product {product[0]}, bare {bare[0]}")
        elif product[1] != bare[1]:
            notes.append(f"GET {path}: product and bare bodies differ")
    return notes


def check_post(ports: dict[str, int], key: str) -> list[str]:
    notes = []
    keys = {}
    for name, port in ports.items():
        email = f"check-{name}-{int(time.time() * 1e6)}@bench.example.com"
        status, body = http_call(port, "POST", "/v3/contacts", key, {"email": email})
        if status != 201:
            notes.append(f"POST on {name}: status {status}: {body[:300]!r}")
        else:
            keys[name] = list(orjson.loads(body))
    if len(keys) == 2 and keys["product"] != keys["bare"]:
        notes.append(f"POST bodies differ in shape: {keys['product']} vs {keys['bare']}")
    return notes


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "n/a"


def print_table(results: dict[str, dict[str, RunResult]]) -> None:
    header = (
        f"{'endpoint':<30} {'server':<8} {'requests':>9} {'req/s':>9} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'sock err':>8} {'srv CPU':>8}"
    )
    print(header)
    print("-" * len(header))
    for mode, label in ENDPOINTS:
        if mode not in results:
            continue
        for name in ("product", "bare"):
            r = results[mode][name]
            print(
                f"{label if name == 'product' else '':<30} {name:<8} {r.requests:>9} "
                f"{r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.non_2xx:>8} "
                f"{r.socket_errors:>8} {r.server_cpu:>7.0f}%"
            )
        p, b = results[mode]["product"], results[mode]["bare"]
        print(
            f"{'':<30} {'ratio':<8} {'':>9} {ratio(p.rps, b.rps):>9} "
            f"{ratio(p.p50_ms, b.p50_ms):>8} {ratio(p.p99_ms, b.p99_ms):>8}"
        )
        old = results[mode].get("before")
        if old is not None:
            print(
                f"{'':<30} {'before':<8} {old.requests:>9} {old.rps:>9.0f} {old.p50_ms:>8.2f}"
                f" {old.p99_ms:>8.2f} {old.non_2xx:>8} {old.socket_errors:>8}"
                f" {old.server_cpu:>7.0f}%"
            )
            print(
                f"{'':<30} {'vs before':<8} {'':>9} {ratio(p.rps, old.rps):>9} "
                f"{ratio(p.p50_ms, old.p50_ms):>8} {ratio(p.p99_ms, old.p99_ms):>8}"
            )
    print("ratio = product / bare (req/s: share of the baseline; latency: times slower)")
    print("vs before = product / the --before source tree, measured in the same run")
    print("srv CPU = CPU time of the server process / wall time of the run (100% = one core)")


def orchestrate(args: argparse.Namespace) -> int:
    wrk = shutil.which("wrk") if args.loader in ("auto", "wrk") else None
    if args.loader == "wrk" and not wrk:
        raise SystemExit("--loader wrk: wrk is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="ac-bench-"))
    servers: list[Server] = []
    try:
        product_dir, bare_dir = tmp / "product", tmp / "bare"
        product_dir.mkdir()
        t0 = time.monotonic()
        seeded = seed(product_dir, args.rows)
        copy_database(product_dir / DB_NAME, bare_dir / DB_NAME)
        key, lo, hi = seeded["key"], seeded["id_min"], seeded["id_max"]
        creds = {"product": (key, lo, hi), "bare": (key, lo, hi)}
        ports = {"product": free_port(), "bare": free_port()}
        before: Path | None = Path(args.before).resolve() if args.before else None
        if before is not None:
            # The same code before a change, on its own copy of the same data (seeded by
            # its own migrations), interleaved with the others in this run.
            before_dir = tmp / "before"
            before_dir.mkdir()
            old = seed(before_dir, args.rows, before)
            creds["before"] = (old["key"], old["id_min"], old["id_max"])
            ports["before"] = free_port()
        print(f"seeded {args.rows} contacts in {time.monotonic() - t0:.1f} s ({tmp})")
        servers.append(
            Server(
                "product",
                [cli_path(), "serve", "--host", HOST, "--port", str(ports["product"])],
                bench_env(product_dir),
                tmp / "product.log",
            )
        )
        if before is not None:
            servers.append(
                Server(
                    "before",
                    [*server_cli(before), "serve", "--host", HOST, "--port", str(ports["before"])],
                    bench_env(before_dir, before),
                    tmp / "before.log",
                )
            )
        servers.append(
            Server(
                "bare",
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--role",
                    "bare",
                    "--port",
                    str(ports["bare"]),
                    "--db",
                    str(bare_dir / DB_NAME),
                ],
                bench_env(bare_dir),
                tmp / "bare.log",
            )
        )
        for server in servers:
            wait_ready(server, ports[server.name], creds[server.name][0], creds[server.name][1])
        pair = {name: ports[name] for name in ("product", "bare")}
        notes = compare_bodies(pair, key, lo)

        script = tmp / "bench.lua"
        script.write_text(WRK_SCRIPT)
        loader = f"wrk ({wrk}, {args.threads} thread)" if wrk else "python asyncio client"
        print(
            f"loader: {loader}; {args.connections} connections; {args.seconds} s per run"
            f" after {args.warmup} s warm-up; python {platform.python_version()},"
            f" {os.cpu_count()} CPUs; load average before {load_average()}"
        )

        def load(name: str, mode: str, seconds: int, tag: str) -> RunResult:
            port = ports[name]
            key, lo, hi = creds[name]
            if wrk:
                return wrk_load(
                    wrk,
                    script,
                    port,
                    mode,
                    key,
                    lo,
                    hi,
                    tag,
                    seconds,
                    args.connections,
                    args.threads,
                )
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--role",
                "load",
                "--port",
                str(port),
                "--mode",
                mode,
                "--key",
                key,
                "--id-min",
                str(lo),
                "--id-max",
                str(hi),
                "--tag",
                tag,
                "--seconds",
                str(seconds),
                "--connections",
                str(args.connections),
            ]
            out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
            if out.returncode != 0:
                raise RuntimeError(f"load process failed:\n{out.stdout}\n{out.stderr}")
            return RunResult(**orjson.loads(out.stdout.strip().splitlines()[-1]))

        results: dict[str, dict[str, RunResult]] = {}
        stamp = int(time.time())
        for mode, label in ENDPOINTS:
            if args.only and mode not in args.only.split(","):
                continue
            if mode == "post":
                notes += check_post(pair, key)
            results[mode] = {}
            # Interleaved, so that drift of the machine affects all alike.
            for name in ports:
                if args.warmup > 0:
                    load(name, mode, args.warmup, f"w{stamp}{name}")
                server = next(x for x in servers if x.name == name)
                cpu0, wall0 = server.cpu_seconds(), time.monotonic()
                results[mode][name] = load(name, mode, args.seconds, f"m{stamp}{name}")
                cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - wall0)
                results[mode][name].server_cpu = cpu * 100
                for server in servers:
                    server.check_alive()
                r = results[mode][name]
                print(
                    f"  {label:<30} {name:<8} {r.rps:>8.0f} req/s  p50 {r.p50_ms:.2f} ms"
                    f"  p99 {r.p99_ms:.2f} ms  non-2xx {r.non_2xx}  server CPU {r.server_cpu:.0f}%",
                    flush=True,
                )
        print()
        print_table(results)
        print(f"load average after: {load_average()} (other work on the machine skews results)")
        bad = sum(r.non_2xx + r.socket_errors for m in results.values() for r in m.values())
        for note in notes:
            print(f"NOTE: {note}")
        if bad:
            print(f"WARNING: {bad} responses were not 2xx or failed at the socket level")
        if args.json_out:
            payload = {
                "loader": "wrk" if wrk else "python",
                "connections": args.connections,
                "seconds": args.seconds,
                "rows": args.rows,
                "results": {
                    mode: {name: asdict(r) | {"rps": r.rps} for name, r in by.items()}
                    for mode, by in results.items()
                },
                "notes": notes,
            }
            Path(args.json_out).write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
        return 1 if bad or notes else 0
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds before a run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rows", type=int, default=10_000, help="contacts to seed")
    parser.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--json-out", help="also write the results to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--only", help="comma-separated endpoints to run: get,list,post")
    parser.add_argument(
        "--before",
        help="a source tree of the product before a change (e.g. a `git worktree add` of the"
        " previous commit): served too, interleaved, and compared",
    )
    # Internal: the bare server and the Python load process run this file too.
    hidden = argparse.SUPPRESS
    parser.add_argument("--role", choices=("main", "bare", "load"), default="main", help=hidden)
    parser.add_argument("--port", type=int, help=hidden)
    parser.add_argument("--db", help=hidden)
    parser.add_argument("--mode", choices=[m for m, _ in ENDPOINTS], help=hidden)
    parser.add_argument("--key", help=hidden)
    parser.add_argument("--id-min", type=int, help=hidden)
    parser.add_argument("--id-max", type=int, help=hidden)
    parser.add_argument("--tag", help=hidden)
    args = parser.parse_args()
    if args.role == "bare":
        serve_bare(args.db, args.port)
        return
    if args.role == "load":
        run_python_loader_process(args)
        return
    # A SIGTERM runs the finally blocks too, so the servers are never left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(orchestrate(args))


if __name__ == "__main__":
    main()
