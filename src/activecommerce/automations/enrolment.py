"""Running email automations: an event that meets an active automation's trigger enrols
its contact (once ever, a unique index decides) and queues the email for `delaySeconds`
later. Emails that come due while the automation is paused wait for it (automations'
`state`)."""

from __future__ import annotations

from typing import Any

import orjson

from activecommerce.automations import repository
from activecommerce.email import service as email
from activecommerce.kit.db import Connection
from activecommerce.kit.principal import Principal

# Event type -> (trigger type, the trigger's key, how to read (target id, contact id)).
_TRIGGERS: dict[str, tuple[str, str | None, Any]] = {
    "contact.created": ("contact_created", None, lambda d: (None, d.get("id"))),
    "contact.tagged": (
        "tag_added",
        "tagId",
        lambda d: (d["contactTag"]["id"], d["contact"]["id"]),
    ),
    "contact.added_to_group": (
        "added_to_group",
        "groupId",
        lambda d: (d["contactGroup"]["id"], d["contact"]["id"]),
    ),
    "deal.stage_changed": ("deal_stage_changed", "stageId", lambda d: (d["stageId"], d["contact"])),
}


async def enrol(
    conn: Connection,
    principal: Principal,
    event_id: int,
    event_type: str,
    object_id: str,
    data: dict[str, Any],
) -> None:
    """An event subscriber: called in the transaction that records the event."""
    spec = _TRIGGERS.get(event_type)
    if spec is None:
        return
    trigger_type, key, read = spec
    target, contact = read(data)
    if contact is None:
        return  # a deal without a contact
    for row in await repository.active_with_trigger(conn, principal, trigger_type):
        trigger = orjson.loads(row["trigger_spec"])
        if trigger.get("type") != trigger_type or (key and trigger.get(key) != target):
            continue
        delay = float(row["delay_seconds"] or 0)
        await email.enrol(conn, principal, int(row["id"]), int(contact), delay)


async def enrol_interest(
    conn: Connection, principal: Principal, event_types: frozenset[str]
) -> bool:
    """Whether an active automation of the caller's account and environment has a
    trigger that one of these event types could meet."""
    for event_type in event_types:
        spec = _TRIGGERS.get(event_type)
        if spec is not None and await repository.active_with_trigger(conn, principal, spec[0]):
            return True
    return False
