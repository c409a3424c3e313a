"""Webhooks' queries: who subscribes, the secret, the failure streak, the delivery log.

The worker reads a webhook by id alone (a job names it); it then checks that the webhook
belongs to the event's account and environment before anything is sent."""

from __future__ import annotations

from typing import Any

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.pagination import offset
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import TENANT, tenant

DELIVERY_COLUMNS = (
    "id, event_id, event_type, attempt, status_code, duration_ms, error, created_at, outcome"
)


async def subscribers(conn: Connection, principal: Principal) -> list[Row]:
    """Every webhook of the caller's account and environment, on or off."""
    return await conn.fetchall(f"SELECT id, events FROM webhooks WHERE {TENANT}", tenant(principal))


async def by_id(db: Database, webhook_id: int) -> Row | None:
    return await db.fetchone("SELECT * FROM webhooks WHERE id = ?", (webhook_id,))


async def set_secret(conn: Connection, webhook_id: int, sealed: str, now: str) -> Row:
    row = await conn.fetchone(
        "UPDATE webhooks SET secret_encrypted = ?, updated_at = ? WHERE id = ? RETURNING *",
        (sealed, now, webhook_id),
    )
    assert row is not None
    return row


async def end_failure_streak(conn: Connection, webhook_id: int) -> None:
    await conn.execute(
        "UPDATE webhooks SET consecutive_failures = 0, failing_since = NULL WHERE id = ?",
        (webhook_id,),
    )


async def count_failure(conn: Connection, webhook_id: int, now: str) -> tuple[int, str]:
    """One more failure in the streak: how many now, and since when."""
    row = await conn.fetchone(
        "UPDATE webhooks SET consecutive_failures = consecutive_failures + 1,"
        " failing_since = COALESCE(failing_since, ?)"
        " WHERE id = ? RETURNING consecutive_failures, failing_since",
        (now, webhook_id),
    )
    if row is None:
        return 0, now
    return int(row["consecutive_failures"]), str(row["failing_since"])


async def disable(conn: Connection, webhook_id: int, reason: str, now: str) -> None:
    await conn.execute(
        "UPDATE webhooks SET active = ?, disabled_reason = ?, updated_at = ? WHERE id = ?",
        (False, reason, now, webhook_id),
    )


async def insert_delivery(conn: Connection, hook: Row, event: Row, **attempt: Any) -> None:
    """One attempt (`attempt`, `status_code`, `duration_ms`, `error`, `created_at`,
    `outcome`) of delivering `event` to `hook`, in the webhook's account."""
    await conn.execute(
        "INSERT INTO webhook_deliveries (account_id, env, webhook_id, event_id,"
        " event_type, attempt, status_code, duration_ms, error, created_at, outcome)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            hook["account_id"],
            hook["env"],
            hook["id"],
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


async def deliveries(
    db: Database, webhook_id: int, page: int, page_size: int
) -> tuple[int, list[Row]]:
    """A page of a webhook's attempts, newest first, and how many there are."""
    total = await db.fetchone(
        "SELECT count(*) AS n FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,)
    )
    rows = await db.fetchall(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ?"
        " ORDER BY id DESC LIMIT ? OFFSET ?",
        (webhook_id, page_size, offset(page, page_size)),
    )
    return (int(total["n"]) if total else 0), rows


async def delivery(conn: Connection, webhook_id: int, delivery_id: int) -> Row | None:
    return await conn.fetchone(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ? AND webhook_id = ?",
        (delivery_id, webhook_id),
    )


async def next_attempt(db: Database, webhook_id: int) -> str | None:
    """When the worker next tries this webhook: the earliest queued delivery of its
    events' chains (their order keys start with the webhook's id; ix_jobs_order_key)."""
    row = await db.fetchone(
        "SELECT min(run_at) AS at FROM jobs WHERE order_key >= ? AND order_key < ?",
        (f"{webhook_id}:", f"{webhook_id};"),
    )
    return None if row is None or row["at"] is None else str(row["at"])
