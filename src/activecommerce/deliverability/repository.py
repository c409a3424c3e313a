"""The queries of delivery reports: the report history and what a report changes on its
message."""

from __future__ import annotations

from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Row
from activecommerce.kit.repository import Scoped


async def insert_report(
    scope: Scoped,
    message_id: int,
    contact_id: int | None,
    kind: str,
    source: str,
    status_code: str | None,
    reason: str | None,
    stamp: str,
) -> bool:
    """Whether the report is new: a message has one report of each kind, so that a report
    delivered twice (a provider's retry, a DSN forwarded twice) counts once."""
    conn: Connection = scope.db  # type: ignore[assignment]
    changed = await conn.execute(
        "INSERT INTO email_reports (account_id, env, message_id, contact_id, kind, source,"
        " status_code, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (*scope.values, message_id, contact_id, kind, source, status_code, reason, stamp),
    )
    return changed > 0


async def soft_bounces_since(scope: Scoped, contact_id: int, since: str) -> int:
    """The contact's soft bounces reported since `since` (index: account, env, contact,
    kind, created_at)."""
    row = await scope.fetchone(
        "SELECT count(*) AS n FROM email_reports WHERE @tenant AND contact_id = ?"
        " AND kind = 'soft' AND created_at >= ?",
        (contact_id, since),
    )
    return int(row["n"]) if row is not None else 0


async def mark_delivered(scope: Scoped, message_id: int) -> None:
    stamp = now()
    await scope.execute(
        "UPDATE email_messages SET delivered_at = coalesce(delivered_at, ?), updated_at = ?"
        " WHERE id = ? AND @tenant",
        (stamp, stamp, message_id),
    )


async def mark_bounced(scope: Scoped, message_id: int, kind: str, reason: str | None) -> Row | None:
    """The message bounced (`hard` or `soft`) or was refused for a policy reason
    (`policy`). A hard bounce is never made softer by a later report; the reason is the
    latest report's."""
    stamp = now()
    bounced = "coalesce(bounced_at, ?)" if kind != "policy" else "bounced_at"
    values: tuple[object, ...] = (stamp,) if kind != "policy" else ()
    return await scope.fetchone(
        f"UPDATE email_messages SET bounced_at = {bounced},"
        " bounce_kind = CASE WHEN bounce_kind = 'hard' THEN 'hard' ELSE ? END,"
        " error = coalesce(?, error), updated_at = ? WHERE id = ? AND @tenant RETURNING *",
        (*values, kind, reason, stamp, message_id),
    )


async def mark_complained(scope: Scoped, message_id: int) -> Row | None:
    stamp = now()
    return await scope.fetchone(
        "UPDATE email_messages SET complained_at = coalesce(complained_at, ?), updated_at = ?"
        " WHERE id = ? AND @tenant RETURNING *",
        (stamp, stamp, message_id),
    )
