"""Operations: database outages (503, not 500 or a hang), probes, HTTP read timeouts and
the connection limit, the client address behind proxies, and rate limits on requests no
route takes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from fastapi import FastAPI
from helpers import problem
from servers import cli_account, cli_env, running_server

from activecommerce.accounts.service import create_account
from activecommerce.app import create_app
from activecommerce.config import Settings
from activecommerce.kit.db import is_sqlite, sqlite_path

# ---------------------------------------------------------------- helpers


async def _limited_app(settings: Settings, **update: object) -> FastAPI:
    return create_app(
        settings.model_copy(update={"rate_limit_enabled": True, "anonymous_rate": 6, **update})
    )


@pytest.fixture(scope="module")
async def limited(settings: Settings) -> AsyncIterator[FastAPI]:
    application = await _limited_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
async def behind_proxy(settings: Settings) -> AsyncIterator[FastAPI]:
    application = await _limited_app(settings, trusted_proxies="10.99.0.0/16, 10.98.0.1")
    async with application.router.lifespan_context(application):
        yield application


def _from(app: FastAPI, address: str, key: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 4321)),
        base_url="http://test",
        headers={"Api-Token": key} if key else {},
    )


async def _key(app: FastAPI, plan: str = "lite") -> str:
    info = await create_account(
        app.state.services.db, app.state.services.authenticator.secret, name="O", plan=plan
    )
    return str(info["sandboxApiKey"])


# ---------------------------------------------------------------- 11: client address


async def test_valid_key_from_address_over_failure_budget_is_served(limited: FastAPI) -> None:
    key = await _key(limited)
    guesser = _from(limited, "10.7.0.1")
    codes = [
        (await guesser.get("/v3/contacts", headers={"Api-Token": f"ac_test_x{i}"})).status_code
        for i in range(8)
    ]
    assert codes == [401] * 6 + [429] * 2
    refused = await guesser.get("/v3/contacts")  # no key at all: also over the budget
    problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    right = await _from(limited, "10.7.0.1", key).get("/v3/contacts")
    assert right.status_code == 200, right.text
    assert right.headers["ratelimit-limit"] == str(limited.state.services.limiter.rate_for("lite"))


async def test_trusted_proxy_forwarded_address_is_used(behind_proxy: FastAPI) -> None:
    proxy = _from(behind_proxy, "10.99.1.1")

    async def bad(forwarded: str) -> int:
        headers = {"Api-Token": "ac_test_wrong", "X-Forwarded-For": forwarded}
        return (await proxy.get("/v3/contacts", headers=headers)).status_code

    # Each client behind the proxy has its own budget...
    assert [await bad("203.0.113.1") for _ in range(7)] == [401] * 6 + [429]
    assert await bad("203.0.113.2") == 401
    # ...read from the right, past trusted proxies: what the client wrote on the left of
    # its own address (a spoofed "victim") is not believed.
    assert await bad("203.0.113.2, 203.0.113.1, 10.98.0.1") == 429
    assert [await bad("198.51.100.7, 203.0.113.3") for _ in range(6)] == [401] * 6
    assert await bad("198.51.100.9, 203.0.113.3") == 429
    # From a peer that is not a trusted proxy the header means nothing.
    direct = _from(behind_proxy, "192.0.2.50")
    headers = {"Api-Token": "ac_test_wrong"}
    codes = [
        (
            await direct.get("/v3/contacts", headers={**headers, "X-Forwarded-For": f"10.0.0.{i}"})
        ).status_code
        for i in range(7)
    ]
    assert codes == [401] * 6 + [429]


def test_rotating_forwarded_for_from_loopback_does_not_reset_budget(
    database_url: str, tmp_path: Path
) -> None:
    """A real server (uvicorn trusted X-Forwarded-For from loopback by default)."""
    env = cli_env(
        ACTIVECOMMERCE_DATABASE_URL=database_url,
        ACTIVECOMMERCE_DATA_DIR=str(tmp_path),
        ACTIVECOMMERCE_SECRET_KEY="test-secret",
        ACTIVECOMMERCE_RATE_LIMIT_ENABLED="true",
        ACTIVECOMMERCE_ANONYMOUS_RATE="5",
    )
    key = cli_account(env, "lite")["sandboxApiKey"]
    with running_server(env, tmp_path / "serve.log") as (base, _), httpx.Client() as client:
        codes = [
            client.get(
                f"{base}/v3/contacts",
                headers={"Api-Token": f"ac_test_guess{i}", "X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
            for i in range(8)
        ]
        assert codes == [401] * 5 + [429] * 3, codes
        # Spoofing the victim's address does not touch the victim's budget either, and a
        # right key from the guesser's own address is still served.
        assert client.get(f"{base}/v3/contacts", headers={"Api-Token": key}).status_code == 200


# ---------------------------------------------------------------- 13c: no route


async def test_unknown_path_without_credentials_counts_against_address(limited: FastAPI) -> None:
    anon = _from(limited, "10.13.0.1")
    codes = [(await anon.get(f"/v3/nothing/{i}")).status_code for i in range(6)]
    codes.append((await anon.put("/v3/contacts")).status_code)  # 405 counts too
    codes.append((await anon.get("/nothing")).status_code)
    assert codes == [404] * 6 + [429, 429], codes
    over = await anon.get("/v3/nothing")
    problem(over, 429)
    assert "retry-after" in over.headers and over.headers["ratelimit-remaining"] == "0"
    # A wrong key on an unknown path is a failed authentication (and over the budget).
    assert (await _from(limited, "10.13.0.1", "ac_test_wrong").get("/x")).status_code == 429
    # The probes and the document are not limited.
    assert (await anon.get("/healthz")).status_code == 200
    assert (await anon.get("/v3/openapi.json")).status_code == 200


async def test_unknown_path_with_key_is_authenticated(limited: FastAPI) -> None:
    wrong = _from(limited, "10.13.0.2", "ac_test_wrong")
    problem(await wrong.get("/v3/nothing"), 401)
    problem(await wrong.delete("/v3/contacts"), 401)  # 405 without a right key: 401
    key = await _key(limited)
    right = _from(limited, "10.13.0.3", key)
    missing = await right.get("/v3/nothing")
    problem(missing, 404)
    assert missing.headers["ratelimit-limit"] == str(
        limited.state.services.limiter.rate_for("lite")
    )
    assert int(missing.headers["ratelimit-remaining"]) < int(missing.headers["ratelimit-limit"])
    again = await right.get("/v3/nothing")
    assert int(again.headers["ratelimit-remaining"]) < int(missing.headers["ratelimit-remaining"])


# ---------------------------------------------------------------- 7: probes


async def test_healthz_and_readyz_without_credentials(anon: httpx.AsyncClient) -> None:
    health = await anon.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = await anon.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    document = (await anon.get("/v3/openapi.json")).json()
    assert "/healthz" not in document["paths"] and "/readyz" not in document["paths"]


# ---------------------------------------------------------------- 7: SQLite locked


@pytest.fixture
async def short_wait(settings: Settings) -> AsyncIterator[FastAPI]:
    if not is_sqlite(settings.effective_database_url):
        pytest.skip("SQLite only")
    application = create_app(
        settings.model_copy(
            update={
                "db_acquire_timeout_seconds": 0.3,
                "db_retry_after_seconds": 0.5,
                "embedded_worker": False,
            }
        )
    )
    async with application.router.lifespan_context(application):
        yield application


async def test_sqlite_locked_by_another_process_is_503_not_500(
    short_wait: FastAPI, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    key = await _key(short_wait)
    api = _from(short_wait, "10.7.7.7", key)
    other = sqlite3.connect(sqlite_path(settings.effective_database_url), isolation_level=None)
    caplog.set_level(logging.WARNING, logger="activecommerce.db")
    try:
        other.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than we wait
        started = time.monotonic()
        statuses = []
        for i in range(4):
            r = await api.post("/v3/contacts", json={"email": f"locked{i}@example.com"})
            problem(r, 503)
            assert int(r.headers["retry-after"]) >= 1
            statuses.append(r.status_code)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, elapsed  # was: the event loop blocked 5 s, then a 500
        assert (await api.get("/v3/contacts")).status_code == 200  # reads go on (WAL)
        assert (await _from(short_wait, "10.7.7.8").get("/readyz")).status_code == 200
    finally:
        other.execute("ROLLBACK")
        other.close()
    await asyncio.sleep(0.6)  # past the fail-fast window
    created = await api.post("/v3/contacts", json={"email": "unlocked@example.com"})
    assert created.status_code == 201, created.text
    lines = [r.getMessage() for r in caplog.records if r.name == "activecommerce.db"]
    assert len([m for m in lines if "unavailable" in m]) == 1, lines
    assert len([m for m in lines if "available again" in m]) == 1, lines
    assert not any(r.exc_info for r in caplog.records)


# ---------------------------------------------------------------- 7: PostgreSQL outage


class TcpProxy:
    """A TCP proxy the test controls: `cut()` resets every connection and refuses new
    ones (the server is gone), `freeze()` holds every byte (the server is stopped with
    SIGSTOP: connections open, nothing answers), `restore()` forwards again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "up"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "down":
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.mode == "frozen":
                    time.sleep(0.02)
                if self.mode == "down":
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.mode = "down"
        with self.lock:
            for s in self.sockets:
                _reset(s)
            self.sockets.clear()

    def freeze(self) -> None:
        self.mode = "frozen"

    def restore(self) -> None:
        self.mode = "up"

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()


def _reset(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()


@pytest.fixture
def pg_proxy(database_url: str) -> Iterator[tuple[TcpProxy, str]]:
    if is_sqlite(database_url):
        pytest.skip("PostgreSQL only (set ACTIVECOMMERCE_TEST_POSTGRES_URL)")
    parts = urlsplit(database_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0] + "@" if len(netloc) == 2 else ""
    url = urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{proxy.port}"))
    try:
        yield proxy, url
    finally:
        proxy.close()


def _timed(client: httpx.Client, url: str, **kwargs: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.get(url, **kwargs)  # type: ignore[arg-type]
    return response, time.monotonic() - started


def _outage(client: httpx.Client, base: str, key: str, seconds: float) -> list[float]:
    """Requests for `seconds` while the database is away: every one a quick 503."""
    took = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r, elapsed = _timed(client, f"{base}/v3/contacts", headers={"Api-Token": key})
        problem(r, 503)
        assert int(r.headers["retry-after"]) >= 1
        took.append(elapsed)
    return took


def _recovers(client: httpx.Client, base: str, key: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 15:
        r = client.get(f"{base}/v3/contacts", headers={"Api-Token": key})
        if r.status_code == 200:
            return time.monotonic() - started
        assert r.status_code == 503, r.text
        time.sleep(0.2)
    raise AssertionError("did not recover within 15 s")


def test_postgres_outage_is_503_quickly_logged_once_and_recovers(
    pg_proxy: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    proxy, url = pg_proxy
    env = cli_env(
        ACTIVECOMMERCE_DATABASE_URL=url,
        ACTIVECOMMERCE_DATA_DIR=str(tmp_path),
        ACTIVECOMMERCE_SECRET_KEY="test-secret",
        ACTIVECOMMERCE_DB_ACQUIRE_TIMEOUT_SECONDS="1",
        ACTIVECOMMERCE_DB_STATEMENT_TIMEOUT_SECONDS="1.5",
        ACTIVECOMMERCE_DB_RETRY_AFTER_SECONDS="1",
    )
    key = cli_account(env, "lite")["sandboxApiKey"]
    with (
        running_server(env, tmp_path / "serve.log") as (base, log),
        httpx.Client(timeout=10) as client,
    ):
        assert client.get(f"{base}/v3/contacts", headers={"Api-Token": key}).status_code == 200
        assert client.get(f"{base}/readyz").status_code == 200

        proxy.cut()  # PostgreSQL gone: connections reset, new ones refused
        took = _outage(client, base, key, 3.0)
        assert max(took) < 3.0 and len(took) >= 5, took
        assert client.get(f"{base}/healthz").status_code == 200
        problem(client.get(f"{base}/readyz"), 503)
        proxy.restore()
        cut_recovery = _recovers(client, base, key)

        proxy.freeze()  # PostgreSQL stopped (SIGSTOP): nothing answers, nothing refuses
        took_frozen = _outage(client, base, key, 4.0)
        assert max(took_frozen) < 4.0, took_frozen  # was: every request hung 10 s
        assert sorted(took_frozen)[len(took_frozen) // 2] < 0.5, took_frozen  # fail fast
        assert client.get(f"{base}/healthz").status_code == 200
        proxy.restore()
        frozen_recovery = _recovers(client, base, key)
        assert client.get(f"{base}/readyz").status_code == 200
        text = log.read_text()

    print(
        f"cut: {len(took)} x 503, max {max(took):.2f}s, recovered in {cut_recovery:.1f}s; "
        f"frozen: {len(took_frozen)} x 503, max {max(took_frozen):.2f}s, "
        f"recovered in {frozen_recovery:.1f}s"
    )
    assert text.count("PostgreSQL unavailable") == 2, text  # one line per outage
    assert text.count("PostgreSQL available again") == 2, text
    assert "Traceback" not in text, text


# ---------------------------------------------------------------- 10: HTTP connections


@pytest.fixture(scope="module")
def http_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int, Path]]:
    tmp = tmp_path_factory.mktemp("http")
    env = cli_env(
        ACTIVECOMMERCE_DATABASE_URL=database_url,
        ACTIVECOMMERCE_DATA_DIR=str(tmp),
        ACTIVECOMMERCE_SECRET_KEY="test-secret",
        ACTIVECOMMERCE_HTTP_HEADER_TIMEOUT_SECONDS="2",
        ACTIVECOMMERCE_HTTP_BODY_TIMEOUT_SECONDS="2",
        ACTIVECOMMERCE_HTTP_KEEPALIVE_SECONDS="1",
        ACTIVECOMMERCE_HTTP_MAX_CONNECTIONS="10",
    )
    with running_server(env, tmp / "serve.log") as (base, log):
        yield "127.0.0.1", int(base.rsplit(":", 1)[1]), log


def _connect(server: tuple[str, int, Path]) -> socket.socket:
    s = socket.create_connection(server[:2], timeout=10)
    return s


def _read_until_closed(s: socket.socket, limit: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed."""
    started = time.monotonic()
    s.settimeout(limit)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {limit} s: {data!r}") from None
    except ConnectionResetError:
        pass
    return data, time.monotonic() - started


def test_normal_request_then_idle_keepalive_connection_is_closed(
    http_server: tuple[str, int, Path],
) -> None:
    s = _connect(http_server)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    data, closed_after = _read_until_closed(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 200") and b'{"status":"ok"}' in data
    assert 0.5 < closed_after < 5, closed_after  # the 1 s keep-alive timeout


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connected, sent nothing
        b"GET /v3/cont",  # half a request line
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: 1",  # half the headers
    ],
    ids=["idle", "half-request-line", "half-headers"],
)
def test_incomplete_request_head_is_closed_after_header_timeout(
    http_server: tuple[str, int, Path], sent: bytes
) -> None:
    s = _connect(http_server)
    s.sendall(sent)
    data, closed_after = _read_until_closed(s)
    s.close()
    assert 1.5 < closed_after < 6, closed_after  # the 2 s header timeout
    assert data.startswith(b"HTTP/1.1 408") and b"application/problem+json" in data, data


def test_dripped_body_is_closed_after_body_timeout(http_server: tuple[str, int, Path]) -> None:
    s = _connect(http_server)
    s.sendall(
        b"POST /v3/contacts HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    started = time.monotonic()
    s.settimeout(0.3)
    try:
        for _ in range(40):  # a byte every 0.3 s: never idle long, never finished
            s.sendall(b" ")
            with contextlib.suppress(TimeoutError):
                if s.recv(65536) == b"":
                    break
    except (BrokenPipeError, ConnectionResetError):
        pass
    closed_after = time.monotonic() - started
    s.close()
    assert closed_after < 6, closed_after  # the 2 s body timeout


def test_connections_over_the_limit_get_503_and_one_log_line(
    http_server: tuple[str, int, Path],
) -> None:
    time.sleep(1.2)  # the other tests' kept-alive connections are gone
    held = [_connect(http_server) for _ in range(10)]
    try:
        time.sleep(0.3)
        answers = []
        for _ in range(5):
            extra = _connect(http_server)
            answers.append(_read_until_closed(extra, 3.0)[0])
            extra.close()
        for data in answers:
            assert data.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in data, data
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    ok = httpx.get(f"http://{http_server[0]}:{http_server[1]}/healthz", timeout=5)
    assert ok.status_code == 200
    lines = [ln for ln in http_server[2].read_text().splitlines() if "connection limit" in ln]
    assert len(lines) == 1, lines
