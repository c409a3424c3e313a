"""Webhooks: endpoints with an encrypted signing secret, the fan-out of events to them,
their delivery log, and the rules of docs/guides/webhooks.md."""

from __future__ import annotations

from typing import Any, TypedDict

import orjson

from activecommerce.config import Settings
from activecommerce.jobs import payloads, queue
from activecommerce.kit import events
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.fields import parse_id, patch_model_of
from activecommerce.kit.pagination import Envelope, envelope
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, invalid, not_found
from activecommerce.kit.repository import Scoped
from activecommerce.kit.resource import Resource, Rules
from activecommerce.kit.security import SecretBox, new_webhook_secret
from activecommerce.webhooks import models, repository, ssrf
from activecommerce.webhooks.events import TEST_EVENT
from activecommerce.webhooks.schemas import WebhookIn, WebhookOut, WebhookWithSecret
from activecommerce.webhooks.ssrf import Policy, creation_refusal

DELIVER = "webhook.deliver"


class WebhookConfig:
    """What webhooks need from their process, made by its composition root (`create_app`,
    the `worker` command) and handed to the rules, the routes and the deliverer: the
    address policy, a resolver of its own, and the secret box (from the server secret,
    known once the database is open: `configure`)."""

    def __init__(self) -> None:
        self.box: SecretBox | None = None
        self.allow_loopback = False
        self.allow_private = False
        self.resolver = ssrf.Resolver()

    def configure(self, settings: Settings, server_secret: bytes) -> None:
        self.box = SecretBox(server_secret)
        self.allow_loopback = settings.webhook_allow_loopback
        self.allow_private = settings.webhook_allow_private
        servers = [part.strip() for part in settings.dns_servers.split(",") if part.strip()]
        self.resolver.configure(settings.dns_timeout_seconds, servers)

    def policy(self, env: str) -> Policy:
        return Policy(
            allow_loopback=self.allow_loopback or env == "sandbox",
            allow_private=self.allow_private,
            resolver=self.resolver,
        )

    def sealer(self) -> SecretBox:
        if self.box is None:
            raise RuntimeError("WebhookConfig.configure() was not called")
        return self.box


class WebhookRules(Rules[WebhookIn]):
    def __init__(self, config: WebhookConfig) -> None:
        self.config = config

    async def check(self, principal: Principal, sent: dict[str, Any]) -> None:
        # A DNS lookup: before the transaction, never while holding the writer.
        if sent.get("url"):
            reason = await creation_refusal(sent["url"], self.config.policy(principal.env))
            if reason:
                raise invalid("url", f"is refused: {reason}")

    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        new: WebhookIn,
        current: dict[str, Any] | None,
    ) -> dict[str, Any]:
        values = await super().prepare(conn, principal, new, current)
        if current is None:
            # The plain secret is shown once, in the creation response (created_model).
            secret = new_webhook_secret()
            values = {
                **values,
                "secret": secret,
                "secretEncrypted": self.config.sealer().seal(secret),
            }
        # Turning a webhook on clears why it was off and starts a new failure streak (a
        # streak counted from days ago would disable it again at the first blip).
        if current is None or (new.active and not current["active"]):
            values = {
                **values,
                "disabledReason": None,
                "consecutiveFailures": 0,
                "failingSince": None,
            }
        return values


def webhooks_resource(config: WebhookConfig) -> Resource:
    """The webhooks collection with the rules of one process's configuration."""
    return Resource(
        collection="webhooks",
        event_name="webhook",
        table=models.webhooks,
        title="webhook",
        create_model=WebhookIn,
        patch_model=patch_model_of(WebhookIn),
        out_model=WebhookOut,
        created_model=WebhookWithSecret,
        sortable={"createdAt": "created_at", "updatedAt": "updated_at"},
        rules=WebhookRules(config),
        stream_lists=True,  # descriptions may be long
    )


async def _queue_delivery(
    conn: Connection, account_id: int, webhook_id: int, event_id: int, order_key: str | None
) -> None:
    payload: payloads.WebhookDelivery = {"webhook_id": webhook_id, "event_id": event_id}
    await queue.enqueue(
        conn,
        DELIVER,
        payload,
        account_id=account_id,
        # One webhook is one receiver: a worker gives it at most its share of the slots.
        lane=f"webhook:{webhook_id}",
        order_key=order_key,
        event_id=event_id,
    )


async def fan_out(
    conn: Connection,
    principal: Principal,
    event_id: int,
    event_type: str,
    object_id: str,
    data: dict[str, Any],
) -> None:
    """Queue a delivery of the event to each webhook of the same account and environment
    that wants it (sandbox events reach sandbox webhooks only). A disabled webhook gets
    one too: it is recorded as skipped, so that no event is dropped silently, and can be
    sent by hand once the webhook is on again."""
    for row in await repository.subscribers(Scoped(conn, principal)):
        wanted = orjson.loads(row["events"])
        if "*" in wanted or event_type in wanted:
            # One object's events reach one webhook in order (one chain per pair).
            order_key = None
            if object_id:
                order_key = f"{row['id']}:{event_type.split('.', 1)[0]}:{object_id}"
            await _queue_delivery(conn, principal.account_id, row["id"], event_id, order_key)


async def fan_out_interest(
    conn: Connection, principal: Principal, event_types: frozenset[str]
) -> bool:
    """Whether a webhook of the caller's account and environment (on or off: a disabled
    one records its deliveries as skipped) wants any of these event types."""
    for row in await repository.subscribers(Scoped(conn, principal)):
        wanted = orjson.loads(row["events"])
        if "*" in wanted or not event_types.isdisjoint(wanted):
            return True
    return False


def _outcome(row: Row) -> str:
    if row["outcome"]:
        return str(row["outcome"])
    status = row["status_code"]
    return "delivered" if status is not None and 200 <= status < 300 else "failed"


def event_ref(event_id: int) -> str:
    """An event's id wherever the API or a delivery shows it: the `webhook-id` header
    (Standard Webhooks' message id, the same on every attempt at it)."""
    return f"evt_{event_id}"


class DeliveryView(TypedDict):
    """One attempt at delivering an event, as the API shows it (`DeliveryOut`)."""

    id: str
    eventId: str
    eventType: str
    attempt: int
    statusCode: int | None
    durationMs: int
    error: str | None
    outcome: str
    createdAt: str


def delivery_view(row: Row) -> DeliveryView:
    return {
        "id": str(row["id"]),
        "eventId": event_ref(row["event_id"]),
        "eventType": row["event_type"],
        "attempt": int(row["attempt"]),
        "statusCode": row["status_code"],
        "durationMs": int(row["duration_ms"]),
        "error": row["error"],
        "outcome": _outcome(row),
        "createdAt": row["created_at"],
    }


class WebhookService:
    """The webhooks of one process: the collection with its rules, and the actions on it
    (rotate a secret, read and retry deliveries)."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.resource = webhooks_resource(config)

    async def rotate_secret(
        self, conn: Connection, principal: Principal, webhook_id: str
    ) -> dict[str, Any]:
        secret = new_webhook_secret()
        current = await self.resource.get_row(conn, principal, webhook_id)
        row = await repository.set_secret(
            Scoped(conn, principal), current["id"], self.config.sealer().seal(secret), now()
        )
        return {**self.resource.serialize(row), "secret": secret}

    async def list_deliveries(
        self, db: Database, principal: Principal, webhook_id: str, page: int, page_size: int
    ) -> Envelope:
        hook = await self.resource.get_row(db, principal, webhook_id)
        count, rows = await repository.deliveries(
            Scoped(db, principal), hook["id"], page, page_size
        )
        return envelope([delivery_view(r) for r in rows], page, page_size, count)

    async def next_attempt(self, db: Database, principal: Principal, webhook_id: int) -> str | None:
        """When the worker next tries this webhook (None: nothing is queued for it)."""
        return await repository.next_attempt(Scoped(db, principal), webhook_id)

    async def retry_delivery(
        self, conn: Connection, principal: Principal, webhook_id: str, delivery_id: str
    ) -> dict[str, Any]:
        """Send a delivery's event again, now, as a new attempt."""
        hook = await self.resource.get_row(conn, principal, webhook_id)
        did = parse_id(delivery_id)
        row = None
        if did is not None:
            row = await repository.delivery(Scoped(conn, principal), hook["id"], did)
        if row is None:
            raise not_found("delivery")
        if not hook["active"]:
            raise Problem(409, "This webhook is disabled; turn it on (active: true) first.")
        await _queue_delivery(conn, hook["account_id"], hook["id"], row["event_id"], None)
        return {
            "webhookId": str(hook["id"]),
            "eventId": event_ref(row["event_id"]),
            "status": "queued",
        }

    async def send_test(
        self, conn: Connection, principal: Principal, webhook_id: str
    ) -> dict[str, Any]:
        """A `webhook.test` event delivered to this webhook only, now (on or off: a person
        asked), listed in its deliveries like any attempt."""
        hook = await self.resource.get_row(conn, principal, webhook_id)
        data = {
            "id": str(hook["id"]),
            "url": hook["url"],
            "message": "A test event sent by hand; it changes nothing.",
        }
        event_id = await events.insert_only(conn, principal, TEST_EVENT, data)
        await _queue_delivery(conn, hook["account_id"], hook["id"], event_id, None)
        return {"webhookId": str(hook["id"]), "eventId": event_ref(event_id), "status": "queued"}
