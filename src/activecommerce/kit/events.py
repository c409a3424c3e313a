"""The outbox: every change through the API records its events in the same transaction
as the change (if the change commits, its events exist; if it rolls back, they do not).

Subscribers (webhooks' fan-out, automations' enrolment) are called inside that transaction
too, so that the work an event causes (a delivery job, an email) is queued atomically
with it. Who subscribes is one `Subscribers` registry, built by the composition root
(`activecommerce.wiring.wire`) and put in force with `install`; importing a module
subscribes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import Column, Index, String, Table, Text

from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.fields import ascii_digits
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped, insert_many, system, tenant
from activecommerce.kit.tables import id_column, metadata, tenant_columns

events = Table(
    "events",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("type", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,  # ids are never reused
)
Index("ix_events_account_env", events.c.account_id, events.c.env, events.c.id)

Event = tuple[str, dict[str, Any]]
# (connection, principal, event id, event type, id of the object the event is about,
# the event's data)
Subscriber = Callable[[Connection, Principal, int, str, str, dict[str, Any]], Awaitable[None]]
# Whether a subscriber could act on any of these event types in the caller's account and
# environment now (a webhook that wants one, an active automation they trigger).
Interest = Callable[[Connection, Principal, frozenset[str]], Awaitable[bool]]


class Subscribers:
    """Who is called for each recorded event, in the order subscribed. Built by the
    composition root (`activecommerce.wiring`); `install` puts it in force."""

    __slots__ = ("interests", "subscribers")

    def __init__(self) -> None:
        self.subscribers: tuple[Subscriber, ...] = ()
        self.interests: dict[Subscriber, Interest] = {}

    def subscribe(self, subscriber: Subscriber, interest: Interest | None = None) -> None:
        """`interest` lets bulk writers (imports) ask `listened` before they build events;
        a subscriber without one is taken to want everything."""
        if subscriber not in self.subscribers:
            self.subscribers = (*self.subscribers, subscriber)
        if interest is not None:
            self.interests[subscriber] = interest


# The registry in force: none subscribes until a composition root installs its own.
_in_force = Subscribers()


def install(subscribers: Subscribers) -> None:
    """Put `subscribers` in force for every event recorded from now on in this process."""
    global _in_force
    _in_force = subscribers


def in_force() -> Subscribers:
    return _in_force


async def listened(conn: Connection, principal: Principal, types: frozenset[str]) -> bool:
    """Whether recording events of these types in the caller's account and environment
    would reach anyone: a bulk write (an import of a million contacts) records its events
    only then. Events are not read back later by anything else: a webhook made later
    never receives earlier events, so one skipped now is one nobody would have seen."""
    registry = _in_force
    for subscriber in registry.subscribers:
        interest = registry.interests.get(subscriber)
        if interest is None or await interest(conn, principal, types):
            return True
    return False


async def record(
    conn: Connection, principal: Principal, changes: list[Event], *, activity: bool = True
) -> None:
    """Record the events (and call the subscribers). Each event that names a contact also
    becomes a row of that contact's activity (contacts.models.contact_activity), all in
    one statement: the activity is kept as long as the contact, whereas events are
    pruned. `activity=False`: the caller writes the activity itself (an import's batch
    writes one `contact.imported` row per contact)."""
    stamp = now()
    subscribers = _in_force.subscribers
    activities: list[tuple[Any, ...]] = []
    for event_type, data in changes:
        text = orjson.dumps(data).decode()
        row = await conn.fetchone(
            "INSERT INTO events (account_id, env, type, data, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (principal.account_id, principal.env, event_type, text, stamp),
        )
        assert row is not None
        about = data.get("id") or (data.get("contact") or {}).get("id") or ""
        for subscriber in subscribers:
            await subscriber(conn, principal, int(row["id"]), event_type, str(about), data)
        contact = contact_of(event_type, data) if activity else None
        if contact is not None:
            activities.append((*tenant(principal), contact, event_type, text, stamp))
    await insert_many(conn, "contact_activity", ACTIVITY_COLUMNS, activities)


async def insert_only(
    conn: Connection, principal: Principal, event_type: str, data: dict[str, Any]
) -> int:
    """An event for one receiver chosen by the caller (a webhook's test ping): recorded
    like any other, but no subscriber is called and no contact's activity is written."""
    row = await conn.fetchone(
        "INSERT INTO events (account_id, env, type, data, created_at)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        (principal.account_id, principal.env, event_type, orjson.dumps(data).decode(), now()),
    )
    assert row is not None
    return int(row["id"])


ACTIVITY_COLUMNS = (
    ("account_id", "bigint"),
    ("env", "text"),
    ("contact_id", "bigint"),
    ("type", "text"),
    ("data", "text"),
    ("created_at", "text"),
)


def contact_of(event_type: str, data: dict[str, Any]) -> int | None:
    """The id of the contact an event is about (the types of docs/guides/webhooks.md), if
    any and if it still exists: contact.* (the contact, or {contact, tag|group}), deal.*
    (its `contact`), email.* (its `contactId`). A deleted contact has no activity left to add to."""
    family = event_type.partition(".")[0]
    ref: Any = None
    if family == "contact" and event_type != "contact.deleted":
        nested = data.get("contact")
        ref = nested.get("id") if isinstance(nested, dict) else data.get("id")
    elif family == "deal":
        ref = data.get("contact")
    elif family == "email":
        ref = data.get("contactId")
    if ref is None or not ascii_digits(str(ref)):
        return None
    return int(ref)


@system
async def system_by_id(db: Database, event_id: int) -> Row | None:
    """An event by id alone: a delivery job reads its event before it knows the tenant
    (the job's row names only the event)."""
    return await db.fetchone("SELECT * FROM events WHERE id = ?", (event_id,))


async def recent(db: Database, principal: Principal, limit: int) -> list[Row]:
    """The caller's latest events, newest first (what the retention has kept)."""
    return await Scoped(db, principal).fetchall(
        "SELECT id, type, data, created_at FROM events WHERE @tenant ORDER BY id DESC LIMIT ?",
        (limit,),
    )
