"""Contacts and their memberships in tags and groups."""

from __future__ import annotations

from typing import Any

from activecommerce.contacts import models, repository
from activecommerce.contacts.schemas import ContactIn, ContactOut, ContactStatus
from activecommerce.groups.service import contact_groups
from activecommerce.kit import events
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.events import Event
from activecommerce.kit.fields import parse_id, patch_model_of
from activecommerce.kit.principal import Principal
from activecommerce.kit.resource import ListFilter, Resource, Rules
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


def _membership_filter(name: str, table: str, column: str, counted: str, what: str) -> ListFilter:
    return ListFilter(
        name,
        f"EXISTS (SELECT 1 FROM {table} m WHERE m.contact_id = contacts.id AND m.{column} = ?)",
        kind="ref",
        description=f"Contacts {what}",
        counted=counted,
        rare_sql=f"id IN (SELECT contact_id FROM {table} WHERE {column} = ?)",
    )


def _count_key(filters: dict[str, Any]) -> str | None:
    """The maintained count (contact_counts) that is a list's total under these filters:
    none, or one of status, groupId or tagId (SPEC §10's exact totals)."""
    if not filters:
        return "all"
    if len(filters) != 1:
        return None
    ((name, value),) = filters.items()
    if name == "status":
        return f"status:{value}"
    if name in ("groupId", "tagId"):
        target = parse_id(str(value))
        return None if target is None else f"{name.removesuffix('Id')}:{target}"
    return None


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
    filters=[
        ListFilter(
            "email",
            "lower(email) = lower(CAST(? AS TEXT))",
            description="Exact email, compared case-insensitively",
        ),
        _membership_filter(
            "groupId", "contact_group_members", "group_id", "group", "in this group"
        ),
        _membership_filter("tagId", "contact_tag_members", "tag_id", "tag", "with this tag"),
        ListFilter("status", "status = ?", annotation=ContactStatus),
        ListFilter(
            "q",
            "(lower(email) LIKE lower(CAST(? AS TEXT)) ESCAPE '\\'"
            " OR lower(first_name) LIKE lower(CAST(? AS TEXT)) ESCAPE '\\'"
            " OR lower(last_name) LIKE lower(CAST(? AS TEXT)) ESCAPE '\\')",
            kind="like",
            description="Search in email, first and last name (a substring, any case)",
            sqlite_match="SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ?",
        ),
    ],
    count_key=_count_key,
    counts_table="contact_counts",
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
            conn, self.table, self.column, contact["id"], target["id"]
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
        self, db: Database, principal: Principal, contact_id: str, **page: Any
    ) -> dict[str, Any]:
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


# ---------------------------------------------------------------- reads for the console


async def count_all(db: Database, principal: Principal) -> int:
    """How many contacts the caller's account and environment has."""
    return await repository.count_all(db, principal)


async def emails_by_id(db: Database, principal: Principal, ids: list[int]) -> dict[str, str]:
    """The email of each of the caller's contacts among `ids`, by id (as the API shows it)."""
    where, params = contacts.where(principal, {})
    return {
        str(row["id"]): row["email"] for row in await repository.rows_among(db, where, params, ids)
    }


async def activity_of(
    db: Database, principal: Principal, contact_id: int, before: int | None, limit: int
) -> list[Row]:
    """A contact's activity, newest first, before the activity id `before`."""
    return await repository.activity(db, principal, contact_id, before, limit)
