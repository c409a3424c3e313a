"""Running email automations: an event that meets an active automation's trigger enrols
its contact (once ever, a unique index decides) and queues the email for `delaySeconds`
later. A trigger with `conditions` enrols only a contact that matches them at that moment
(one statement; conditions that name what was deleted since match no one). Emails that
come due while the automation is paused wait for it (automations' `state`)."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from activecommerce.automations import repository
from activecommerce.email import service as email
from activecommerce.kit.db import Connection
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem
from activecommerce.segments.conditions import check, compile_tree

log = logging.getLogger("activecommerce.automations")

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
    # A person subscribed through a signup form (contacts/subscription.py).
    "contact.subscribed": (
        "form_submitted",
        "formId",
        lambda d: (d["formId"], d["contact"]["id"]),
    ),
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
    if event_type == "contact.created" and data.get("status") == "unconfirmed":
        # Asked to confirm a subscription: no mail but the confirmation, and its welcome
        # (a form's own trigger) comes once it confirms.
        return
    target, contact = read(data)
    if contact is None:
        return  # a deal without a contact
    for row in await repository.active_with_trigger(conn, principal, trigger_type):
        trigger = orjson.loads(row["trigger_spec"])
        if trigger.get("type") != trigger_type or (key and trigger.get(key) != target):
            continue
        conditions = trigger.get("conditions")
        if conditions is not None and not await _matches(
            conn, principal, int(row["id"]), conditions, int(contact)
        ):
            continue
        delay = float(row["delay_seconds"] or 0)
        await email.enrol(conn, principal, int(row["id"]), int(contact), delay)


async def _matches(
    conn: Connection, principal: Principal, automation_id: int, conditions: Any, contact: int
) -> bool:
    """Whether the contact matches the trigger's conditions now. Conditions that no longer
    check (they name a tag, group, field... deleted since the automation was saved) match
    no one: the automation enrols nobody until they are changed (logged)."""
    try:
        checked = await check(conn, principal, conditions, "trigger.conditions")
    except Problem as problem:
        log.warning(
            "automation %s: trigger conditions no longer valid (%s); contact %s not enrolled",
            automation_id,
            problem.errors,
            contact,
        )
        return False
    where = compile_tree(checked, principal, conn.dialect)
    return await repository.contact_matches(conn, principal, contact, where)


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
