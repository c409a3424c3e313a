"""Database outages (kit/db.py): a locked SQLite or a PostgreSQL that is gone or frozen is
a quick 503 (not a 500 or a hang), logged once, and recovered from; a busy database is
not an outage."""

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
from helpers import client_from as _from
from helpers import new_key as _key
from helpers import problem
from servers import cli_account, running_server, server_env

from activecommerce.app import create_app
from activecommerce.config import Settings
from activecommerce.kit.db import Availability, DatabaseUnavailable, is_sqlite, sqlite_path

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
            assert r.headers["retry-after"] == "1"  # 0.5 s, in whole seconds
            statuses.append(r.status_code)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, elapsed  # was: the event loop blocked 5 s, then a 500
        assert (await api.get("/v3/contacts")).status_code == 200  # reads go on (WAL)
        assert (await _from(short_wait, "10.7.7.8").get("/readyz")).status_code == 200
    finally:
        other.execute("ROLLBACK")
        other.close()
    await asyncio.sleep(0.6)  # the scenario: past the 0.5 s fail-fast window
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
                    time.sleep(0.02)  # frozen: hold the bytes until restored
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
        assert r.headers["retry-after"] == "1"  # ACTIVECOMMERCE_DB_RETRY_AFTER_SECONDS
        took.append(elapsed)
    return took


def _recovers(client: httpx.Client, base: str, key: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 15:
        r = client.get(f"{base}/v3/contacts", headers={"Api-Token": key})
        if r.status_code == 200:
            return time.monotonic() - started
        assert r.status_code == 503, r.text
        time.sleep(0.2)  # a poll with a deadline: the time to recover is what is measured
    raise AssertionError("did not recover within 15 s")


def test_postgres_outage_is_503_quickly_logged_once_and_recovers(
    pg_proxy: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    proxy, url = pg_proxy
    env = server_env(
        url,
        tmp_path,
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
        assert max(took) < 3.0, took
        assert len(took) >= 5, took
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


def test_a_busy_database_is_not_an_outage() -> None:
    """A timeout while other calls succeed is a 503 for that request alone; only when
    nothing has succeeded for a whole window does every request fail fast (frozen)."""
    availability = Availability("test", retry_after=0.2)
    availability.ok()
    refused = availability.timed_out(TimeoutError())
    assert isinstance(refused, DatabaseUnavailable)
    assert availability.down_since is None
    availability.check()  # nothing is failing fast
    time.sleep(0.25)  # the scenario: a whole 0.2 s window without a success
    availability.timed_out(TimeoutError())
    assert availability.down_since is not None
    with pytest.raises(DatabaseUnavailable):
        availability.check()
    time.sleep(0.25)  # the scenario: the fail-fast window passes
    availability.check()  # the probe goes through
    availability.ok()
    assert availability.down_since is None
