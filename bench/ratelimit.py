"""Benchmark of the per-plan rate limiter: how exact it is, and what it costs.

What it measures
----------------
1. Accuracy. For each plan in --plans (default lite, 30/s, and professional, 120/s) an
   open-loop sender offers --overload times the plan's rate (default 2x: 60/s and 240/s)
   for --seconds to `GET /v3/contacts?pageSize=1` with one sandbox key of an account on that
   plan, and counts the accepted (200) and refused (429) answers. The sender is a separate
   process (asyncio, uvloop when installed) that sends request n at start + n / rate over a
   few keep-alive connections, never waiting for an answer before the next send (it opens
   another connection when all are busy). The expected count is rate x seconds: with a
   moving one-second window and evenly paced requests the limiter lets exactly `rate`
   requests through per second. The error is (accepted - expected) / expected. Two
   settings:
   - memory: one `activecommerce serve` process, counters in process memory;
   - redis: two `serve` processes sharing counters in Redis (a unique key prefix per run),
     the sender alternating requests between them.
   Also shown: the achieved send rate, the sender's lateness against its schedule, and the
   most accepted requests in any one-second span (by send time, so jitter can add one).
2. Cost. Throughput of an effectively unlimited plan (enterprise, with
   ACTIVECOMMERCE_PLAN_RATES='{"enterprise": 1000000}') with the limiter on (memory storage;
   Redis storage) against the limiter off (ACTIVECOMMERCE_RATE_LIMIT_ENABLED=false), using
   `wrk -t1 -c32` on `GET /v3/contacts/{id}` (the Lua script and helpers of bench/api.py).
   The three servers run side by side; runs alternate off / on in an ABBA order, each after
   a short unmeasured warm-up, --repeats times.

Setup: a temporary data directory seeded by bench/api.py's `seed` (an enterprise account
and --rows contacts), plus one account per measured plan made with
`activecommerce accounts create --json`. Servers listen on 127.0.0.1 on free ports; Redis
is reached at --redis-url (127.0.0.1 only) and the run's keys are deleted at the end. A
Redis that does not answer skips the Redis settings (and the product would fail open: the
server logs are checked for that). The load average is printed, since other work on a
small machine skews both parts.

Run it from the repository root:

    .venv/bin/python bench/ratelimit.py --seconds 10

Options: --seconds (accuracy run length), --overload 2, --plans lite,professional,
--preopen (sender connections per server), --cost-seconds, --warmup, --repeats,
--connections (wrk), --unlimited-rate (the enterprise rate of the cost part), --redis-url,
--rows, --skip-accuracy, --skip-cost, --max-minutes (hard bound of the whole run),
--json-out FILE, --keep (keep the temporary directory). The exit status is 1 when an
accuracy error is over 5%, a cost run saw errors, or a check failed (printed as NOTE).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api as base

HOST = base.HOST
LIST_PATH = "/v3/contacts?pageSize=1"
UNLIMITED_RATE = 1_000_000  # the default of --unlimited-rate


# ---------------------------------------------------------------------------- sender


@dataclass
class SendResult:
    rate: float
    seconds: float
    sent: int = 0
    ok: int = 0
    limited: int = 0
    other: int = 0
    errors: int = 0
    unanswered: int = 0
    send_span: float = 0.0  # first to last actual send, seconds
    late_p99_ms: float = 0.0
    late_max_ms: float = 0.0
    connections: int = 0
    peak_1s: int = 0  # most accepted requests sent within any one-second span
    ok_by_port: dict[str, int] = field(default_factory=dict)

    @property
    def achieved(self) -> float:
        # n sends cover n intervals (the last interval runs to the end of the schedule).
        return self.sent / (self.send_span + 1 / self.rate) if self.sent else 0.0


def _peak(times: list[float], span: float = 1.0) -> int:
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= span:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def open_loop(
    ports: list[int], key: str, path: str, rate: float, seconds: float, preopen: int
) -> SendResult:
    """Sends rate x seconds requests at start + n / rate, alternating over `ports`."""
    result = SendResult(rate=rate, seconds=seconds)
    idle: dict[int, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {
        p: [] for p in ports
    }
    opened: list[asyncio.StreamWriter] = []
    requests = {
        p: f"GET {path} HTTP/1.1\r\nHost: {HOST}:{p}\r\nApi-Token: {key}\r\n\r\n".encode()
        for p in ports
    }
    ok_times: list[float] = []
    lateness: list[float] = []

    async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        conn = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
        opened.append(conn[1])
        return conn

    for port in ports:
        for _ in range(preopen):
            idle[port].append(await connect(port))

    async def one(port: int, sent_at: float) -> None:
        conn = None
        try:
            conn = idle[port].pop() if idle[port] else await connect(port)
            conn[1].write(requests[port])
            status, keep = await asyncio.wait_for(base._read_response(conn[0]), 10)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            if conn is not None:
                conn[1].close()
            return
        if status == 200:
            result.ok += 1
            result.ok_by_port[str(port)] = result.ok_by_port.get(str(port), 0) + 1
            ok_times.append(sent_at)
        elif status == 429:
            result.limited += 1
        else:
            result.other += 1
        if keep:
            idle[port].append(conn)
        else:
            conn[1].close()

    perf = time.perf_counter
    total = round(rate * seconds)
    tasks = []
    start = perf() + 0.1
    first = last = start
    for n in range(total):
        target = start + n / rate
        delay = target - perf()
        if delay > 0:
            await asyncio.sleep(delay)
        now = perf()
        # asyncio timers may fire up to a clock tick early: never send before the schedule.
        while now < target:
            await asyncio.sleep(0)
            now = perf()
        if n == 0:
            first = now
        last = now
        lateness.append(now - target)
        tasks.append(asyncio.create_task(one(ports[n % len(ports)], now)))
    result.sent = total
    result.send_span = last - first
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=15)
        result.unanswered = len(pending)
        for task in pending:
            task.cancel()
    for writer in opened:
        writer.close()
    lateness.sort()
    if lateness:
        result.late_p99_ms = lateness[min(len(lateness) - 1, int(0.99 * len(lateness)))] * 1000
        result.late_max_ms = lateness[-1] * 1000
    result.connections = len(opened)
    result.peak_1s = _peak(ok_times)
    return result


def run_sender_process(args: argparse.Namespace) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    ports = [int(p) for p in args.ports.split(",")]
    result = asyncio.run(
        open_loop(ports, args.key, LIST_PATH, args.rate, args.seconds, args.preopen)
    )
    sys.stdout.write(orjson.dumps(asdict(result)).decode() + "\n")


def send(ports: list[int], key: str, rate: float, seconds: float, preopen: int) -> SendResult:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--role",
        "sender",
        "--ports",
        ",".join(map(str, ports)),
        "--key",
        key,
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--preopen",
        str(preopen),
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"sender failed:\n{out.stdout}\n{out.stderr}")
    data = orjson.loads(out.stdout.strip().splitlines()[-1])
    return SendResult(**data)


# ---------------------------------------------------------------------------- setup


def create_account(data_dir: Path, plan: str) -> str:
    out = subprocess.run(
        [base.cli_path(), "accounts", "create", "--name", f"RL {plan}", "--plan", plan, "--json"],
        env=base.bench_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"accounts create failed:\n{out.stdout}\n{out.stderr}")
    return str(orjson.loads(out.stdout.strip().splitlines()[-1])["sandboxApiKey"])


def server_env(
    data_dir: Path,
    *,
    enabled: bool,
    unlimited: int,
    redis_url: str | None = None,
    prefix: str | None = None,
) -> dict[str, str]:
    env = base.bench_env(data_dir)
    env["ACTIVECOMMERCE_RATE_LIMIT_ENABLED"] = "true" if enabled else "false"
    env["ACTIVECOMMERCE_PLAN_RATES"] = orjson.dumps({"enterprise": unlimited}).decode()
    if redis_url:
        env["ACTIVECOMMERCE_REDIS_URL"] = redis_url
        env["ACTIVECOMMERCE_RATE_LIMIT_PREFIX"] = prefix or f"acbench-{uuid.uuid4().hex}"
    return env


def headers_probe(port: int, key: str) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", LIST_PATH, headers={"Api-Token": key})
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def redis_client(url: str) -> Any:
    import redis

    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"--redis-url must point at 127.0.0.1, not {host}")
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    client.ping()
    return client


def window_lengths(url: str, prefix: str) -> dict[str, int]:
    """Length of each moving-window list the limiter keeps in Redis under `prefix`."""
    client = redis_client(url)
    try:
        return {
            key.decode(errors="replace"): int(client.llen(key))
            for key in client.scan_iter(match=f"{prefix}*", count=1000)
            if client.type(key) == b"list"
        }
    finally:
        client.close()


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.data = tmp / "data"
        self.servers: list[base.Server] = []
        self.by_name: dict[str, base.Server] = {}
        self.window_lengths: dict[str, int] = {}
        self.prefixes: list[str] = []
        self.notes: list[str] = []
        self.seeded: dict[str, Any] = {}

    def start(self, name: str, env: dict[str, str]) -> tuple[base.Server, int]:
        port = base.free_port()
        server = base.Server(
            name,
            [base.cli_path(), "serve", "--host", HOST, "--port", str(port)],
            env,
            self.tmp / f"{name}.log",
        )
        self.servers.append(server)
        self.by_name[name] = server
        base.wait_ready(server, port, self.seeded["key"], self.seeded["id_min"])
        return server, port

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()
            log = server.log_path.read_text(errors="replace")
            if "rate-limit storage failed" in log:
                self.notes.append(f"{server.name}: the limiter's storage failed (fail open)")
        self.servers.clear()

    def prefix(self) -> str:
        value = f"acbench-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.prefixes.append(value)
        return value

    def warm(self, port: int, seconds: int = 1) -> None:
        """A short enterprise (unlimited) load, so the first measured requests are not cold."""
        self.wrk(port, seconds)

    def wrk(self, port: int, seconds: int) -> base.RunResult:
        s = self.seeded
        return base.wrk_load(
            self.args.wrk,
            self.tmp / "bench.lua",
            port,
            "get",
            s["key"],
            s["id_min"],
            s["id_max"],
            "rl",
            seconds,
            self.args.connections,
            1,
        )

    # ------------------------------------------------------------------ accuracy

    def accuracy(self, setting: str, ports: list[int], keys: dict[str, str]) -> list[dict]:
        rows = []
        for plan, key in keys.items():
            rate = self.args.rates[plan]
            offered = rate * self.args.overload
            for server in self.servers:
                server.check_alive()
            result = send(ports, key, offered, self.args.seconds, self.args.preopen)
            status, headers = headers_probe(ports[0], key)
            expected = rate * self.args.seconds
            row = asdict(result) | {
                "setting": setting,
                "plan": plan,
                "plan_rate": rate,
                "offered": offered,
                "achieved": result.achieved,
                "expected": expected,
                "error_pct": (result.ok - expected) / expected * 100,
                "probe": {
                    "status": status,
                    "ratelimit-limit": headers.get("ratelimit-limit"),
                    "retry-after": headers.get("retry-after"),
                },
            }
            if headers.get("ratelimit-limit") != str(rate):
                self.notes.append(
                    f"{setting}/{plan}: RateLimit-Limit {headers.get('ratelimit-limit')!r},"
                    f" expected {rate}"
                )
            if status == 429 and not headers.get("retry-after"):
                self.notes.append(f"{setting}/{plan}: a 429 without Retry-After")
            rows.append(row)
            print(
                f"  {setting:<6} {plan:<13} offered {offered:.0f}/s (achieved"
                f" {result.achieved:.1f}/s): 200 {result.ok}, 429 {result.limited},"
                f" other {result.other + result.errors + result.unanswered};"
                f" expected {expected:.0f}, error {row['error_pct']:+.2f}%;"
                f" probe after: {status} (Retry-After {headers.get('retry-after')})",
                flush=True,
            )
            time.sleep(1.1)  # let the window drain before the next plan
        return rows

    def run_accuracy(self) -> list[dict]:
        keys = {plan: create_account(self.data, plan) for plan in self.args.plan_list}
        rows: list[dict] = []
        # memory: one server, counters in its memory
        _server, port = self.start(
            "acc-memory", server_env(self.data, enabled=True, unlimited=self.args.unlimited_rate)
        )
        self.warm(port)
        rows += self.accuracy("memory", [port], keys)
        self.stop_all()
        if self.args.redis_ok:
            prefix = self.prefix()
            env = server_env(
                self.data,
                enabled=True,
                unlimited=self.args.unlimited_rate,
                redis_url=self.args.redis_url,
                prefix=prefix,
            )
            ports = [self.start(f"acc-redis-{i}", env)[1] for i in (1, 2)]
            for port in ports:
                self.warm(port)
            rows += self.accuracy("redis", ports, keys)
            self.stop_all()
        return rows

    # ------------------------------------------------------------------ cost

    def run_cost(self) -> dict[str, list[base.RunResult]]:
        configs = {"off": server_env(self.data, enabled=False, unlimited=self.args.unlimited_rate)}
        configs["memory"] = server_env(self.data, enabled=True, unlimited=self.args.unlimited_rate)
        prefix = self.prefix()
        if self.args.redis_ok:
            configs["redis"] = server_env(
                self.data,
                enabled=True,
                unlimited=self.args.unlimited_rate,
                redis_url=self.args.redis_url,
                prefix=prefix,
            )
        ports = {name: self.start(f"cost-{name}", env)[1] for name, env in configs.items()}
        for name, port in ports.items():
            _status, headers = headers_probe(port, self.seeded["key"])
            has = "ratelimit-limit" in headers
            if has != (name != "off"):
                self.notes.append(f"cost-{name}: RateLimit headers present = {has}")
        results: dict[str, list[base.RunResult]] = {name: [] for name in ports}
        order = list(ports)
        # ABBA: off, memory, redis, redis, memory, off, ... so drift hits all alike.
        for rep in range(self.args.repeats):
            for name in order if rep % 2 == 0 else order[::-1]:
                if self.args.warmup > 0:
                    self.wrk(ports[name], self.args.warmup)
                server = self.by_name[f"cost-{name}"]
                cpu0, wall0 = server.cpu_seconds(), time.monotonic()
                r = self.wrk(ports[name], self.args.cost_seconds)
                r.server_cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - wall0) * 100
                if name == "redis":
                    # At once: the key expires a second after the last request.
                    for key, length in window_lengths(self.args.redis_url, prefix).items():
                        self.window_lengths[f"{key} (run {rep + 1})"] = length
                results[name].append(r)
                for server in self.servers:
                    server.check_alive()
                print(
                    f"  cost {name:<7} run {rep + 1}: {r.rps:8.0f} req/s  p50 {r.p50_ms:.2f} ms"
                    f"  p99 {r.p99_ms:.2f} ms  non-2xx {r.non_2xx}  sock err {r.socket_errors}"
                    f"  server CPU {r.server_cpu:.0f}%"
                    f"  (load {base.load_average()})",
                    flush=True,
                )
        self.stop_all()
        return results


# ---------------------------------------------------------------------------- report


def print_accuracy(rows: list[dict]) -> None:
    header = (
        f"{'storage':<8} {'plan':<13} {'rate/s':>6} {'offered/s':>9} {'sent/s':>7} "
        f"{'sent':>5} {'200':>5} {'429':>5} {'other':>5} {'expected':>8} {'error':>7} "
        f"{'peak/1s':>7} {'late p99':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        other = r["other"] + r["errors"] + r["unanswered"]
        print(
            f"{r['setting']:<8} {r['plan']:<13} {r['plan_rate']:>6} {r['offered']:>9.0f}"
            f" {r['achieved']:>7.1f} {r['sent']:>5} {r['ok']:>5} {r['limited']:>5} {other:>5}"
            f" {r['expected']:>8.0f} {r['error_pct']:>+6.2f}% {r['peak_1s']:>7}"
            f" {r['late_p99_ms']:>6.2f}ms"
        )
        if len(r["ok_by_port"]) > 1:
            split = " + ".join(str(v) for v in r["ok_by_port"].values())
            print(f"{'':<8} {'':<13} accepted per server: {split}")
    print(
        "error = (accepted - rate x seconds) / (rate x seconds); sent/s = achieved send rate;"
        " peak/1s = most 200s sent within any 1 s; late = sender behind its schedule"
    )


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def print_cost(results: dict[str, list[base.RunResult]]) -> None:
    off = mean([r.rps for r in results["off"]])
    header = (
        f"{'limiter':<14} {'req/s (mean)':>12} {'runs':<20} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'non-2xx':>7} {'srv CPU':>7} {'cost':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, runs in results.items():
        rps = mean([r.rps for r in runs])
        label = "off" if name == "off" else f"on ({name})"
        cost = "" if name == "off" else f"{(off - rps) / off * 100:+6.1f}%"
        print(
            f"{label:<14} {rps:>12.0f} {' / '.join(f'{r.rps:.0f}' for r in runs):<20}"
            f" {mean([r.p50_ms for r in runs]):>7.2f} {mean([r.p99_ms for r in runs]):>7.2f}"
            f" {sum(r.non_2xx + r.socket_errors for r in runs):>7}"
            f" {mean([r.server_cpu for r in runs]):>6.0f}% {cost:>7}"
        )
    print("cost = (off - on) / off of the mean req/s (positive: the limiter makes it slower);")
    print("srv CPU = CPU time of the server process / wall time of the run (100% = one core)")


# ---------------------------------------------------------------------------- main


class Timeout(Exception):
    pass


def orchestrate(args: argparse.Namespace) -> int:
    args.wrk = shutil.which("wrk")
    if not args.wrk and not args.skip_cost:
        raise SystemExit("wrk is not installed (needed for the cost part; or --skip-cost)")
    from activecommerce.config import DEFAULT_PLAN_RATES as PLAN_RATES

    args.rates = dict(PLAN_RATES)
    args.plan_list = [p.strip() for p in args.plans.split(",") if p.strip()]
    for plan in args.plan_list:
        if plan not in PLAN_RATES:
            raise SystemExit(f"unknown plan {plan!r}; plans: {', '.join(PLAN_RATES)}")
    redis = None
    try:
        redis = redis_client(args.redis_url)
        args.redis_ok = True
    except SystemExit:
        raise
    except Exception as exc:
        args.redis_ok = False
        print(f"Redis at {args.redis_url} does not answer ({exc!r}): Redis settings skipped")

    tmp = Path(tempfile.mkdtemp(prefix="ac-bench-rl-"))
    bench = Bench(args, tmp)
    accuracy: list[dict] = []
    cost: dict[str, list[base.RunResult]] = {}
    try:
        bench.data.mkdir()
        bench.seeded = base.seed(bench.data, args.rows)
        (tmp / "bench.lua").write_text(base.WRK_SCRIPT)
        print(
            f"{os.cpu_count()} CPUs; load average before: {base.load_average()};"
            f" accuracy {args.seconds} s per run at {args.overload}x the plan's rate;"
            f" cost: wrk -t1 -c{args.connections} {args.cost_seconds} s x {args.repeats}"
            f" after {args.warmup} s warm-up ({tmp})",
            flush=True,
        )
        if not args.skip_accuracy:
            accuracy = bench.run_accuracy()
        if not args.skip_cost:
            cost = bench.run_cost()
    finally:
        bench.stop_all()
        if redis is not None:
            with contextlib.suppress(Exception):
                for prefix in bench.prefixes:
                    keys = list(redis.scan_iter(match=f"{prefix}*", count=1000))
                    if keys:
                        redis.delete(*keys)
            redis.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    if accuracy:
        print(f"ACCURACY ({args.overload}x the plan's rate for {args.seconds} s, open loop)")
        print_accuracy(accuracy)
        print()
    if cost:
        print(
            f"COST (enterprise at {args.unlimited_rate}/s, GET /v3/contacts/{{id}},"
            f" wrk -t1 -c{args.connections})"
        )
        print_cost(cost)
        for key, length in bench.window_lengths.items():
            print(f"Redis moving-window list at the end of a run: {length} entries, {key}")
        print()
    print(f"load average after: {base.load_average()} (other work on the machine skews results)")
    for note in bench.notes:
        print(f"NOTE: {note}")
    if args.json_out:
        payload = {
            "accuracy": accuracy,
            "cost": {n: [asdict(r) | {"rps": r.rps} for r in rs] for n, rs in cost.items()},
            "unlimited_rate": args.unlimited_rate,
            "redis_window_lengths": bench.window_lengths,
            "notes": bench.notes,
        }
        Path(args.json_out).write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    bad = any(abs(r["error_pct"]) > 5 for r in accuracy)
    bad |= any(r.non_2xx or r.socket_errors for rs in cost.values() for r in rs)
    return 1 if bad or bench.notes else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="accuracy run length")
    parser.add_argument("--overload", type=float, default=2.0, help="offered / plan rate")
    parser.add_argument("--plans", default="lite,professional")
    parser.add_argument("--preopen", type=int, default=4, help="sender connections per server")
    parser.add_argument("--cost-seconds", type=int, default=10, help="wrk run length")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds before a run")
    parser.add_argument("--repeats", type=int, default=2, help="runs per cost configuration")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--rows", type=int, default=2_000, help="contacts to seed")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--unlimited-rate", type=int, default=UNLIMITED_RATE, help="enterprise rate, cost part"
    )
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--max-minutes", type=float, default=20, help="hard bound of the run")
    parser.add_argument("--json-out", help="also write the results to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    hidden = argparse.SUPPRESS
    parser.add_argument("--role", choices=("main", "sender"), default="main", help=hidden)
    parser.add_argument("--ports", help=hidden)
    parser.add_argument("--key", help=hidden)
    parser.add_argument("--rate", type=float, help=hidden)
    args = parser.parse_args()
    if args.role == "sender":
        run_sender_process(args)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def out_of_time(*_: Any) -> None:
        raise Timeout(f"the benchmark ran longer than --max-minutes {args.max_minutes}")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(max(1, int(args.max_minutes * 60)))
    sys.exit(orchestrate(args))


if __name__ == "__main__":
    main()
