"""Contacts and their memberships in tags and groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Unpack

from activecommerce.contacts import listing, models, repository
from activecommerce.contacts.schemas import ContactIn, ContactOut
from activecommerce.groups.service import contact_groups
from activecommerce.kit import events
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.events import Event
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.pagination import CursorEnvelope, Paging
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped
from activecommerce.kit.resource import Resource, Rules
from activecommerce.tags.service import contact_tags


class ContactRules(Rules[ContactIn]):
    def events(
        self,
        name: str,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> list[Event]:
        changes = super().events(name, action, before, after)
        if (
            action == "updated"
            and before is not None
            and after is not None
            and after["status"] == "unsubscribed"
            and before["status"] != "unsubscribed"
        ):
            changes.append(("contact.unsubscribed", after))
        return changes


contacts = Resource(
    collection="contacts",
    event_name="contact",
    table=models.contacts,
    title="contact",
    create_model=ContactIn,
    patch_model=patch_model_of(ContactIn),
    out_model=ContactOut,
    sortable={
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "email": "lower(email)",  # the unique index's order: no index of its own to write
        "firstName": "first_name",
        "lastName": "last_name",
    },
    filters=listing.FILTERS,
    list_query=listing.ContactListQuery,
    unique_messages={"email": "A contact with this email already exists."},
    rules=ContactRules(),
)


class Membership:
    """A contact's tags or groups: idempotent add and remove, and the paginated list."""

    def __init__(self, table: str, column: str, target: Resource, added: str, removed: str) -> None:
        self.table = table
        self.column = column
        self.target = target
        self.added = added
        self.removed = removed

    # Locked like a write of the contact, so that its events keep the order of the commits,
    # but FOR NO KEY UPDATE (what an UPDATE that changes no key takes), not FOR UPDATE:
    # rows that refer to the contact (its activity, its emails) take FOR KEY SHARE on it
    # for their foreign key, and FOR UPDATE would make them wait. The email worker's
    # group commit inserts such rows for many contacts at once; with FOR UPDATE here it
    # waited for this transaction while this one (enrolling the contact in an automation)
    # waited for it: deadlocks on PostgreSQL (decision 008, faults).
    LOCK = "NO KEY UPDATE"

    async def add(
        self, conn: Connection, principal: Principal, contact_id: str, target_id: str
    ) -> None:
        contact = await contacts.get_row(conn, principal, contact_id, lock=self.LOCK)
        target = await self.target.get_row(conn, principal, target_id)
        if await repository.add_member(
            conn, principal, self.table, self.column, contact["id"], target["id"], now()
        ):
            await self._record(conn, principal, self.added, contact, target)

    async def remove(
        self, conn: Connection, principal: Principal, contact_id: str, target_id: str
    ) -> None:
        contact = await contacts.get_row(conn, principal, contact_id, lock=self.LOCK)
        target = await self.target.get_row(conn, principal, target_id)
        if await repository.remove_member(
            Scoped(conn, principal), self.table, self.column, contact["id"], target["id"]
        ):
            await self._record(conn, principal, self.removed, contact, target)

    async def _record(
        self, conn: Connection, principal: Principal, event_type: str, contact: Row, target: Row
    ) -> None:
        data = {
            "contact": contacts.serialize(contact),
            self.target.event_name: self.target.serialize(target),
        }
        await events.record(conn, principal, [(event_type, data)])

    async def list_for(
        self, db: Database, principal: Principal, contact_id: str, **page: Unpack[Paging]
    ) -> CursorEnvelope:
        contact = await contacts.get_row(db, principal, contact_id)
        return await self.target.list_rows(
            db,
            principal,
            base=repository.members_of(self.table, self.column),
            base_params=(contact["id"],),
            filters={},
            **page,
        )


contact_tag_membership = Membership(
    "contact_tag_members", "tag_id", contact_tags, "contact.tagged", "contact.untagged"
)
contact_group_membership = Membership(
    "contact_group_members",
    "group_id",
    contact_groups,
    "contact.added_to_group",
    "contact.removed_from_group",
)


# ---------------------------------------------------------------- found by email's paths


async def by_email(db: Database | Connection, principal: Principal, address: str) -> Row | None:
    """The contact with this address (compared case-insensitively), if there is one:
    id, email, first_name, last_name, phone."""
    return await repository.by_email(db, principal, address)


async def members_page(
    db: Database, principal: Principal, membership: Membership, target: int, after: int, limit: int
) -> list[int]:
    """The ids of a page of the contacts in a group or tag (`membership` says which kind),
    in id order, after the id `after`."""
    return await repository.member_ids(
        db, principal, membership.table, membership.column, target, after, limit
    )


async def count_active(db: Database, principal: Principal) -> int:
    """How many active contacts the account has (its maintained count)."""
    return (await repository.maintained_counts(db, principal, ["status:active"]))["status:active"]


async def active_in_any(
    db: Database,
    principal: Principal,
    group_ids: Sequence[int],
    tag_ids: Sequence[int],
    seconds: float,
) -> tuple[int, bool]:
    """How many distinct active contacts are in any of these groups or tags, and whether
    that is exact (else a lower bound). The maintained counts answer when they can: with
    no inactive contact, a single group or tag is its count; else a count in the
    database, given up after `seconds` for the bound the counts prove."""
    groups, tags = sorted(set(group_ids)), sorted(set(tag_ids))
    if not groups and not tags:
        return 0, True
    sources = [f"group:{g}" for g in groups] + [f"tag:{t}" for t in tags]
    counts = await repository.maintained_counts(db, principal, ["all", "status:active", *sources])
    active = counts["status:active"]
    sizes = [counts[key] for key in sources]
    # Each source has at least its members less every inactive contact; the union at
    # most all its members, and at most every active contact.
    lower = max(0, max(sizes) - (counts["all"] - active))
    upper = min(sum(sizes), active)
    if lower >= upper:
        return upper, True
    found = await repository.count_active_members(db, principal, groups, tags, seconds)
    return (lower, False) if found is None else (found, True)


# ---------------------------------------------------------------- status

# The statuses mail's own paths move a contact to, and the statuses each may replace: a
# bounce marks a contact that was still receiving mail; an unsubscribe any contact not
# unsubscribed already. Neither ever makes a contact active again.
StoppedStatus = Literal["bounced", "unsubscribed"]
REPLACES: dict[StoppedStatus, frozenset[str]] = {
    "bounced": frozenset({"active"}),
    "unsubscribed": frozenset({"active", "bounced"}),
}


async def set_status(
    conn: Connection, principal: Principal, contact_id: int, status: StoppedStatus
) -> bool:
    """Move a contact to `status` if `REPLACES` allows it from its status now, with the
    events of the change (contact.updated; contact.unsubscribed, which the rules add).
    Whether it moved (no such contact, or a status it may not leave: no change)."""
    scope = Scoped(conn, principal)
    before = await repository.locked(scope, contact_id)
    if before is None or before["status"] not in REPLACES[status]:
        return False
    after = await repository.set_status(scope, contact_id, status)
    old, new = contacts.serialize(before), contacts.serialize(after)
    await events.record(conn, principal, contacts.rules.events("contact", "updated", old, new))
    return True


# ---------------------------------------------------------------- reads for the console


async def count_all(db: Database, principal: Principal) -> int:
    """How many contacts the caller's account and environment has."""
    return await repository.count_all(db, principal)


async def emails_by_id(db: Database, principal: Principal, ids: list[int]) -> dict[str, str]:
    """The email of each of the caller's contacts among `ids`, by id (as the API shows it)."""
    where, params = contacts.lists.where(principal, {})
    return {
        str(row["id"]): row["email"] for row in await repository.rows_among(db, where, params, ids)
    }


async def activity_of(
    db: Database, principal: Principal, contact_id: int, before: int | None, limit: int
) -> list[Row]:
    """A contact's activity, newest first, before the activity id `before`."""
    return await repository.activity(db, principal, contact_id, before, limit)


async def settle_text_index(db: Database) -> None:
    """After a bulk write of contacts: fold the text indexes' pending entries in, so that
    searches do not read them whole (PostgreSQL; nothing to do on SQLite)."""
    await repository.settle_text_index(db)
