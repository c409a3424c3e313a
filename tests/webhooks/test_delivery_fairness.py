"""Robustness of webhook delivery: one tenant's dead receivers or dead DNS do not starve
another's deliveries; one object's events arrive once each and in order, also with slow
receivers, short leases and two workers; a short outage loses no event; a disabled
webhook's events are recorded as skipped."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import _new_account, fresh_database, running_app
from helpers import new_hook as _hook
from helpers import wait_for
from receiver import Received, Receiver
from standardwebhooks import Webhook

from activecommerce.config import Settings


async def _deliveries(api: httpx.AsyncClient, hook_id: str) -> list[dict[str, Any]]:
    r = await api.get(f"/v3/webhooks/{hook_id}/deliveries", params={"pageSize": 100})
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["data"]))  # oldest first


# --- 3/4: DNS that never answers, and receivers that hang, starve no one ---------------


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
        async with (
            fresh_database(tmp_path) as url,
            running_app(
                settings,
                database_url=url,
                webhook_disable_after=1000,
                dns_servers=dns_via,
                dns_timeout_seconds=1.0,
            ) as application,
        ):
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
    a_hooks: list[dict[str, Any]] = []
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

    async def b_logged() -> bool:
        return len(await _deliveries(b, b_hook["id"])) >= 10

    await wait_for(b_logged, 5.0, "B's deliveries in the log")
    log = await _deliveries(b, b_hook["id"])
    assert [d["outcome"] for d in log] == ["delivered"] * 10
    assert all(d["error"] is None for d in log)
    shown = (await b.get(f"/v3/webhooks/{b_hook['id']}")).json()
    assert shown["consecutiveFailures"] == 0
    assert shown["active"] is True
    # A's attempts fail as A's own: the lookup timed out, or the receiver did.
    dns = {f"refused: h{i}.blackhole.test does not resolve (DNS timed out)" for i in range(3)}

    async def both_failures_seen() -> bool:
        errors = {d["error"] for h in a_hooks for d in await _deliveries(a, h["id"])}
        assert errors <= {"timed out", *dns}, errors  # never any other error
        return bool(dns & errors) and "timed out" in errors

    await wait_for(both_failures_seen, 10.0, "A's DNS and receiver timeouts", interval=0.1)
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
        async with fresh_database(tmp_path) as url:  # noqa: SIM117 - the apps need its url
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
                    await asyncio.sleep(1.5)  # the scenario: time for any duplicate to show
                    ids = [r.headers["webhook-id"] for r in receiver.received]
                    assert len(ids) == 10, ids
                    assert len(set(ids)) == 10, ids
                    names = _names(hook["secret"], receiver.received)
                    for c in contacts:
                        mine = [x for x in names if x.startswith(f"{c['id']}-")]
                        assert mine == [f"{c['id']}-{n}" for n in range(5)], names
                    log = await _deliveries(api, hook["id"])
                    assert len(log) == 10
                    assert {d["attempt"] for d in log} == {1}
                finally:
                    await acct.close()
    finally:
        receiver.close()


# --- 6: an outage loses nothing; a disabled webhook's events are skipped, not lost -----


async def test_short_outage_loses_no_event(settings: Settings, tmp_path: Path) -> None:
    # The receiver is down for its first DOWN answers (503), however long they take to come.
    down = 8
    receiver = Receiver(reply=lambda _r, n: (503, {}, 0.0) if n <= down else (200, {}, 0.0))
    try:
        async with (
            fresh_database(tmp_path) as url,
            running_app(
                settings,
                database_url=url,
                webhook_retry_schedule="0.3s,0.3s,0.3s,0.3s,0.3s,0.3s,0.3s,0.3s,0.3s,0.3s",
                webhook_disable_after=5,
                webhook_disable_after_seconds=60.0,
            ) as application,
        ):
            acct = await _new_account(application)
            try:
                api = acct.sandbox
                hook = await _hook(api, receiver.url, ["contact.created"])
                emails = [f"down{i}@x.io" for i in range(30)]
                for email in emails:
                    assert (await api.post("/v3/contacts", json={"email": email})).is_success
                db = application.state.services.db

                async def failures() -> int:
                    failed = await db.fetchone(
                        "SELECT count(*) AS n FROM webhook_deliveries"
                        " WHERE webhook_id = ? AND outcome = ?",
                        (int(hook["id"]), "failed"),
                    )
                    return int(failed["n"])

                async def outage_recorded() -> bool:
                    return await failures() >= down

                await wait_for(outage_recorded, 10.0, "the outage's failures")
                shown = (await api.get(f"/v3/webhooks/{hook['id']}")).json()
                assert shown["active"] is True  # a burst of failures does not disable
                later = [f"later{i}@x.io" for i in range(10)]
                for email in later:
                    assert (await api.post("/v3/contacts", json={"email": email})).is_success

                def delivered() -> set[str]:
                    verifier = Webhook(hook["secret"])
                    return {
                        verifier.verify(r.body, r.headers)["data"]["email"]
                        for r in receiver.received[down:]
                    }

                await wait_for(lambda: delivered() >= {*emails, *later}, 20.0, "every event")
                shown = (await api.get(f"/v3/webhooks/{hook['id']}")).json()
                assert shown["active"] is True
                assert shown["consecutiveFailures"] == 0
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

        async def disabled() -> bool:
            return not (await api.get(path)).json()["active"]

        await wait_for(disabled, 10.0, "the webhook disabled")
        for i in range(2):  # events while it is off
            r = await api.patch(f"/v3/contacts/{contact['id']}", json={"lastName": f"off{i}"})
            assert r.status_code == 200

        async def all_logged() -> bool:
            return len(await _deliveries(api, hook["id"])) >= 7

        await wait_for(all_logged, 10.0, "seven deliveries in the log")
        log = await _deliveries(api, hook["id"])
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
