"""Webhooks' queries: who subscribes, the secret, the failure streak, the delivery log,
each within one account and environment.

The worker reads a webhook by id alone (a job names it: `system_by_id`); it then checks
that the webhook belongs to the event's account and environment before anything is sent,
and writes what it records within the webhook's."""

from __future__ import annotations

from typing import Any

from activecommerce.kit.db import Database, Row
from activecommerce.kit.pagination import offset
from activecommerce.kit.repository import Scoped, system

DELIVERY_COLUMNS = (
    "id, event_id, event_type, attempt, status_code, duration_ms, error, created_at, outcome"
)


async def subscribers(scope: Scoped) -> list[Row]:
    """Every webhook of the account and environment, on or off."""
    return await scope.fetchall("SELECT id, events FROM webhooks WHERE @tenant")


@system
async def system_by_id(db: Database, webhook_id: int) -> Row | None:
    return await db.fetchone("SELECT * FROM webhooks WHERE id = ?", (webhook_id,))


async def set_secret(scope: Scoped, webhook_id: int, sealed: str, now: str) -> Row:
    row = await scope.fetchone(
        "UPDATE webhooks SET secret_encrypted = ?, updated_at = ? WHERE id = ? AND @tenant"
        " RETURNING *",
        (sealed, now, webhook_id),
    )
    assert row is not None
    return row


async def end_failure_streak(scope: Scoped, webhook_id: int) -> None:
    await scope.execute(
        "UPDATE webhooks SET consecutive_failures = 0, failing_since = NULL"
        " WHERE id = ? AND @tenant",
        (webhook_id,),
    )


async def count_failure(scope: Scoped, webhook_id: int, now: str) -> tuple[int, str]:
    """One more failure in the streak: how many now, and since when."""
    row = await scope.fetchone(
        "UPDATE webhooks SET consecutive_failures = consecutive_failures + 1,"
        " failing_since = COALESCE(failing_since, ?)"
        " WHERE id = ? AND @tenant RETURNING consecutive_failures, failing_since",
        (now, webhook_id),
    )
    if row is None:
        return 0, now
    return int(row["consecutive_failures"]), str(row["failing_since"])


async def disable(scope: Scoped, webhook_id: int, reason: str, now: str) -> None:
    await scope.execute(
        "UPDATE webhooks SET active = ?, disabled_reason = ?, updated_at = ?"
        " WHERE id = ? AND @tenant",
        (False, reason, now, webhook_id),
    )


async def insert_delivery(scope: Scoped, webhook_id: int, event: Row, **attempt: Any) -> None:
    """One attempt (`attempt`, `status_code`, `duration_ms`, `error`, `created_at`,
    `outcome`) of delivering `event` to the webhook."""
    await scope.db.fetchone(
        "INSERT INTO webhook_deliveries (account_id, env, webhook_id, event_id,"
        " event_type, attempt, status_code, duration_ms, error, created_at, outcome)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            *scope.values,
            webhook_id,
            event["id"],
            event["type"],
            attempt["attempt"],
            attempt["status_code"],
            attempt["duration_ms"],
            attempt["error"],
            attempt["created_at"],
            attempt["outcome"],
        ),
    )


# The webhook, if it is the scope's.
_OWN_WEBHOOK = "(SELECT id FROM webhooks WHERE id = ? AND @tenant)"


async def deliveries(
    scope: Scoped, webhook_id: int, page: int, page_size: int
) -> tuple[int, list[Row]]:
    """A page of a webhook's attempts, newest first, and how many there are. The scope is
    the webhook's, so that both stay on the (webhook_id, id) index (the count reads no
    row of the log)."""
    total = await scope.fetchone(
        f"SELECT count(*) AS n FROM webhook_deliveries WHERE webhook_id = {_OWN_WEBHOOK}",
        (webhook_id,),
    )
    rows = await scope.fetchall(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = {_OWN_WEBHOOK}"
        " ORDER BY id DESC LIMIT ? OFFSET ?",
        (webhook_id, page_size, offset(page, page_size)),
    )
    return (int(total["n"]) if total else 0), rows


async def delivery(scope: Scoped, webhook_id: int, delivery_id: int) -> Row | None:
    return await scope.fetchone(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries"
        " WHERE id = ? AND webhook_id = ? AND @tenant",
        (delivery_id, webhook_id),
    )


async def next_attempt(scope: Scoped, webhook_id: int) -> str | None:
    """When the worker next tries this webhook: the earliest queued delivery of its
    events' chains (their order keys start with the webhook's id; ix_jobs_order_key).
    Jobs name their account (not their environment, which the webhook's id implies)."""
    row = await scope.db.fetchone(
        "SELECT min(run_at) AS at FROM jobs WHERE order_key >= ? AND order_key < ?"
        " AND account_id = ?",
        (f"{webhook_id}:", f"{webhook_id};", scope.principal.account_id),
    )
    return None if row is None or row["at"] is None else str(row["at"])
