"""The HTTP protocol `activecommerce serve` runs: uvicorn's httptools protocol with the
read timeouts and the connection limit uvicorn does not have.

uvicorn 0.54 closes idle keep-alive connections (`timeout_keep_alive`, armed only after a
response) but has no timeout for reading a request: a client that connects and sends
nothing, or half a request line, or headers and then part of the body, holds its
connection (and a file descriptor) forever. Its `limit_concurrency` answers 503 only once
a request's headers are complete, so the same clients are never refused, and it logs one
line per refused request. The smallest sound fix is this subclass, passed as `http=`:

- a header timer armed when a connection opens and when a request's first byte arrives,
  cancelled when its headers are complete (then 408 and close);
- a body timer from the end of the headers to the end of the body (then close: the
  application sees a disconnect), so a body dripped a byte at a time is bounded too;
- the connection limit checked when a connection opens: over it, a canned 503 and close,
  logged at most once every few seconds however many are refused.

Bodies of the streamed paths (a contact import: up to gigabytes, read while the app
stores them) have no deadline for the whole body; the body timer is armed again at each
chunk, so it bounds the time without a byte instead.

`serve --workers N` (PostgreSQL only) runs N such servers on one socket under uvicorn's
supervisor (`ServeConfig`, `serve`): each process builds its app and this protocol, so the
timeouts and the connection limit hold per process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from activecommerce.config import Settings
from activecommerce.kit.problems import PROBLEM_JSON, Problem
from activecommerce.kit.processes import when_orphaned

log = logging.getLogger("activecommerce.server")

LOG_EVERY = 10.0


def _raw_problem(status: int, reason: str, detail: str, extra: bytes = b"") -> bytes:
    body = orjson.dumps(Problem(status, detail).body())
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {PROBLEM_JSON}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


TIMED_OUT = _raw_problem(408, "Request Timeout", "The request was not sent in time.")
REFUSED = _raw_problem(
    503,
    "Service Unavailable",
    "The server has too many open connections; retry later.",
    b"retry-after: 1\r\n",
)


class _Limit:
    """The connection limit's log state, shared by the connections of one server."""

    def __init__(self) -> None:
        self.refused = 0
        self.logged_at = -LOG_EVERY


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout = 10.0
    body_timeout = 30.0
    max_connections = 1000
    limit = _Limit()
    streamed_paths: frozenset[bytes] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._streamed = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refuse()
            return
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._read_timer is None:  # a later request on a kept-alive connection
            self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._arm(self.body_timeout)
        self._streamed = self.url.partition(b"?")[0] in self.streamed_paths
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._streamed:
            self._arm(self.body_timeout)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, delay: float) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(delay, self._timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(TIMED_OUT)  # headers were not complete: nothing answered
        self.transport.close()

    def _refuse(self) -> None:
        limit = self.limit
        limit.refused += 1
        now = time.monotonic()
        if now - limit.logged_at >= LOG_EVERY:
            log.warning(
                "connection limit of %d reached: refused %d connection(s) with 503 "
                "(logged at most every %.0f s)",
                self.max_connections,
                limit.refused,
                LOG_EVERY,
            )
            limit.logged_at = now
            limit.refused = 0
        self.transport.write(REFUSED)
        self.transport.close()


# Descriptors kept for what is not a client connection: database files or connections,
# webhook deliveries, DNS, the parser process, logs.
RESERVED_FILES = 256


def connection_budget(configured: int) -> int:
    """How many client connections this process may hold: the configured limit, within
    the open-file limit minus a reserve, so that accepting clients never starves the
    database or the deliveries of descriptors. The soft file limit is raised to the hard
    one first (often 1,024 soft for 1,048,576 hard)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return configured
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    budget = min(configured, max(16, soft - RESERVED_FILES))
    if budget < configured:
        log.warning(
            "open-file limit %d: serving at most %d connections (configured %d)",
            soft,
            budget,
            configured,
        )
    return budget


def http_protocol(
    settings: Settings, streamed_paths: tuple[str, ...] = ()
) -> type[GuardedHttpToolsProtocol]:
    """The protocol class with this server's timeouts and limit; `streamed_paths` take
    bodies of any duration as long as bytes keep arriving."""
    return type(
        "ActiveCommerceHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "header_timeout": settings.http_header_timeout_seconds,
            "body_timeout": settings.http_body_timeout_seconds,
            "max_connections": connection_budget(settings.http_max_connections),
            "limit": _Limit(),
            "streamed_paths": frozenset(path.encode() for path in streamed_paths),
        },
    )


class ServeConfig(uvicorn.Config):
    """uvicorn's configuration for `activecommerce serve`. Each server process builds the
    application and the HTTP protocol above when uvicorn loads this configuration: with
    `--workers N` uvicorn hands the configuration (pickled) to N processes, and neither a
    running app nor a class made at run time can be pickled."""

    def __init__(self, settings: Settings, streamed_paths: tuple[str, ...], **kwargs: Any) -> None:
        # The app is made in `load`; the string only stands in until then.
        super().__init__(app="activecommerce.app:create_app", **kwargs)
        self.settings = settings
        self.streamed_paths = streamed_paths

    def load(self) -> None:
        from activecommerce.app import create_app
        from activecommerce.worker import settle_heap

        if self.workers > 1:  # one of the supervised processes
            stop_when_orphaned()
        self.app = create_app(self.settings)
        self.http = http_protocol(self.settings, self.streamed_paths)
        super().load()
        # Frozen, start-up's objects are out of the garbage collector's full passes
        # (measured with Redis: 15% of the server's CPU, decision 004; during imports,
        # pauses of 100-340 ms).
        settle_heap()


def stop_when_orphaned(interval: float = 1.0) -> None:
    """SIGTERM this process (a graceful stop) once its parent is gone: the supervisor of
    `serve --workers` stops its processes itself, but killed (SIGKILL) it cannot, and no
    process of ours outlives its parent."""
    when_orphaned(lambda: os.kill(os.getpid(), signal.SIGTERM), interval=interval)


def serve(config: ServeConfig) -> bool:
    """Serve until told to stop: in this process, or with `config.workers` > 1 in that
    many processes on one listening socket, supervised by this one (a process that dies
    is replaced). Whether serving started (False: the app or the socket failed)."""
    if config.workers > 1:
        from uvicorn.supervisors import Multiprocess

        sock = config.bind_socket()
        try:
            Multiprocess(config, sockets=[sock]).run()
        finally:
            sock.close()
        return True
    server = uvicorn.Server(config)
    server.run()
    return server.started
