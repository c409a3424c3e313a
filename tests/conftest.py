"""Fixtures: a real database per test run (a SQLite file, or a PostgreSQL database made
for this run and dropped after it), the app with its lifespan, and fresh accounts."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from architecture.scope_check import ScopeCheck
from contract import asgi_client
from fastapi import FastAPI

from activecommerce.accounts.service import create_account
from activecommerce.app import create_app
from activecommerce.config import Settings
from activecommerce.kit import db
from activecommerce.kit.migrate import upgrade

# The console's browser fixtures (Chromium, a served app, a signed-in page).
pytest_plugins = ["browser"]

POSTGRES_ADMIN_URL = os.environ.get("ACTIVECOMMERCE_TEST_DATABASE_URL")


def _replace_dbname(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def own_database(directory: Path) -> Iterator[str]:
    """The URL of an empty database of its own, dropped after: a SQLite file in
    `directory`, or a PostgreSQL database (CREATE DATABASE with a random name) when the
    suite runs on PostgreSQL. Not migrated: callers run `upgrade`."""
    if not POSTGRES_ADMIN_URL:
        yield f"sqlite:///{directory / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    import psycopg

    name = f"ac_test_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _replace_dbname(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


SCOPE_CHECK = ScopeCheck()


@pytest.fixture(scope="session", autouse=True)
def scope_checked() -> Iterator[None]:
    """Every statement the application runs is checked for its tenant scope
    (tests/architecture/scope_check.py)."""
    db.observer = SCOPE_CHECK
    yield
    db.observer = None


@pytest.fixture(autouse=True)
def scoped_statements(scope_checked: None) -> Iterator[None]:
    """A test fails when a statement on account data ran unscoped while it ran (its own,
    or its app's and worker's in the background)."""
    yield
    found = SCOPE_CHECK.take()
    if found:
        pytest.fail(
            "statements on account data without the tenant scope:\n" + "\n".join(found),
            pytrace=False,
        )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with own_database(tmp_path_factory.mktemp("db")) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key="test-secret",
        rate_limit_enabled=False,
        # Fast webhook retries, a short timeout and loopback receivers for the tests.
        webhook_retry_schedule="0.2s,0.2s,0.2s,0.2s,0.2s,0.2s",
        webhook_timeout_seconds=1.0,
        webhook_disable_after=5,
        # ... and failing for at least this long (a burst of failures never disables).
        webhook_disable_after_seconds=0.5,
        webhook_allow_loopback=True,
        job_poll_interval=0.02,
        embedded_worker=True,  # on PostgreSQL too: the suite runs the worker in process
        # Synchronous tests block this session's event loop for many seconds; a query of
        # the embedded worker in flight meanwhile must not "time out" when the loop
        # resumes (the outage tests set short timeouts on servers of their own).
        db_acquire_timeout_seconds=120.0,
        db_statement_timeout_seconds=120.0,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


class Account:
    """A fresh account with a client per environment."""

    def __init__(self, app: FastAPI, info: dict[str, Any]) -> None:
        self.info = info
        self.id = info["accountId"]
        # Every response is checked against the OpenAPI document (tests/contract.py).
        self.sandbox = asgi_client(app, headers={"Api-Token": info["sandboxApiKey"]})
        self.live = asgi_client(app, headers={"Authorization": f"Bearer {info['liveApiKey']}"})

    async def close(self) -> None:
        await self.sandbox.aclose()
        await self.live.aclose()


async def _new_account(app: FastAPI, plan: str = "plus") -> Account:
    db = app.state.services.db
    secret = app.state.services.authenticator.secret
    info = await create_account(db, secret, name=f"Test {uuid.uuid4().hex[:6]}", plan=plan)
    return Account(app, info)


@pytest.fixture
async def account(app: FastAPI) -> AsyncIterator[Account]:
    acct = await _new_account(app)
    yield acct
    await acct.close()


@pytest.fixture
async def api(account: Account) -> httpx.AsyncClient:
    """The sandbox client of a fresh account."""
    return account.sandbox


@pytest.fixture
async def other(app: FastAPI) -> AsyncIterator[Account]:
    acct = await _new_account(app)
    yield acct
    await acct.close()


@pytest.fixture
def anon(app: FastAPI) -> httpx.AsyncClient:
    return asgi_client(app)


class Blackhole(str):
    """ "host:port" of a nameserver that reads queries and never answers; it tells how
    many lookups of a name have reached it (so that a test waits for them, not a while)."""

    sock: socket.socket
    seen: list[str]

    def lookups(self, name: str) -> int:
        """How many lookups of `name` (A queries: one per lookup) have arrived so far."""
        while True:
            try:
                packet = self.sock.recv(4096)
            except BlockingIOError:
                break
            at, labels = 12, []  # the question follows the 12-byte header
            while packet[at]:
                labels.append(packet[at + 1 : at + 1 + packet[at]].decode())
                at += packet[at] + 1
            if int.from_bytes(packet[at + 1 : at + 3], "big") == 1:  # QTYPE A
                self.seen.append(".".join(labels))
        return self.seen.count(name)


@pytest.fixture
def blackhole_dns() -> Iterator[Blackhole]:
    """A nameserver that reads queries and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    blackhole = Blackhole(f"127.0.0.1:{sock.getsockname()[1]}")
    blackhole.sock, blackhole.seen = sock, []
    yield blackhole
    sock.close()


@pytest.fixture
def dns_via(blackhole_dns: Blackhole, settings: Settings, app: FastAPI) -> Iterator[Blackhole]:
    """The app's webhook resolver pointed at the blackhole (1 s timeout), then back."""
    resolver = app.state.services.webhooks.resolver
    resolver.configure(1.0, [blackhole_dns])
    yield blackhole_dns
    resolver.configure(settings.dns_timeout_seconds, [])


@asynccontextmanager
async def fresh_database(tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own, migrated, so that the session's worker, with its settings,
    does not take the test's jobs."""
    with own_database(tmp_path) as url:
        await asyncio.to_thread(upgrade, url)
        yield url


@asynccontextmanager
async def running_app(settings: Settings, **overrides: object) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update=overrides))
    async with application.router.lifespan_context(application):
        yield application
