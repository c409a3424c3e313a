"""Delivers one event to one webhook (a `webhook.deliver` job), signed per Standard
Webhooks, and records the attempt; retries with exponential backoff and jitter."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import aiohttp
import orjson
from standardwebhooks import Webhook
from yarl import URL

from activecommerce.config import Settings
from activecommerce.jobs import payloads, queue
from activecommerce.jobs.queue import Job
from activecommerce.kit import events
from activecommerce.kit.clock import now, parse
from activecommerce.kit.db import Database, ForeignKeyViolation, Row
from activecommerce.kit.fields import ascii_digits
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped
from activecommerce.webhooks import repository
from activecommerce.webhooks.events import TEST_EVENT
from activecommerce.webhooks.service import WebhookConfig, event_ref
from activecommerce.webhooks.ssrf import UnsafeAddress, checked_address, target

log = logging.getLogger("activecommerce.webhooks")

MAX_RETRY_AFTER = 24 * 3600.0


def payload(event: Row) -> bytes:
    # The stored event data is already the API's JSON: embed it without re-encoding.
    data: str = event["data"]
    return (
        b'{"type":'
        + orjson.dumps(event["type"])
        + b',"timestamp":'
        + orjson.dumps(event["created_at"])
        + b',"data":'
        + data.encode()
        + b"}"
    )


def _skip_reason(hook: Row, event: Row) -> str | None:
    """Why the delivery is not sent but recorded as skipped: the webhook is off (a test
    ping, sent by hand, goes out all the same)."""
    if hook["active"] or event["type"] == TEST_EVENT:
        return None
    why = hook["disabled_reason"] or "turned off"
    return f"skipped: the webhook was disabled ({why})"[:500]


def _wanted(hook: Row, event: Row) -> bool:
    """Whether the event is for this webhook at all: the webhook belongs to the event's
    account and environment, and still subscribes to its type."""
    if (hook["account_id"], hook["env"]) != (event["account_id"], event["env"]):
        return False
    if event["type"] == TEST_EVENT:
        return True  # queued for this webhook alone
    wanted = orjson.loads(hook["events"])
    return "*" in wanted or event["type"] in wanted


def _retry_after(status: int, value: str) -> float | None:
    if status not in (429, 503) or not ascii_digits(value):
        return None
    return min(float(value), MAX_RETRY_AFTER)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None
    error: str | None
    duration_ms: int
    retry_after: float | None  # seconds, from a 429 or 503
    skipped: bool = False  # not sent: the webhook is off


class Deliverer:
    """Sends with aiohttp rather than httpx: to one local receiver with 8 requests in
    flight, httpx's pool managed 1,300 requests/s of client CPU and aiohttp 10,900
    (docs/decisions/005-webhook-http-client.md)."""

    def __init__(self, db: Database, settings: Settings, config: WebhookConfig) -> None:
        self.db = db
        self.config = config
        self.delays = settings.retry_delays
        self.disable_after = settings.webhook_disable_after
        self.disable_after_seconds = settings.webhook_disable_after_seconds
        self.timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_seconds)
        self.per_host = settings.webhook_connections_per_host
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop (aiohttp binds to it).
        if self._session is None:
            self._session = aiohttp.ClientSession(
                # At most `per_host` requests in flight to one receiver, to spare it.
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=self.per_host),
                headers={"user-agent": "ActiveCommerce-Webhooks/1"},
                timeout=self.timeout,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __call__(self, job: Job, worker_id: str) -> None:
        wanted = cast(payloads.WebhookDelivery, job.payload)
        hook = await repository.system_by_id(self.db, wanted["webhook_id"])
        event = await events.system_by_id(self.db, wanted["event_id"])
        if hook is None or event is None or not _wanted(hook, event):
            # Deleted webhook (its deliveries went with it), a pruned event, or a type the
            # webhook no longer wants.
            async with self.db.transaction() as conn:
                await queue.system_finish(conn, job, worker_id)
            return
        skipped = _skip_reason(hook, event)
        if skipped is not None:
            # Never dropped silently: listed as skipped, and can be sent again by hand.
            outcome = Outcome(None, skipped, 0, None, skipped=True)
            await self._write(job, worker_id, hook, event, outcome)
            return
        if not await queue.system_owns(self.db, job, worker_id):
            # The lease ran out and another worker (or this one) took the job again.
            log.warning("job %s is no longer held by %s; not sending", job.id, worker_id)
            return
        outcome = await self._send(hook, event)
        await self._write(job, worker_id, hook, event, outcome)

    async def _write(
        self, job: Job, worker_id: str, hook: Row, event: Row, outcome: Outcome
    ) -> None:
        try:
            await self._record(job, worker_id, hook, event, outcome)
        except ForeignKeyViolation:
            # The webhook was deleted while this attempt was in flight: nothing to record.
            async with self.db.transaction() as conn:
                await queue.system_finish(conn, job, worker_id)

    async def _send(self, hook: Row, event: Row) -> Outcome:
        body = payload(event)
        msg_id = event_ref(event["id"])  # the same for every attempt, as the spec requires
        sent_at = datetime.now(UTC)
        secret = self.config.sealer().open(hook["secret_encrypted"])
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, sent_at, body.decode()),
        }
        started = time.perf_counter()
        status = None
        error = None
        retry_after = None
        try:
            address = await checked_address(hook["url"], self.config.policy(hook["env"]))
            scheme, host, port = target(hook["url"])
            url = URL(hook["url"])
            # Connect to the address that was checked; keep Host and the TLS name the URL's.
            pinned = url.with_host(str(address)).with_port(port)
            raw_host = url.raw_host or host
            name = f"[{raw_host}]" if ":" in raw_host else raw_host
            headers["host"] = name if url.is_default_port() else f"{name}:{url.port}"
            async with self.session().post(
                pinned,
                data=body,
                headers=headers,
                allow_redirects=False,
                server_hostname=host if scheme == "https" else None,
            ) as response:
                await response.read()
                status = response.status
                retry_after = _retry_after(status, response.headers.get("retry-after", ""))
        except UnsafeAddress as exc:
            error = f"refused: {exc}"
        except TimeoutError:
            error = "timed out"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = f"connection failed: {type(exc).__name__}: {exc}"[:500]
        duration_ms = int((time.perf_counter() - started) * 1000)
        return Outcome(status, error, duration_ms, retry_after)

    async def _record(
        self, job: Job, worker_id: str, hook: Row, event: Row, outcome: Outcome
    ) -> None:
        status, error = outcome.status, outcome.error
        ok = status is not None and 200 <= status < 300
        skipped = outcome.skipped
        if status is not None and not ok and error is None:
            error = f"HTTP {status}"
        result = "delivered" if ok else "skipped" if skipped else "failed"
        moment = now()
        async with self.db.transaction() as conn:
            # Only what this worker still holds: a job whose lease was lost is recorded
            # by the worker that holds it now.
            if not await queue.system_lock_if_leased(conn, job, worker_id):
                log.warning("job %s was taken over; its attempt is not recorded here", job.id)
                return
            scope = Scoped(conn, Principal.acting_for(hook["account_id"], hook["env"]))
            await repository.insert_delivery(
                scope,
                hook["id"],
                event,
                attempt=job.attempts,
                status_code=status,
                duration_ms=outcome.duration_ms,
                error=error,
                created_at=moment,
                outcome=result,
            )
            if skipped or event["type"] == TEST_EVENT:
                # A test ping is tried once and says nothing of the webhook's health.
                await queue.system_finish(conn, job, worker_id)
                return
            if ok:
                if hook["consecutive_failures"] or hook["failing_since"]:
                    await repository.end_failure_streak(scope, hook["id"])
                await queue.system_finish(conn, job, worker_id)
                return
            if status == 410:
                await self._disable(scope, hook["id"], "The endpoint answered 410 Gone.")
                await queue.system_finish(conn, job, worker_id)
                return
            # A streak of failures: how many, and since when (a success ends it).
            failures, since = await repository.count_failure(scope, hook["id"], moment)
            streak = _seconds_between(since, moment)
            if failures >= self.disable_after and streak >= self.disable_after_seconds:
                # Failing steadily for long (Stripe-like), not a burst of one short outage.
                await self._disable(
                    scope,
                    hook["id"],
                    f"Disabled after {failures} consecutive failed deliveries"
                    f" over {_duration(streak)}.",
                )
                await queue.system_finish(conn, job, worker_id)  # recorded above: retry by hand
                return
            if job.attempts > len(self.delays):
                await queue.system_finish(conn, job, worker_id)  # the schedule is spent
                return
            delay = self.delays[job.attempts - 1] * random.uniform(0.9, 1.1)  # noqa: S311 - jitter
            if outcome.retry_after is not None:
                delay = max(outcome.retry_after, 1.0)
            await queue.system_retry_at(conn, job, worker_id, delay)

    @staticmethod
    async def _disable(scope: Scoped, webhook_id: int, reason: str) -> None:
        log.warning("webhook %s disabled: %s", webhook_id, reason)
        await repository.disable(scope, webhook_id, reason, now())


def _seconds_between(earlier: str, later: str) -> float:
    return (parse(later) - parse(earlier)).total_seconds()


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds:.1f} seconds"
