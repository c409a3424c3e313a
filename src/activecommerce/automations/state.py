"""An automation's status, `active` or `paused`, is changed through the API (a PATCH,
the generic flow); what the change means for its emails is here. Emails that come due
while it is paused are set aside, and queued again when it is resumed."""

from __future__ import annotations

from collections.abc import Sequence

from activecommerce.automations import repository
from activecommerce.email import service as email
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped

RESUME_BATCH = 250  # set-aside emails queued again per send job


async def find(db: Database | Connection, principal: Principal, automation_id: int) -> Row | None:
    return await repository.by_id(Scoped(db, principal), automation_id)


async def resumed(conn: Connection, principal: Principal, automation_id: int) -> None:
    """paused -> active (in the transaction that makes the change): what came due
    meanwhile goes out now."""
    await email.unpause(conn, principal, automation_id, RESUME_BATCH)


async def set_aside_while_paused(
    conn: Connection, principal: Principal, automation_id: int, message_ids: Sequence[int]
) -> bool:
    """Emails of the automation come due while it is paused: they wait until it is
    resumed. False (nothing set aside) when it was resumed meanwhile. Locked shared, so
    that a resumption waits for this (and then queues them again) or came first."""
    current = await repository.by_id(Scoped(conn, principal), automation_id, lock="SHARE")
    if current is not None and current["status"] == "active":
        return False
    await email.pause(conn, principal, message_ids)
    return True
