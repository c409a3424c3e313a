"""Robustness of the queue and of webhook delivery: one tenant's dead receivers or dead
DNS do not starve another's deliveries; one object's events arrive once each and in
order, also with slow receivers, short leases and two workers; a short outage loses no
event; a disabled webhook's events are recorded as skipped; bad hosts are a 422; old
events are pruned; refusals do not name addresses; a database outage is logged once."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from conftest import POSTGRES_ADMIN_URL, Account, _new_account, _replace_dbname
from fastapi import FastAPI
from helpers import field_errors
from receiver import Received, Receiver
from standardwebhooks import Webhook

from activecommerce.app import create_app
from activecommerce.config import Settings
from activecommerce.jobs import queue
from activecommerce.jobs.queue import Job
from activecommerce.jobs.retention import prune_events
from activecommerce.jobs.worker import Worker
from activecommerce.kit.clock import now
from activecommerce.kit.db import connect
from activecommerce.kit.migrate import upgrade
from activecommerce.webhooks import ssrf
from activecommerce.webhooks.ssrf import Policy, UnsafeAddress, checked_address


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _hook(api: httpx.AsyncClient, url: str, events: list[str]) -> dict:
    r = await api.post("/v3/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    return r.json()


async def _deliveries(api: httpx.AsyncClient, hook_id: str) -> list[dict]:
    r = await api.get(f"/v3/webhooks/{hook_id}/deliveries", params={"pageSize": 100})
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["data"]))  # oldest first


@asynccontextmanager
async def fresh_database(tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own (SQLite file, or a PostgreSQL database when the suite runs
    on PostgreSQL), so that the session's worker, with its settings, does not take the
    test's jobs."""
    if not POSTGRES_ADMIN_URL:
        url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    import psycopg

    name = f"ac_test_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _replace_dbname(admin, name)
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def running_app(settings: Settings, **overrides: object) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update=overrides))
    async with application.router.lifespan_context(application):
        yield application


# --- 3/4: DNS that never answers, and receivers that hang, starve no one ---------------


async def test_blackhole_dns_times_out_on_its_own_and_blocks_no_other_lookup(
    dns_via: str,
) -> None:
    started = time.monotonic()
    lookups = [
        asyncio.ensure_future(checked_address(f"http://n{i}.blackhole.test/", Policy()))
        for i in range(60)
    ]
    await asyncio.sleep(0.1)
    # Meanwhile /etc/hosts still answers at once, and IP literals are never resolved.
    local = await checked_address("http://localhost:80/", Policy(allow_loopback=True))
    assert str(local) == "127.0.0.1"
    assert time.monotonic() - started < 0.5
    assert str(await checked_address("http://8.8.4.4/", Policy())) == "8.8.4.4"
    results = await asyncio.gather(*lookups, return_exceptions=True)
    elapsed = time.monotonic() - started
    assert all(isinstance(r, UnsafeAddress) for r in results), results[:3]
    assert "does not resolve" in str(results[0])
    assert elapsed < 4.0, elapsed  # all at once, in about the 1 s timeout


async def test_dead_receivers_and_dns_of_one_account_do_not_starve_another(
    settings: Settings, tmp_path: Path, dns_via: str
) -> None:
    """Account A: webhooks to a receiver that hangs past the timeout and to names whose
    DNS never answers, 360 deliveries due first. Account B's 10 deliveries to a healthy
    receiver still arrive at once, with no failure counted against B. (Its own app on its
    own database, so that A's webhooks are not disabled during the test.)"""
    hanging = Receiver(reply=lambda _r, _n: (200, {}, 3.0))  # beyond the 1 s timeout
    healthy = Receiver()
    try:
        async with fresh_database(tmp_path) as url:
            async with running_app(
                settings,
                database_url=url,
                webhook_disable_after=1000,
                dns_servers=dns_via,
                dns_timeout_seconds=1.0,
            ) as application:
                first, second = await _new_account(application), await _new_account(application)
                try:
                    await _starve(first.sandbox, second.sandbox, hanging, healthy)
                finally:
                    await first.close()
                    await second.close()
    finally:
        hanging.close()
        healthy.close()


async def _starve(
    a: httpx.AsyncClient, b: httpx.AsyncClient, hanging: Receiver, healthy: Receiver
) -> None:
    a_hooks: list[dict] = []
    for i in range(6):
        a_hooks.append(await _hook(a, f"{hanging.url}/{i}", ["contactTag.created"]))
    for i in range(3):
        a_hooks.append(await _hook(a, f"http://h{i}.blackhole.test/", ["contactTag.created"]))
    for i in range(40):  # 360 deliveries of A's, all due before B's
        assert (await a.post("/v3/contactTags", json={"name": f"a{i}"})).status_code == 201
    # B's receiver is named (localhost), so its deliveries need a lookup too.
    port = healthy.server.server_address[1]
    b_hook = await _hook(b, f"http://localhost:{port}/b", ["contactTag.created"])
    sent: dict[str, float] = {}
    for i in range(10):
        sent[f"b{i}"] = time.monotonic()
        assert (await b.post("/v3/contactTags", json={"name": f"b{i}"})).status_code == 201
    await wait_for(lambda: len(healthy.received) >= 10, 8.0, "B's deliveries")
    verifier = Webhook(b_hook["secret"])
    for got in healthy.received:
        name = verifier.verify(got.body, got.headers)["data"]["name"]
        # Before: behind A's 240 one-second timeouts in 32 shared slots (7 s and more).
        assert got.at - sent[name] < 2.5, (name, got.at - sent[name])
    deadline = time.monotonic() + 5
    while len(log := await _deliveries(b, b_hook["id"])) < 10:
        assert time.monotonic() < deadline, log
        await asyncio.sleep(0.05)
    assert [d["outcome"] for d in log] == ["delivered"] * 10
    assert all(d["error"] is None for d in log)
    shown = (await b.get(f"/v3/webhooks/{b_hook['id']}")).json()
    assert shown["consecutiveFailures"] == 0 and shown["active"] is True
    # A's attempts fail as A's own: the lookup timed out, or the receiver did.
    dns = {f"refused: h{i}.blackhole.test does not resolve (DNS timed out)" for i in range(3)}
    deadline = time.monotonic() + 10
    while True:
        errors = {d["error"] for h in a_hooks for d in await _deliveries(a, h["id"])}
        assert errors <= {"timed out", *dns}, errors
        if dns & errors and "timed out" in errors:
            break
        assert time.monotonic() < deadline, errors
        await asyncio.sleep(0.1)
    for h in a_hooks:  # their remaining jobs end at once
        await a.delete(f"/v3/webhooks/{h['id']}")


# --- 5: one object's events, once each and in order ------------------------------------


def _names(secret: str, received: list[Received]) -> list[str]:
    return [Webhook(secret).verify(r.body, r.headers)["data"]["lastName"] for r in received]


async def test_slow_receiver_short_lease_two_workers_once_each_in_order(
    settings: Settings, tmp_path: Path
) -> None:
    """A receiver slower than the lease, two workers on one database: every event of an
    object arrives exactly once, in order (the leases of running jobs are extended, only
    a chain's head is claimed, and a worker sends only what it still holds)."""
    receiver = Receiver(reply=lambda _r, _n: (200, {}, 0.6))
    fast = {
        "job_lease_seconds": 1.0,
        "webhook_timeout_seconds": 5.0,
        "embedded_worker": True,
    }
    try:
        async with fresh_database(tmp_path) as url:
            async with (
                running_app(settings, database_url=url, **fast) as first,
                running_app(settings, database_url=url, **fast) as _second,
            ):
                acct = await _new_account(first)
                try:
                    api = acct.sandbox
                    hook = await _hook(api, receiver.url, ["contact.updated"])
                    contacts = [
                        (await api.post("/v3/contacts", json={"email": f"o{i}@x.io"})).json()
                        for i in range(2)
                    ]
                    for n in range(5):
                        for c in contacts:
                            r = await api.patch(
                                f"/v3/contacts/{c['id']}", json={"lastName": f"{c['id']}-{n}"}
                            )
                            assert r.status_code == 200
                    await wait_for(lambda: len(receiver.received) >= 10, 30.0, "deliveries")
                    await asyncio.sleep(1.5)  # time for any duplicate to show
                    ids = [r.headers["webhook-id"] for r in receiver.received]
                    assert len(ids) == 10 and len(set(ids)) == 10, ids
                    names = _names(hook["secret"], receiver.received)
                    for c in contacts:
                        mine = [x for x in names if x.startswith(f"{c['id']}-")]
                        assert mine == [f"{c['id']}-{n}" for n in range(5)], names
                    log = await _deliveries(api, hook["id"])
                    assert len(log) == 10 and {d["attempt"] for d in log} == {1}
                finally:
                    await acct.close()
    finally:
        receiver.close()


# --- 6: an outage loses nothing; a disabled webhook's events are skipped, not lost -----


async def test_short_outage_loses_no_event(settings: Settings, tmp_path: Path) -> None:
    down_until = time.monotonic() + 1.5
    receiver = Receiver(reply=lambda r, _n: (503, {}, 0.0) if r.at < down_until else (200, {}, 0.0))
    try:
        async with fresh_database(tmp_path) as url:
            async with running_app(
                settings,
                database_url=url,
                webhook_retry_schedule="0.3s,0.3s,0.3s,0.3s,0.3s,0.3s,0.3s,0.3s,0.3s,0.3s",
                webhook_disable_after=5,
                webhook_disable_after_seconds=60.0,
            ) as application:
                acct = await _new_account(application)
                try:
                    api = acct.sandbox
                    hook = await _hook(api, receiver.url, ["contact.created"])
                    emails = [f"down{i}@x.io" for i in range(30)]
                    for email in emails:
                        assert (await api.post("/v3/contacts", json={"email": email})).is_success
                    await wait_for(lambda: time.monotonic() > down_until, 5.0, "the outage")
                    shown = (await api.get(f"/v3/webhooks/{hook['id']}")).json()
                    assert shown["active"] is True  # a burst of failures does not disable
                    failed = await application.state.services.db.fetchone(
                        "SELECT count(*) AS n FROM webhook_deliveries"
                        " WHERE webhook_id = ? AND outcome = ?",
                        (int(hook["id"]), "failed"),
                    )
                    assert failed["n"] >= 5
                    later = [f"later{i}@x.io" for i in range(10)]
                    for email in later:
                        assert (await api.post("/v3/contacts", json={"email": email})).is_success

                    def delivered() -> set[str]:
                        verifier = Webhook(hook["secret"])
                        return {
                            verifier.verify(r.body, r.headers)["data"]["email"]
                            for r in receiver.received
                            if r.at >= down_until
                        }

                    await wait_for(lambda: delivered() >= {*emails, *later}, 20.0, "every event")
                    shown = (await api.get(f"/v3/webhooks/{hook['id']}")).json()
                    assert shown["active"] is True and shown["consecutiveFailures"] == 0
                finally:
                    await acct.close()
    finally:
        receiver.close()


async def test_disabled_webhook_records_skips_that_can_be_retried(api: httpx.AsyncClient) -> None:
    # The first delivery answers 410 Gone (slowly, so that later events queue behind it in
    # the object's chain): the webhook is disabled at once.
    receiver = Receiver(reply=lambda _r, n: (410, {}, 0.5) if n == 1 else (200, {}, 0.0))
    try:
        hook = await _hook(api, receiver.url, ["contact.created", "contact.updated"])
        contact = (await api.post("/v3/contacts", json={"email": "skip@x.io"})).json()
        for i in range(4):
            r = await api.patch(f"/v3/contacts/{contact['id']}", json={"lastName": f"q{i}"})
            assert r.status_code == 200
        path = f"/v3/webhooks/{hook['id']}"
        await wait_for(lambda: len(receiver.received) >= 1, 10.0, "the first delivery")
        deadline = time.monotonic() + 10
        while (await api.get(path)).json()["active"]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        for i in range(2):  # events while it is off
            r = await api.patch(f"/v3/contacts/{contact['id']}", json={"lastName": f"off{i}"})
            assert r.status_code == 200
        deadline = time.monotonic() + 10
        while len(log := await _deliveries(api, hook["id"])) < 7:
            assert time.monotonic() < deadline, log
            await asyncio.sleep(0.05)
        assert [d["outcome"] for d in log] == ["failed"] + ["skipped"] * 6
        assert log[0]["statusCode"] == 410
        assert all("disabled" in d["error"] and "410" in d["error"] for d in log[1:])
        assert len(receiver.received) == 1

        assert (await api.patch(path, json={"active": True})).json()["active"] is True
        for d in log[1:]:
            r = await api.post(f"{path}/deliveries/{d['id']}/retry")
            assert r.status_code == 202, r.text
        await wait_for(lambda: len(receiver.received) >= 7, 10.0, "the retried deliveries")
        verifier = Webhook(hook["secret"])
        names = sorted(
            str(verifier.verify(r.body, r.headers)["data"].get("lastName"))
            for r in receiver.received[1:]
        )
        assert names == sorted(["q0", "q1", "q2", "q3", "off0", "off1"])
    finally:
        receiver.close()


# --- 8: bad hosts are a 422, never a 500 -------------------------------------------------


async def test_bad_webhook_hosts_are_422(api: httpx.AsyncClient) -> None:
    for url in (
        "http://a..b/",
        f"http://{'x' * 64}.example.com/",
        "http://.com/",
        "http://-lead.example.com/",
        "http://trail-.example.com/",
        "http:///nohost",
        "http://[::1/",
        "http://" + ".".join(["abcdefghi"] * 26) + "/",  # 259 characters
    ):
        r = await api.post("/v3/webhooks", json={"url": url, "events": ["*"]})
        assert field_errors(r) == {"url"}, (url, r.text)
    for url in ("http://bücher.example/", "http://[::1]:9/", "http://a_b.example.com./"):
        r = await api.post("/v3/webhooks", json={"url": url, "events": ["*"]})
        assert r.status_code == 201, (url, r.text)
    # A bad name already stored (from before this check) fails its delivery, no crash.
    with pytest.raises(UnsafeAddress):
        await checked_address("http://a..b/", Policy())


# --- 9b: old events are pruned -----------------------------------------------------------


async def test_old_events_are_pruned_recent_and_needed_ones_kept(
    app: FastAPI, account: Account
) -> None:
    db = app.state.services.db
    acct = int(account.id)
    old = "2020-01-01T00:00:00.000000Z"

    async def event(created_at: str) -> int:
        async with db.transaction() as conn:
            row = await conn.fetchone(
                "INSERT INTO events (account_id, env, type, data, created_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (acct, "sandbox", "contact.created", '{"id": "1"}', created_at),
            )
        return int(row["id"])

    hook = await _hook(account.sandbox, "http://127.0.0.1:1/x", ["contactGroup.created"])
    olds = [await event(old) for _ in range(7)]
    recent = await event(now())
    needed = await event(old)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO webhook_deliveries (account_id, env, webhook_id, event_id, event_type,"
            " attempt, status_code, duration_ms, error, created_at, outcome)"
            " VALUES (?, ?, ?, ?, ?, 1, 200, 1, NULL, ?, 'delivered')",
            (acct, "sandbox", int(hook["id"]), olds[0], "contact.created", old),
        )
        # A job that still needs its (old) event, due only much later.
        await queue.enqueue(
            conn, "test.never", {"event_id": needed}, delay_seconds=3600, event_id=needed
        )
    pruned = await prune_events(db, 30, batch=3)  # several small batches
    assert pruned >= 7
    left = {
        int(r["id"])
        for r in await db.fetchall("SELECT id FROM events WHERE account_id = ?", (acct,))
    }
    assert not left & set(olds)
    assert {recent, needed} <= left
    gone = await db.fetchall("SELECT id FROM webhook_deliveries WHERE event_id = ?", (olds[0],))
    assert gone == []  # the delivery went with its event
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM jobs WHERE event_id = ?", (needed,))


# --- 13a: refusals do not name the address -----------------------------------------------


async def test_refusal_does_not_name_the_resolved_address() -> None:
    with pytest.raises(UnsafeAddress) as refused:
        await checked_address("http://localhost:80/hook", Policy())
    message = str(refused.value)
    assert message == "localhost resolves to a loopback address"
    assert "127.0.0.1" not in message and "::1" not in message
    reason = await ssrf.creation_refusal("http://localhost:80/", Policy())
    assert reason is not None and "127.0.0.1" not in reason


# --- the claim loop logs a database outage once ------------------------------------------


async def test_claim_failures_are_logged_once_and_recovery_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'outage.db'}"
    await asyncio.to_thread(upgrade, url)
    db = await connect(url)
    done: list[int] = []

    async def ok(job: Job, worker_id: str) -> None:
        done.append(job.id)
        async with db.transaction() as conn:
            await queue.finish(conn, job, worker_id)

    worker = Worker(db, {"test.ok": ok}, poll_interval=0.01)
    caplog.set_level(logging.INFO, logger="activecommerce.worker")
    task = asyncio.create_task(worker.run())
    try:
        async with db.transaction() as conn:  # the queue "goes down"
            await conn.execute("ALTER TABLE jobs RENAME TO jobs_away")
        await asyncio.sleep(1.6)  # several failed polls
        async with db.transaction() as conn:
            await conn.execute("ALTER TABLE jobs_away RENAME TO jobs")
            await queue.enqueue(conn, "test.ok", {})
        await wait_for(lambda: len(done) == 1, 5.0, "the job after recovery")
    finally:
        worker.stop()
        await task
        await db.close()
    failed = [r for r in caplog.records if "claiming jobs failed" in r.getMessage()]
    recovered = [r for r in caplog.records if "claiming jobs works again" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None
    assert len(recovered) == 1
