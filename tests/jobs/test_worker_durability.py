"""`kill -9` of a worker in the middle of deliveries loses nothing: another worker takes
the leased jobs once their lease expires, and every event still arrives (SPEC §1, §6)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from helpers import wait_until
from receiver import Receiver
from servers import CLI, cli_account, running_server, server_env
from standardwebhooks import Webhook


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _queued_deliveries(
    database_url: str, tmp_path: Path, receiver: Receiver, total: int, **settings: str
) -> tuple[dict[str, str], str]:
    """An API process without a worker: a webhook and `total` contact tags, whose
    deliveries wait in the database. Returns the environment and the webhook's secret."""
    env = server_env(
        database_url,
        tmp_path,
        ACTIVECOMMERCE_EMBEDDED_WORKER="false",
        **settings,
    )
    headers = {"Api-Token": cli_account(env)["sandboxApiKey"]}
    with running_server(env, tmp_path / "serve.log") as (base, _):
        hook = httpx.post(
            f"{base}/v3/webhooks",
            json={"url": receiver.url, "events": ["contactTag.created"]},
            headers=headers,
        ).json()
        for i in range(total):
            r = httpx.post(f"{base}/v3/contactTags", json={"name": f"t{i}"}, headers=headers)
            assert r.status_code == 201
    time.sleep(0.3)  # the scenario: time for a (wrong) delivery to show up
    assert receiver.received == []  # no worker yet: the jobs wait in the database
    return env, hook["secret"]


def test_kill_minus_nine_loses_nothing(database_url: str, tmp_path: Path) -> None:
    receiver = Receiver(reply=lambda _r, _n: (200, {}, 0.05))
    total = 40
    try:
        env, secret = _queued_deliveries(
            database_url,
            tmp_path,
            receiver,
            total,
            ACTIVECOMMERCE_JOB_LEASE_SECONDS="2",
            ACTIVECOMMERCE_WORKER_CONCURRENCY="4",
        )
        with worker_process(env, tmp_path / "worker-a.log") as first:
            wait_until(lambda: len(receiver.received) >= 8, 30, "the first deliveries")
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        killed_at = len(receiver.received)
        assert killed_at < total, "the worker finished before it could be killed"

        with (
            worker_process(env, tmp_path / "worker-b.log"),
            worker_process(env, tmp_path / "worker-c.log"),
        ):

            def ids() -> set[str]:
                return {r.headers["webhook-id"] for r in receiver.received}

            wait_until(lambda: len(ids()) >= total, 60, "every event")
            time.sleep(0.5)  # the scenario: time for any duplicate to show up

        verifier = Webhook(secret)
        names = {verifier.verify(r.body, r.headers)["data"]["name"] for r in receiver.received}
        assert names == {f"t{i}" for i in range(total)}
        # At least once: only what the killed worker held may arrive twice.
        duplicates = len(receiver.received) - total
        assert 0 <= duplicates <= 4, duplicates
    finally:
        receiver.close()


def test_two_workers_never_run_the_same_job(database_url: str, tmp_path: Path) -> None:
    receiver = Receiver(reply=lambda _r, _n: (200, {}, 0.01))
    total = 120
    try:
        env, _secret = _queued_deliveries(
            database_url, tmp_path, receiver, total, ACTIVECOMMERCE_WORKER_CONCURRENCY="8"
        )
        with (
            worker_process(env, tmp_path / "worker-1.log"),
            worker_process(env, tmp_path / "worker-2.log"),
        ):
            wait_until(lambda: len(receiver.received) >= total, 60, "every event")
            time.sleep(0.5)  # the scenario: time for any duplicate to show up
        ids = [r.headers["webhook-id"] for r in receiver.received]
        assert len(ids) == total
        assert len(set(ids)) == total
    finally:
        receiver.close()
