"""Email sending benchmark: a large campaign into a local SMTP sink, against a bare loop.

What it measures
----------------
A campaign of --recipients contacts (default 100,000, all in one group) is sent through
`POST /v3/emailCampaigns/{id}/send` on a live key, with ACTIVECOMMERCE_SMTP_URL pointing at
an SMTP sink on 127.0.0.1. The campaign's subject and HTML are personalised
(`{{ contact.firstName }}`) and carry links, so every message is rendered, tracked and
signed on its own (multipart text + HTML, about 3 KB). For each setup it reports:

- messages per second end to end: recipients / (the POST to the campaign's `sentAt`);
  and at the sink: recipients / (first to last message received);
- the ratio of each to the baseline below, measured in the same run;
- the peak resident memory (VmHWM) of each product process during the send, and its CPU
  (100% = one core), as of the sink and the baseline; and the CPU time of the sending
  processes per message (serve and workers; the bare loop's own), the figure that the
  machine's other load changes least;
- that every recipient arrived once, each message with a Message-ID, and that the
  campaign's report says `sent` for all of them.

Setups, each fresh:

- embedded: SQLite in a temporary data directory, one `activecommerce serve` with the
  worker inside it. The same audience is sent twice, as two campaigns: first alone (the
  throughput figures), then while --api-clients (default 8) keep-alive clients in a
  separate process call `GET /v3/contacts/{random id}` as fast as they are answered; their
  p50/p99/max latency and non-2xx count during that send are reported, next to the same
  load for --idle-seconds before it (no send running), with the moments of the slowest
  calls;
- postgres: a fresh database on PostgreSQL (--postgres-url, an admin URL; the database
  gets a random name and is dropped at the end), one `activecommerce serve` with
  ACTIVECOMMERCE_EMBEDDED_WORKER=false and --workers (default 2) `activecommerce worker`
  processes. --skip-postgres leaves it out.

The baseline ("bare loop") is a separate process that builds --recipients messages of the
same shape and size upfront (each with its own To, Message-ID and first name) and sends
them with aiosmtplib over the same number of connections (ACTIVECOMMERCE_SMTP_CONNECTIONS,
default 8), each connection sending its next message as soon as the last is accepted. It
runs on uvloop when installed, as `serve` does under uvicorn (the `worker` command runs on
asyncio's own loop). It is measured before and after the product's runs; the ratios use
the mean of the two.

The sink is a process of its own (so it shares no GIL with the sender or with this
process), on uvloop when installed: --sink raw (default) is a minimal SMTP responder
written for this benchmark (EHLO/MAIL/RCPT/DATA/RSET/QUIT, nothing else), --sink aiosmtpd
the aiosmtpd server that tests/smtp.py uses. Both count the messages, their bytes and
distinct Message-IDs, and note the first and last arrival; this process reads that from a
small status port. The machine's CPUs are shared by the sink, the sender, the API clients
and PostgreSQL: the sink's CPU is printed, and a note says when it (or the baseline)
used nearly a whole core, which makes the baseline a ceiling of the sink rather than of
the client.

Contacts and group memberships are written straight to the database (SQLite or COPY on
PostgreSQL). Every process runs this checkout's code (PYTHONPATH=<checkout>/src, run as
`python -m activecommerce`) with ACTIVECOMMERCE_RATE_LIMIT_ENABLED=false; processes are
stopped by process group and the temporary directory and the database are removed, also
on error or SIGTERM (--keep keeps the directory and its logs). Each send is bounded by
--timeout seconds.

Run it from the repository root:

    .venv/bin/python bench/send.py                       # 100,000 recipients, both setups
    .venv/bin/python bench/send.py --recipients 20000 --skip-postgres   # a quick run

With --dkim, each setup also sends the audience once more, right after its first send,
from a verified sending domain (the From address's domain, marked verified in the database:
no DNS here), so that every message is DKIM-signed; the report gives the signed send's
msg/s and CPU per message against the unsigned one of the same setup (aim: at least 0.5x),
and the CPU time of one signature, timed in this process over --dkim-signatures signatures
of a message of the campaign's shape.

Options: --recipients, --skip-postgres, --workers, --api-clients (0: no API phase),
--idle-seconds, --sink {raw,aiosmtpd}, --smtp-connections, --batch-size, --timeout,
--dkim, --dkim-signatures, --postgres-url, --json-out FILE, --keep. The exit status is 1
when a message is missing or duplicated, a send did not finish, or an API call failed.

Aims (the issue): at least 0.7x the bare loop and 1,000 messages/s; peak memory under
300 MB whatever the audience; the API's p99 under 50 ms while a send runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import random
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path
from typing import Any, cast

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api as base

HOST = base.HOST
ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PRODUCT = [sys.executable, "-m", "activecommerce"]
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FROM_EMAIL = "news@shop.bench.example.com"
PUBLIC_URL = "https://mail.bench.example.com"
AIM_RATIO = 0.7
AIM_RATE = 1000.0
AIM_RSS_MB = 300.0
AIM_P99_MS = 50.0
AIM_DKIM_RATIO = 0.5  # signed msg/s / unsigned msg/s, same setup, same run
SATURATED_CPU = 90.0  # % of one core: a process this busy is likely what limits the run

SUBJECT = "{{ contact.firstName }}, our spring collection is here"
HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Spring collection</title></head>
<body style="font-family:Helvetica,Arial,sans-serif;color:#222;background:#f6f6f6">
<table width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table width="600" cellpadding="24" cellspacing="0" style="background:#ffffff">
<tr><td>
<h1 style="font-size:24px;margin:0 0 16px">Hello {{ contact.firstName }},</h1>
<p>Our spring collection has arrived: light jackets, linen shirts and the sneakers you
asked us about last season, in every size. As one of our regular customers you get early
access, two days before everyone else, and free shipping on any order this week.</p>
<p>We picked a few things we think you will like, {{ contact.firstName }}:</p>
<ul>
<li><a href="https://shop.bench.example.com/spring/jackets?utm_source=newsletter">Light
jackets</a>, water-resistant and packable</li>
<li><a href="https://shop.bench.example.com/spring/shirts?utm_source=newsletter">Linen
shirts</a> in eight colours</li>
<li><a href="https://shop.bench.example.com/spring/sneakers?utm_source=newsletter">Canvas
sneakers</a>, back in stock</li>
</ul>
<p style="text-align:center;margin:32px 0">
<a href="https://shop.bench.example.com/spring?utm_source=newsletter"
style="background:#1a73e8;color:#fff;padding:12px 24px;text-decoration:none;border-radius:4px">
Shop the collection</a></p>
<p>Questions about sizes or delivery? Just reply to this email: a person reads every one.
</p>
<p>See you soon,<br>The Shop team</p>
</td></tr></table>
</td></tr></table>
</body></html>
"""

log = logging.getLogger("bench.send")


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def install_uvloop() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    uvloop.install()
    return "uvloop"


# ---------------------------------------------------------------------------- sink


class SinkStats:
    """What the sink received since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.bytes = 0
        self.no_message_id = 0
        self.first = 0.0
        self.last = 0.0
        self.ids: set[bytes] = set()

    def record(self, content: bytes) -> None:
        at = time.time()
        if not self.count:
            self.first = at
        self.last = at
        self.count += 1
        self.bytes += len(content)
        head_end = content.find(b"\r\n\r\n")
        head = b"\n" + content[: head_end if head_end >= 0 else len(content)]
        start = head.lower().find(b"\nmessage-id:")
        if start < 0:
            self.no_message_id += 1
            return
        end = head.find(b"\r\n", start + 1)
        self.ids.add(head[start + 12 : end if end >= 0 else len(head)].strip())

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "bytes": self.bytes,
            "no_message_id": self.no_message_id,
            "distinct_ids": len(self.ids),
            "first": self.first,
            "last": self.last,
            "cpu": time.process_time(),
        }


class RawSmtp(asyncio.Protocol):
    """A minimal SMTP responder: accepts every sender, recipient and message."""

    def __init__(self, stats: SinkStats) -> None:
        self.stats = stats
        self.buffer = bytearray()
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(b"220 sink ESMTP ready\r\n")

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buffer = self.buffer
        buffer += data
        while buffer:
            if self.in_data:
                if buffer.startswith(b".\r\n"):
                    content, used = b"", 3  # an empty message
                else:
                    end = buffer.find(b"\r\n.\r\n")
                    if end < 0:
                        return
                    content, used = bytes(buffer[: end + 2]), end + 5
                del buffer[:used]
                self.in_data = False
                self.stats.record(content)
                self.transport.write(b"250 2.0.0 OK queued\r\n")
                continue
            end = buffer.find(b"\r\n")
            if end < 0:
                return
            verb = bytes(buffer[:4]).upper()
            del buffer[: end + 2]
            if verb == b"EHLO":
                self.transport.write(b"250-sink\r\n250-SIZE 33554432\r\n250 8BITMIME\r\n")
            elif verb == b"HELO":
                self.transport.write(b"250 sink\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.transport.write(b"250 2.0.0 OK\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 2.0.0 Bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"502 5.5.2 Not implemented\r\n")


class CountingHandler:
    """The aiosmtpd handler of --sink aiosmtpd."""

    def __init__(self, stats: SinkStats) -> None:
        self.stats = stats

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        self.stats.record(bytes(content))
        return "250 2.0.0 OK queued"


async def run_sink(kind: str, smtp_port: int, status_port: int) -> None:
    stats = SinkStats()
    loop = asyncio.get_running_loop()
    server: asyncio.AbstractServer
    if kind == "aiosmtpd":
        from aiosmtpd.smtp import SMTP

        logging.getLogger("mail.log").setLevel(logging.WARNING)
        handler = CountingHandler(stats)
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink", data_size_limit=0), HOST, smtp_port
        )
    else:
        server = await loop.create_server(lambda: RawSmtp(stats), HOST, smtp_port)

    async def status(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        command = (await reader.readline()).strip()
        answer = stats.as_dict()
        if command == b"reset":
            stats.reset()
        writer.write(orjson.dumps(answer) + b"\n")
        await writer.drain()
        writer.close()

    status_server = await asyncio.start_server(status, HOST, status_port)
    async with server, status_server:
        await asyncio.gather(server.serve_forever(), status_server.serve_forever())


def sink_main(kind: str, smtp_port: int, status_port: int) -> None:
    loop_name = install_uvloop()
    print(f"sink ({kind}, {loop_name}) on {smtp_port}, status on {status_port}", flush=True)
    asyncio.run(run_sink(kind, smtp_port, status_port))


def sink_status(port: int, command: str = "stats") -> dict[str, Any]:
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return dict(orjson.loads(data))


# ---------------------------------------------------------------------------- bare loop


def bare_template() -> bytes:
    """One message of the product's shape (headers, text and HTML with a footer and
    tracked links), with placeholders for what differs from one recipient to the next."""
    html = HTML.replace("{{ contact.firstName }}", "QQFIRSTQQ")
    tracked = "https://mail.bench.example.com/t/c/QQIDQQ/0123456789abcdef0123456789abcdef?u="
    html = html.replace('href="https://shop', f'href="{tracked}https://shop')
    unsubscribe = "https://mail.bench.example.com/u/QQIDQQ/0123456789abcdef0123456789abcdef"
    footer = (
        '<div style="margin-top:24px;font-size:12px;color:#666">'
        f'<a href="{unsubscribe}">Unsubscribe</a></div>'
    )
    html = html.replace("</body>", footer + "</body>")
    html += '<img src="https://mail.bench.example.com/t/o/QQIDQQ/0123456789abcdef" alt="">'
    text = (
        "Hello QQFIRSTQQ,\n\nOur spring collection has arrived: light jackets, linen shirts"
        " and the sneakers you\nasked us about last season, in every size. As one of our"
        " regular customers you get early\naccess, two days before everyone else, and free"
        " shipping on any order this week.\n\nWe picked a few things we think you will like,"
        " QQFIRSTQQ:\n\nLight jackets (https://shop.bench.example.com/spring/jackets), "
        "water-resistant and packable\nLinen shirts (https://shop.bench.example.com/spring/"
        "shirts) in eight colours\nCanvas sneakers (https://shop.bench.example.com/spring/"
        "sneakers), back in stock\n\nShop the collection (https://shop.bench.example.com/"
        "spring)\n\nQuestions about sizes or delivery? Just reply to this email: a person"
        " reads every one.\n\nSee you soon,\nThe Shop team\n\n--\n"
        f"Unsubscribe: {unsubscribe}\n"
    )
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = Address(display_name="The Shop", addr_spec=FROM_EMAIL)
    msg["To"] = "qqtoqq@bench.example.com"
    msg["Subject"] = "QQFIRSTQQ, our spring collection is here"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = "<QQIDQQ.live@mail.bench.example.com>"
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def bare_messages(count: int) -> list[tuple[str, bytes]]:
    template = bare_template()
    out = []
    for i in range(count):
        to = f"r{i}@bench.example.com"
        raw = (
            template.replace(b"qqtoqq@bench.example.com", to.encode())
            .replace(b"QQIDQQ", str(1_000_000 + i).encode())
            .replace(b"QQFIRSTQQ", f"First{i}".encode())
        )
        out.append((to, raw))
    return out


async def bare_send(
    port: int, messages: list[tuple[str, bytes]], connections: int
) -> dict[str, Any]:
    import aiosmtplib

    errors: list[str] = []
    queue = iter(messages)
    sent = 0

    async def connection() -> None:
        nonlocal sent
        # The product's settings (email/transport.py): no TLS unless offered, 30 s timeout.
        client = aiosmtplib.SMTP(hostname=HOST, port=port, start_tls=None, timeout=30)
        await client.connect()
        try:
            for to, raw in queue:
                try:
                    await client.sendmail(FROM_EMAIL, [to], raw)
                    sent += 1
                except aiosmtplib.SMTPException as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    seconds = time.perf_counter() - start
    return {"sent": sent, "seconds": seconds, "errors": len(errors), "error_sample": errors[:3]}


def bare_main(port: int, count: int, connections: int) -> None:
    loop_name = install_uvloop()
    t0 = time.perf_counter()
    messages = bare_messages(count)
    build = time.perf_counter() - t0
    mean_size = sum(len(raw) for _, raw in messages) / max(1, len(messages))
    cpu0 = time.process_time()
    result = asyncio.run(bare_send(port, messages, connections))
    result["cpu"] = (time.process_time() - cpu0) / result["seconds"] * 100
    result |= {"build_seconds": build, "mean_bytes": mean_size, "loop": loop_name}
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


# ---------------------------------------------------------------------------- API load


async def api_load(
    port: int, key: str, lo: int, hi: int, clients: int, stop_after: float
) -> dict[str, Any]:
    """`clients` keep-alive connections calling GET /v3/contacts/{random id} until a line
    (or EOF) arrives on stdin, or after `stop_after` seconds."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def wait_stdin() -> None:
        sys.stdin.readline()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_stdin, daemon=True).start()
    loop.call_later(stop_after, stop.set)
    samples: list[tuple[float, float]] = []  # (start, latency)
    counts = {"non_2xx": 0, "errors": 0}
    perf = time.perf_counter
    opened = 0
    ready = asyncio.Event()

    async def client(index: int) -> None:
        nonlocal opened
        rnd = random.Random(index)
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        with contextlib.suppress(OSError):
            conn = await asyncio.open_connection(HOST, port)
        opened += 1
        if opened == clients:
            ready.set()
        await ready.wait()
        while not stop.is_set():
            try:
                if conn is None:
                    conn = await asyncio.open_connection(HOST, port)
                reader, writer = conn
                request = (
                    f"GET /v3/contacts/{rnd.randint(lo, hi)} HTTP/1.1\r\n"
                    f"Host: {HOST}:{port}\r\nApi-Token: {key}\r\n\r\n"
                ).encode()
                t0 = perf()
                writer.write(request)
                status, keep = await base._read_response(reader)
                t1 = perf()
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                counts["errors"] += 1
                if conn is not None:
                    conn[1].close()
                conn = None
                await asyncio.sleep(0.01)
                continue
            samples.append((t0, t1 - t0))
            if not 200 <= status < 300:
                counts["non_2xx"] += 1
            if not keep:
                writer.close()
                conn = None
        if conn is not None:
            conn[1].close()

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await ready.wait()
    started = perf()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await stop.wait()
    ended = perf()
    await asyncio.wait(tasks, timeout=30)
    latencies = sorted(lat for _, lat in samples)
    worst = sorted(samples, key=lambda s: s[1], reverse=True)[:5]
    return {
        "requests": len(latencies),
        "seconds": ended - started,
        "non_2xx": counts["non_2xx"],
        "errors": counts["errors"],
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        # The slowest calls, as (seconds after the load started, latency ms).
        "worst": [(round(t - started, 2), round(lat * 1000, 1)) for t, lat in worst],
    }


def load_main(args: argparse.Namespace) -> None:
    install_uvloop()
    result = asyncio.run(
        api_load(args.port, args.key, args.id_min, args.id_max, args.clients, args.stop_after)
    )
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


class ApiLoad:
    """The API load process: started, then stopped on demand, then its result read."""

    def __init__(self, port: int, key: str, lo: int, hi: int, clients: int, limit: float) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--role", "load"]
        command += ["--port", str(port), "--key", key, "--id-min", str(lo), "--id-max", str(hi)]
        command += ["--clients", str(clients), "--stop-after", str(limit)]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        # "ready" once its connections are open (bounded: a server that never accepts).
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.kill()
            raise RuntimeError(f"API load process did not start: {line!r}")

    def stop(self) -> dict[str, Any]:
        out, err = self.proc.communicate(b"stop\n", timeout=60)
        if self.proc.returncode != 0:
            raise RuntimeError(f"API load process failed:\n{out!r}\n{err.decode()[-2000:]}")
        return dict(orjson.loads(out.strip().splitlines()[-1]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


# ---------------------------------------------------------------------------- orchestration


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def product_env(data_dir: Path, args: argparse.Namespace, **extra: str) -> dict[str, str]:
    env = base.bench_env(data_dir)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SRC), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    env["ACTIVECOMMERCE_PUBLIC_URL"] = PUBLIC_URL
    if args.smtp_connections:
        env["ACTIVECOMMERCE_SMTP_CONNECTIONS"] = str(args.smtp_connections)
    if args.batch_size:
        env["ACTIVECOMMERCE_EMAIL_BATCH_SIZE"] = str(args.batch_size)
    env.update(extra)
    return env


def proc_status(pid: int, field_name: str) -> float:
    """A field of /proc/PID/status in MB (VmRSS, VmHWM), NaN when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak(pid: int) -> bool:
    """Resets the process's VmHWM to its current RSS (Linux 4.0+, same user or root)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler:
    """The largest VmRSS of some processes, sampled every 0.1 s (in case VmHWM cannot be
    reset); and the VmHWM since the start when it could."""

    def __init__(self, servers: list[base.Server]) -> None:
        self.pids = {s.name: s.proc.pid for s in servers}
        self.exact = {name: reset_peak(pid) for name, pid in self.pids.items()}
        self.start = {name: proc_status(pid, "VmRSS") for name, pid in self.pids.items()}
        self.peak = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for name, pid in self.pids.items():
                rss = proc_status(pid, "VmRSS")
                if rss == rss and not rss <= self.peak[name]:
                    self.peak[name] = rss

    def finish(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        out = {}
        for name, pid in self.pids.items():
            hwm = proc_status(pid, "VmHWM") if self.exact[name] else float("nan")
            out[name] = max(self.peak[name], hwm) if hwm == hwm else self.peak[name]
        return out


@dataclass
class Send:
    """One campaign sent, as measured."""

    setup: str
    recipients: int
    with_api_load: bool = False
    signed: bool = False  # from a verified sending domain: every message DKIM-signed
    seconds_end_to_end: float = float("nan")  # POST to the campaign's sentAt
    seconds_at_sink: float = float("nan")  # first to last message received
    received: int = 0
    distinct_ids: int = 0
    no_message_id: int = 0
    mean_bytes: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)
    rss_before_mb: dict[str, float] = field(default_factory=dict)
    rss_peak_mb: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core during the send
    # CPU time of the product's processes (serve and workers) per message received: what
    # the machine's other load changes least.
    cpu_ms_per_message: float = float("nan")
    load_average: str = ""
    api: dict[str, Any] | None = None
    api_idle: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.recipients / self.seconds_end_to_end if self.seconds_end_to_end else 0.0

    @property
    def sink_rate(self) -> float:
        return self.received / self.seconds_at_sink if self.seconds_at_sink else 0.0

    def summary(self) -> dict[str, Any]:
        return asdict(self) | {"rate": self.rate, "sink_rate": self.sink_rate}


@dataclass
class Bare:
    sent: int
    seconds: float
    errors: int
    cpu: float
    sink_cpu: float
    mean_bytes: float
    sink_seconds: float
    loop: str

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_message(self) -> float:
        return self.cpu / 100 * self.seconds / self.sent * 1000 if self.sent else float("nan")


def parse_stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def run_bare(args: argparse.Namespace, sink: base.Server, sink_port: int, status: int) -> Bare:
    sink_status(status, "reset")
    command = [sys.executable, str(Path(__file__).resolve()), "--role", "bare"]
    command += ["--port", str(sink_port), "--count", str(args.recipients)]
    command += ["--connections", str(args.smtp_connections or 8)]
    sink_cpu0 = sink.cpu_seconds()
    out = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    if out.returncode != 0:
        raise RuntimeError(f"bare loop failed:\n{out.stdout}\n{out.stderr[-3000:]}")
    data = orjson.loads(out.stdout.strip().splitlines()[-1])
    got = sink_status(status)
    sink_cpu = (sink.cpu_seconds() - sink_cpu0) / data["seconds"] * 100
    if got["count"] != args.recipients or data["errors"]:
        raise RuntimeError(f"bare loop: sink got {got['count']}, errors {data['error_sample']}")
    return Bare(
        sent=data["sent"],
        seconds=data["seconds"],
        errors=data["errors"],
        cpu=data["cpu"],
        sink_cpu=sink_cpu,
        mean_bytes=got["bytes"] / max(1, got["count"]),
        sink_seconds=got["last"] - got["first"],
        loop=data["loop"],
    )


def create_account(env: dict[str, str]) -> dict[str, Any]:
    command = [*PRODUCT, "accounts", "create", "--name", "Send bench", "--plan", "enterprise"]
    out = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"accounts create failed:\n{out.stdout}\n{out.stderr}")
    return dict(orjson.loads(out.stdout.strip().splitlines()[-1]))


POSTAL_ADDRESS = "1 Main St, Springfield"


def api_json(port: int, method: str, path: str, key: str, body: Any = None) -> Any:
    status, data = base.http_call(port, method, path, key, body)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path}: {status}: {data[:500]!r}")
    return orjson.loads(data)


def insert_audience(
    db_url: str | None, data_dir: Path, account_id: int, group: int, n: int
) -> None:
    """n active live contacts, all members of the group, straight into the database."""
    stamp = now_stamp()
    contact_rows = [
        (account_id, "live", f"r{i}@bench.example.com", f"First{i}", f"Last{i}", stamp)
        for i in range(n)
    ]
    members = (
        "INSERT INTO contact_group_members (contact_id, group_id, account_id, env, created_at)"
        f" SELECT id, {int(group)}, account_id, env, created_at FROM contacts"
        f" WHERE account_id = {int(account_id)} AND env = 'live'"
    )
    if db_url is None:
        conn = sqlite3.connect(data_dir / base.DB_NAME, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO contacts (account_id, env, email, first_name, last_name, status,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?)",
                [(*row, stamp) for row in contact_rows],
            )
            conn.execute(members)
            conn.execute("COMMIT")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(db_url, connect_timeout=10) as pg:
        with pg.cursor() as cur:
            copy_sql = (
                "COPY contacts (account_id, env, email, first_name, last_name, status,"
                " created_at, updated_at) FROM STDIN"
            )
            with cur.copy(copy_sql) as copy:
                for row in contact_rows:
                    copy.write_row((*row[:5], "active", stamp, stamp))
            cur.execute(members)
        pg.commit()
        pg.autocommit = True
        pg.execute("ANALYZE")  # as autovacuum would after a large import


def contact_id_range(db_url: str | None, data_dir: Path, account_id: int) -> tuple[int, int]:
    sql = f"SELECT min(id), max(id) FROM contacts WHERE account_id = {int(account_id)}"
    if db_url is None:
        conn = sqlite3.connect(data_dir / base.DB_NAME, timeout=30)
        try:
            lo, hi = conn.execute(sql).fetchone()
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(db_url, connect_timeout=10) as pg:
            row = pg.execute(sql).fetchone()
            assert row is not None
            lo, hi = row
    return int(lo), int(hi)


def send_campaign(
    name: str,
    setup: str,
    args: argparse.Namespace,
    port: int,
    key: str,
    group: int,
    servers: list[base.Server],
    sink: base.Server,
    status_port: int,
    api_range: tuple[int, int] | None,
    signed: bool = False,
) -> Send:
    """Creates a campaign to the group, sends it and measures it until it is `sent`."""
    result = Send(setup, args.recipients, with_api_load=api_range is not None, signed=signed)
    # Live marketing email needs a postal address: the account's default.
    api_json(port, "PATCH", "/v3/account", key, {"postalAddress": POSTAL_ADDRESS})
    body = {"name": name, "subject": SUBJECT, "fromEmail": FROM_EMAIL, "htmlContent": HTML}
    body["fromName"] = "The Shop"
    campaign = api_json(port, "POST", "/v3/emailCampaigns", key, body)
    path = f"/v3/emailCampaigns/{campaign['id']}"
    product = [s for s in servers if s is not sink]
    load: ApiLoad | None = None
    try:
        if api_range is not None:
            load = ApiLoad(port, key, *api_range, args.api_clients, args.idle_seconds + 60)
            time.sleep(args.idle_seconds)
            result.api_idle = load.stop()
            load = ApiLoad(port, key, *api_range, args.api_clients, args.timeout)
        sink_status(status_port, "reset")
        rss = RssSampler(product)
        result.rss_before_mb = dict(rss.start)
        cpu0 = {s.name: s.cpu_seconds() for s in servers}
        wall0 = time.monotonic()
        posted = time.time()
        api_json(port, "POST", f"{path}/send", key, {"audience": {"groupIds": [str(group)]}})
        deadline = wall0 + args.timeout
        last_print = wall0
        state: dict[str, Any] = {}
        while True:
            for server in servers:
                server.check_alive()
            state = api_json(port, "GET", path, key)
            if state["status"] != "sending":
                break
            if time.monotonic() > deadline:
                result.notes.append(f"{setup}: not sent within {args.timeout:.0f} s")
                break
            if time.monotonic() - last_print >= 10:
                last_print = time.monotonic()
                got = sink_status(status_port)["count"]
                print(f"    {got}/{args.recipients} at the sink", flush=True)
            time.sleep(0.5)
        wall = time.monotonic() - wall0
        if load is not None:
            result.api = load.stop()
            load = None
        result.rss_peak_mb = rss.finish()
        used = {s.name: s.cpu_seconds() - cpu0[s.name] for s in servers}
        result.cpu = {name: seconds / wall * 100 for name, seconds in used.items()}
        product_cpu = sum(used[s.name] for s in product)
        result.load_average = base.load_average()
        if state.get("status") != "sent":
            result.notes.append(f"{setup}: campaign ended {state.get('status')!r}")
        elif state.get("sentAt"):
            result.seconds_end_to_end = parse_stamp(state["sentAt"]) - posted
        time.sleep(0.3)  # anything late (a duplicate) reaches the sink
        got = sink_status(status_port)
        result.received = got["count"]
        result.distinct_ids = got["distinct_ids"]
        result.no_message_id = got["no_message_id"]
        result.mean_bytes = got["bytes"] / max(1, got["count"])
        result.seconds_at_sink = got["last"] - got["first"] if got["count"] > 1 else float("nan")
        if got["count"]:
            result.cpu_ms_per_message = product_cpu / got["count"] * 1000
        result.report = api_json(port, "GET", f"{path}/report", key)
    finally:
        if load is not None:
            load.kill()
    if result.received != args.recipients:
        result.notes.append(f"{setup}: the sink got {result.received} of {args.recipients}")
    if result.distinct_ids != result.received or result.no_message_id:
        result.notes.append(
            f"{setup}: {result.received} messages, {result.distinct_ids} distinct Message-IDs,"
            f" {result.no_message_id} without one"
        )
    if result.report.get("sent") != args.recipients:
        result.notes.append(f"{setup}: the report says {result.report}")
    for api in (result.api, result.api_idle):
        if api and (api["non_2xx"] or api["errors"]):
            result.notes.append(
                f"{setup}: API calls: {api['non_2xx']} non-2xx, {api['errors']} errors"
            )
    return result


def run_setup(
    setup: str,
    args: argparse.Namespace,
    tmp: Path,
    sink: base.Server,
    sink_port: int,
    status_port: int,
    db_url: str | None,
) -> list[Send]:
    data_dir = tmp / setup
    data_dir.mkdir()
    extra = {"ACTIVECOMMERCE_SMTP_URL": f"smtp://{HOST}:{sink_port}"}
    if db_url is not None:
        extra |= {"ACTIVECOMMERCE_DATABASE_URL": db_url, "ACTIVECOMMERCE_EMBEDDED_WORKER": "false"}
    else:
        extra["ACTIVECOMMERCE_EMBEDDED_WORKER"] = "true"
    env = product_env(data_dir, args, **extra)
    account = create_account(env)  # also migrates the database
    key, account_id = account["liveApiKey"], int(account["accountId"])
    servers: list[base.Server] = []
    try:
        port = base.free_port()
        serve = [*PRODUCT, "serve", "--host", HOST, "--port", str(port)]
        servers.append(base.Server("serve", serve, env, tmp / f"{setup}-serve.log"))
        workers = args.workers if db_url is not None else 0
        for i in range(workers):
            log_path = tmp / f"{setup}-worker{i + 1}.log"
            servers.append(base.Server(f"worker{i + 1}", [*PRODUCT, "worker"], env, log_path))
        wait_started(servers, port, key)
        group = int(api_json(port, "POST", "/v3/contactGroups", key, {"name": "Everyone"})["id"])
        t0 = time.monotonic()
        insert_audience(db_url, data_dir, account_id, group, args.recipients)
        print(
            f"  {setup}: {args.recipients} contacts inserted in {time.monotonic() - t0:.1f} s",
            flush=True,
        )
        watched = [*servers, sink]
        sends = []
        sends.append(
            send_campaign("Spring", setup, args, port, key, group, watched, sink, status_port, None)
        )
        print_send(sends[-1])
        if args.dkim:
            verified_sending_domain(db_url, data_dir, port, key, account_id)
            signed = send_campaign(
                "Spring signed", setup, args, port, key, group, watched, sink, status_port,
                None, signed=True,
            )  # fmt: skip
            sends.append(signed)
            print_send(sends[-1])
            # The next send (with API load) is unsigned, as the first one.
            unverify_sending_domain(db_url, data_dir, account_id)
        if setup == "embedded" and args.api_clients > 0:
            ids = contact_id_range(db_url, data_dir, account_id)
            sends.append(
                send_campaign(
                    "Spring again", setup, args, port, key, group, watched, sink, status_port, ids
                )
            )
            print_send(sends[-1])
        return sends
    finally:
        for server in reversed(servers):
            server.stop()


def _sql(db_url: str | None, data_dir: Path, sql: str, params: tuple[Any, ...]) -> None:
    if db_url is None:
        conn = sqlite3.connect(data_dir / base.DB_NAME, isolation_level=None, timeout=30)
        try:
            conn.execute(sql, params)
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(db_url, connect_timeout=10, autocommit=True) as pg:
        pg.execute(sql.replace("?", "%s"), params)


def verified_sending_domain(
    db_url: str | None, data_dir: Path, port: int, key: str, account_id: int
) -> None:
    """The From address's domain as a sending domain (its key made by the API), marked
    verified in the database: there is no DNS to publish its records in."""
    domain = FROM_EMAIL.rpartition("@")[2]
    made = api_json(port, "POST", "/v3/sendingDomains", key, {"domain": domain})
    _sql(
        db_url,
        data_dir,
        "UPDATE sending_domains SET status = 'verified', verified_at = ?, updated_at = ?"
        " WHERE id = ? AND account_id = ?",
        (now_stamp(), now_stamp(), int(made["id"]), account_id),
    )


def unverify_sending_domain(db_url: str | None, data_dir: Path, account_id: int) -> None:
    _sql(
        db_url,
        data_dir,
        "UPDATE sending_domains SET status = 'pending', updated_at = ? WHERE account_id = ?",
        (now_stamp(), account_id),
    )


def signature_cost(count: int) -> dict[str, float]:
    """CPU time of one DKIM signature (and of a compose without and with one), timed in
    this process on a message of the campaign's shape."""
    sys.path.insert(0, str(SRC))
    from activecommerce.email.compose import compose, prepare_content
    from activecommerce.email.dkim import load_key, new_key_pair, sign
    from activecommerce.email.links import LinkSigner

    key = load_key(FROM_EMAIL.rpartition("@")[2], "bench", new_key_pair()[0])
    row = {
        "id": 1,
        "subject": SUBJECT,
        "html_content": HTML,
        "plaintext_content": None,
        "from_email": FROM_EMAIL,
        "from_name": "The Shop",
        "reply_to_email": None,
    }
    content = prepare_content(row, None, account_id=1, kind="campaign")
    signed_content = prepare_content(row, None, account_id=1, kind="campaign")
    signed_content = type(content)(**{**signed_content.__dict__, "dkim": key})
    signer = LinkSigner(b"k" * 32, PUBLIC_URL)

    def one(c: Any, i: int) -> bytes:
        contact = {"firstName": f"First{i}"}
        to = f"r{i}@bench.example.com"
        return compose(c, message_id=i, env="live", to=to, contact=contact, signer=signer).raw

    raw = one(content, 0)
    out = {}
    for name, work in (
        ("sign_ms", lambda i: sign(raw, key)),
        ("compose_ms", lambda i: one(content, i)),
        ("compose_signed_ms", lambda i: one(signed_content, i)),
    ):
        started = time.process_time()
        for i in range(count):
            work(i)
        out[name] = (time.process_time() - started) / count * 1000
    out["bytes"] = float(len(raw))
    return out


def wait_started(servers: list[base.Server], port: int, key: str) -> None:
    """Until every process says it runs and `serve` (the first) answers /healthz."""
    deadline = time.monotonic() + 120
    for server in servers:
        while True:
            server.check_alive()
            text = server.log_path.read_text(errors="replace")
            if "serving at" in text or "running" in text:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not start:\n{text[-2000:]}")
            time.sleep(0.1)
    while True:
        with contextlib.suppress(OSError):
            if base.http_call(port, "GET", "/healthz", key)[0] == 200:
                break
        servers[0].check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("serve did not answer /healthz")
        time.sleep(0.1)


def print_send(s: Send) -> None:
    rss = ", ".join(f"{k} {v:.0f} MB" for k, v in s.rss_peak_mb.items())
    cpu = ", ".join(f"{k} {v:.0f}%" for k, v in s.cpu.items())
    extra = " (with API load)" if s.with_api_load else ""
    print(
        f"  {s.setup}{extra}: {s.received}/{s.recipients} received,"
        f" {s.rate:.0f} msg/s end to end ({s.seconds_end_to_end:.1f} s),"
        f" {s.sink_rate:.0f} msg/s at the sink; peak RSS {rss}; CPU {cpu}",
        flush=True,
    )
    if s.api is not None:
        idle = s.api_idle or {}
        print(
            f"    API: p50 {s.api['p50_ms']:.1f} ms, p99 {s.api['p99_ms']:.1f} ms,"
            f" max {s.api['max_ms']:.0f} ms, {s.api['requests'] / s.api['seconds']:.0f} req/s"
            f" during the send; idle p50 {idle.get('p50_ms', float('nan')):.1f} ms,"
            f" p99 {idle.get('p99_ms', float('nan')):.1f} ms; slowest {s.api['worst']}",
            flush=True,
        )


def fmt_ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def print_report(bares: list[Bare], sends: list[Send], args: argparse.Namespace) -> list[str]:
    bare_rate = sum(b.rate for b in bares) / len(bares)
    header = (
        f"{'run':<34} {'msg/s':>7} {'vs bare':>8} {'at sink':>8} {'vs bare':>8}"
        f" {'CPU ms/msg':>10} {'peak RSS MB':>16} {'API p50/p99/max ms':>19}"
    )
    print(header)
    print("-" * len(header))
    for i, b in enumerate(bares):
        label = f"bare aiosmtplib loop ({'before' if i == 0 else 'after'})"
        print(
            f"{label:<34} {b.rate:>7.0f} {'':>8} {b.sent / b.sink_seconds:>8.0f} {'':>8}"
            f" {b.cpu_ms_per_message:>10.2f}"
        )
    for s in sends:
        label = s.setup if s.setup == "embedded" else f"postgres ({args.workers} workers)"
        if s.with_api_load:
            label += f" + {args.api_clients} API clients"
        if s.signed:
            label += ", DKIM-signed"
        rss = "/".join(f"{v:.0f}" for v in s.rss_peak_mb.values())
        api = ""
        if s.api:
            api = f"{s.api['p50_ms']:.1f}/{s.api['p99_ms']:.1f}/{s.api['max_ms']:.0f}"
        print(
            f"{label:<34} {s.rate:>7.0f} {fmt_ratio(s.rate, bare_rate):>8}"
            f" {s.sink_rate:>8.0f} {fmt_ratio(s.sink_rate, bare_rate):>8}"
            f" {s.cpu_ms_per_message:>10.2f} {rss:>16} {api:>19}"
        )
        if s.api_idle:
            a = s.api_idle
            idle = f"{a['p50_ms']:.1f}/{a['p99_ms']:.1f}/{a['max_ms']:.0f}"
            print(f"{'  (the same API load, no send)':<34} {'':>63} {idle:>19}")
    print(
        "msg/s = recipients / (POST .../send to the campaign's sentAt); at sink = first to last"
        " message received; vs bare = / the mean of the bare loops"
        f" ({bare_rate:.0f} msg/s); CPU ms/msg = CPU time of the sender's processes (bare"
        " loop; serve and workers) per message, which other load on the machine changes"
        " least; peak RSS = VmHWM of serve (/ each worker) during the send"
    )
    notes = []
    for b in bares:
        if b.sink_cpu >= SATURATED_CPU:
            notes.append(
                f"the sink used {b.sink_cpu:.0f}% of a core during a bare loop: the baseline"
                " may be the sink's limit, not the client's"
            )
        if b.cpu >= SATURATED_CPU:
            notes.append(f"the bare loop used {b.cpu:.0f}% of a core: it is CPU-bound")
    mean_bare_bytes = sum(b.mean_bytes for b in bares) / len(bares)
    for signed in (s for s in sends if s.signed):
        plain = next(u for u in sends if u.setup == signed.setup and not u.signed)
        ratio = signed.rate / plain.rate if plain.rate else float("nan")
        print(
            f"DKIM ({signed.setup}): signed {signed.rate:.0f} msg/s vs unsigned"
            f" {plain.rate:.0f} msg/s = {ratio:.2f}x (aim >= {AIM_DKIM_RATIO}x); CPU"
            f" {signed.cpu_ms_per_message:.2f} vs {plain.cpu_ms_per_message:.2f} ms/msg;"
            f" {signed.mean_bytes:.0f} vs {plain.mean_bytes:.0f} bytes"
        )
        if ratio < AIM_DKIM_RATIO:
            print(f"AIM MISSED ({signed.setup}, DKIM): {ratio:.2f}x the unsigned send")
    if args.dkim:
        cost = signature_cost(args.dkim_signatures)
        print(
            f"DKIM in process ({args.dkim_signatures} messages of {cost['bytes']:.0f} bytes):"
            f" {cost['sign_ms']:.3f} ms CPU per signature (RSA-2048, relaxed/relaxed);"
            f" compose {cost['compose_ms']:.3f} ms, compose + sign"
            f" {cost['compose_signed_ms']:.3f} ms"
        )
    for s in sends:
        aims = []
        if s.rate and s.rate / bare_rate < AIM_RATIO:
            aims.append(f"{s.rate / bare_rate:.2f}x the bare loop (aim {AIM_RATIO}x)")
        if s.rate and s.rate < AIM_RATE:
            aims.append(f"{s.rate:.0f} msg/s (aim {AIM_RATE:.0f})")
        for name, mb in s.rss_peak_mb.items():
            if mb >= AIM_RSS_MB:
                aims.append(f"{name} peak RSS {mb:.0f} MB (aim < {AIM_RSS_MB:.0f})")
        if s.api and s.api["p99_ms"] >= AIM_P99_MS:
            aims.append(f"API p99 {s.api['p99_ms']:.1f} ms (aim < {AIM_P99_MS:.0f})")
        label = s.setup + (" with API load" if s.with_api_load else "")
        label += " (DKIM-signed)" if s.signed else ""
        if aims:
            print(f"AIM MISSED ({label}): " + "; ".join(aims))
        if s.sink_rate and abs(s.mean_bytes - mean_bare_bytes) > 0.25 * mean_bare_bytes:
            notes.append(
                f"{label}: messages of {s.mean_bytes:.0f} bytes against the bare loop's"
                f" {mean_bare_bytes:.0f}"
            )
        sink_cpu = s.cpu.get("sink", 0.0)
        if sink_cpu >= SATURATED_CPU:
            notes.append(f"{label}: the sink used {sink_cpu:.0f}% of a core")
    print(
        f"message size: product {', '.join(f'{s.mean_bytes:.0f}' for s in sends)} bytes,"
        f" bare loop {mean_bare_bytes:.0f} bytes; CPU (100% = one core): bare loop"
        f" {', '.join(f'{b.cpu:.0f}%' for b in bares)}, sink during it"
        f" {', '.join(f'{b.sink_cpu:.0f}%' for b in bares)}"
    )
    return notes


def orchestrate(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="ac-bench-send-"))
    db_name = f"bench_send_{uuid.uuid4().hex[:12]}"
    admin = args.postgres_url
    pg_created = False
    sink: base.Server | None = None
    try:
        print(
            f"{args.recipients} recipients; sink {args.sink}; python {platform.python_version()},"
            f" {os.cpu_count()} CPUs; load average {base.load_average()}; code from {SRC}",
            flush=True,
        )
        sink_port, status_port = base.free_port(), base.free_port()
        sink_cmd = [sys.executable, str(Path(__file__).resolve()), "--role", "sink"]
        sink_cmd += ["--sink", args.sink, "--port", str(sink_port)]
        sink_cmd += ["--status-port", str(status_port)]
        sink = base.Server("sink", sink_cmd, base.bench_env(tmp), tmp / "sink.log")
        deadline = time.monotonic() + 30
        while True:
            sink.check_alive()
            with contextlib.suppress(OSError):
                sink_status(status_port)
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the sink did not start")
            time.sleep(0.1)

        bares = [run_bare(args, sink, sink_port, status_port)]
        print(
            f"  bare loop: {bares[0].rate:.0f} msg/s ({bares[0].seconds:.1f} s),"
            f" CPU {bares[0].cpu:.0f}%, sink CPU {bares[0].sink_cpu:.0f}%",
            flush=True,
        )
        sends: list[Send] = []
        sends += run_setup("embedded", args, tmp, sink, sink_port, status_port, None)
        if not args.skip_postgres:
            import psycopg

            with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'CREATE DATABASE "{db_name}"')
            pg_created = True
            db_url = admin.rsplit("/", 1)[0] + f"/{db_name}"
            sends += run_setup("postgres", args, tmp, sink, sink_port, status_port, db_url)
        bares.append(run_bare(args, sink, sink_port, status_port))
        print(
            f"  bare loop: {bares[1].rate:.0f} msg/s ({bares[1].seconds:.1f} s),"
            f" CPU {bares[1].cpu:.0f}%, sink CPU {bares[1].sink_cpu:.0f}%",
            flush=True,
        )
        print()
        notes = print_report(bares, sends, args)
        notes += [note for s in sends for note in s.notes]
        print(f"load average after: {base.load_average()}")
        for note in notes:
            print(f"NOTE: {note}")
        if args.json_out:
            payload = {
                "recipients": args.recipients,
                "sink": args.sink,
                "cpus": os.cpu_count(),
                "bare": [asdict(b) | {"rate": b.rate} for b in bares],
                "sends": [s.summary() for s in sends],
                "notes": notes,
            }
            Path(args.json_out).write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
        return 1 if any(s.notes for s in sends) else 0
    finally:
        if sink is not None:
            sink.stop()
        if pg_created:
            import psycopg

            with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--skip-postgres", action="store_true", help="the embedded setup only")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (postgres)")
    parser.add_argument(
        "--api-clients", type=int, default=8, help="API clients during the second send (0: none)"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=3.0, help="API load before the send (no send)"
    )
    parser.add_argument("--sink", choices=("raw", "aiosmtpd"), default="raw")
    parser.add_argument("--smtp-connections", type=int, help="ACTIVECOMMERCE_SMTP_CONNECTIONS")
    parser.add_argument("--batch-size", type=int, help="ACTIVECOMMERCE_EMAIL_BATCH_SIZE")
    parser.add_argument("--timeout", type=float, default=1800, help="max seconds per send")
    parser.add_argument(
        "--dkim", action="store_true", help="also send once signed (a verified sending domain)"
    )
    parser.add_argument(
        "--dkim-signatures", type=int, default=2000, help="signatures timed in process"
    )
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL, help="an admin URL")
    parser.add_argument("--json-out", help="also write the results to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    # Internal: the sink, the bare loop and the API load run this file too.
    hidden = argparse.SUPPRESS
    roles = ("main", "sink", "bare", "load")
    parser.add_argument("--role", choices=roles, default="main", help=hidden)
    parser.add_argument("--port", type=int, help=hidden)
    parser.add_argument("--status-port", type=int, help=hidden)
    parser.add_argument("--count", type=int, help=hidden)
    parser.add_argument("--connections", type=int, help=hidden)
    parser.add_argument("--key", help=hidden)
    parser.add_argument("--id-min", type=int, help=hidden)
    parser.add_argument("--id-max", type=int, help=hidden)
    parser.add_argument("--clients", type=int, help=hidden)
    parser.add_argument("--stop-after", type=float, help=hidden)
    args = parser.parse_args()
    if args.role == "sink":
        sink_main(args.sink, args.port, args.status_port)
        return
    if args.role == "bare":
        bare_main(args.port, args.count, args.connections)
        return
    if args.role == "load":
        load_main(args)
        return
    # A SIGTERM runs the finally blocks too, so no process is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(orchestrate(args))


if __name__ == "__main__":
    main()
