"""Contacts and their memberships in tags and groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Unpack

from activecommerce.consent import service as consent
from activecommerce.contacts import listing, models, repository
from activecommerce.contacts.schemas import ContactIn, ContactOut
from activecommerce.fields import values
from activecommerce.fields.definitions import definitions
from activecommerce.groups.service import contact_groups
from activecommerce.kit import events
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.events import Event
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.listing import Condition
from activecommerce.kit.pagination import CursorEnvelope, Paging
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import TENANT, Scoped, tenant
from activecommerce.kit.resource import Resource, Rules
from activecommerce.tags.service import contact_tags

# The statuses a PUT without `status` keeps (else it would make the contact active).
KEPT_BY_PUT = frozenset({"unconfirmed", *consent.STOPPED})


async def _guard_status(
    conn: Connection, principal: Principal, prepared: dict[str, Any], current: dict[str, Any] | None
) -> None:
    """The consent rules of an account's write of a contact (API, console), before it is
    written; `current` is None at creation, else locked (the generic flow's row lock).

    A new contact whose address is on the suppression list gets the entry's status; an
    existing one that is stopped (`consent.STOPPED`), or whose new address is on the list,
    is not made `active` or `unconfirmed` (409)."""
    address = str(prepared["email"])
    moved = current is None or str(current["email"]).lower() != address.lower()
    if current is None:
        await consent.lock_addresses(conn, [address])
        entry = await consent.suppression_of(conn, principal, address)
        if entry is not None:
            prepared["status"] = consent.status_of(entry)
        return
    # Only a write that leaves the contact mailable (or on the way to it) is checked, and
    # only when it changes the status or the address.
    if prepared["status"] not in consent.REVIVING or (
        current["status"] == prepared["status"] and not moved
    ):
        return
    if moved:
        await consent.lock_addresses(conn, [address])
    entry = await consent.suppression_of(conn, principal, address)
    refused = consent.activation_refused(str(current["status"]), entry)
    if refused is not None:
        raise refused


async def _follow_status(
    conn: Connection,
    principal: Principal,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    source: consent.WriteSource,
) -> None:
    """The consent records and suppression entries of a written contact's status change
    (the account's own writes: API, console, import)."""
    was = before["status"] if before is not None else None
    status = after["status"]
    if status == was:
        return
    contact_id = int(after["id"])
    if status in consent.STOPPED:
        new = await consent.suppress(conn, principal, after["email"], status, source)
        if (was is None and new) or (was is not None and was not in consent.STOPPED):
            await consent.record(conn, principal, contact_id, "withdrawn", source)
    elif status == "active":
        await consent.record(conn, principal, contact_id, "granted", source)


class ContactRules(Rules[ContactIn]):
    """A contact's custom fields are stored by field id and shown by key
    (`fields.values`); the rest is the generic flow's."""

    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        new: ContactIn,
        current: dict[str, Any] | None,
    ) -> dict[str, Any]:
        prepared = new.model_dump(mode="json")
        defs = await definitions(conn, principal)
        prepared["fields"] = values.whole(defs, new.fields) or None
        # A PUT that leaves the status out keeps one the account cannot set back.
        kept = current is not None and current["status"] in KEPT_BY_PUT
        if kept and "status" not in new.model_fields_set:
            assert current is not None
            prepared["status"] = current["status"]
        await _guard_status(conn, principal, prepared, current)
        return prepared

    async def prepare_patch(
        self,
        conn: Connection,
        principal: Principal,
        new: ContactIn,
        current: dict[str, Any],
        sent: dict[str, Any],
    ) -> dict[str, Any]:
        # Read-modify-write under the contact's row lock (Resource.patch locked it).
        prepared = new.model_dump(mode="json")
        if "fields" in sent:
            defs = await definitions(conn, principal)
            prepared["fields"] = values.merged(defs, current["fields"], sent["fields"]) or None
        else:
            prepared["fields"] = current["fields"]
        await _guard_status(conn, principal, prepared, current)
        return prepared

    async def written(
        self,
        conn: Connection,
        principal: Principal,
        before: dict[str, Any] | None,
        after: dict[str, Any],
    ) -> None:
        await _follow_status(conn, principal, before, after, consent.write_source())

    async def present(
        self, db: Connection | Database, principal: Principal, objects: list[dict[str, Any]]
    ) -> None:
        defs = await definitions(db, principal) if any(o.get("fields") for o in objects) else {}
        for obj in objects:
            obj["fields"] = values.shown(obj.get("fields"), defs)

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

    async def add_many(
        self, conn: Connection, principal: Principal, contact_ids: Sequence[int], target: Row
    ) -> int:
        """`add` for many contacts at once (those of `contact_ids` that still exist), with
        the same event for each membership that is new; how many are."""
        rows = await repository.locked_among(conn, principal, contact_ids, self.LOCK)
        scope = tenant(principal)
        stamp = now()
        added = await repository.add_members(
            conn,
            self.table,
            self.column,
            [(row["id"], target["id"], *scope, stamp) for row in rows],
        )
        new = {int(row["contact_id"]) for row in added}
        await self._record_many(conn, principal, self.added, rows, new, target)
        return len(new)

    async def remove_many(
        self, conn: Connection, principal: Principal, contact_ids: Sequence[int], target: Row
    ) -> int:
        """`remove` for many contacts at once, with the same event for each membership
        that was there; how many were."""
        rows = await repository.locked_among(conn, principal, contact_ids, self.LOCK)
        gone = set(
            await repository.remove_members(
                conn, principal, self.table, self.column, target["id"], [r["id"] for r in rows]
            )
        )
        await self._record_many(conn, principal, self.removed, rows, gone, target)
        return len(gone)

    async def _record_many(
        self,
        conn: Connection,
        principal: Principal,
        event_type: str,
        contacts_: list[Row],
        changed: set[int],
        target: Row,
    ) -> None:
        shown = self.target.serialize(target)
        changes: list[Event] = [
            (event_type, {"contact": contacts.serialize(row), self.target.event_name: shown})
            for row in contacts_
            if int(row["id"]) in changed
        ]
        if changes:
            await events.record(conn, principal, changes)

    async def _record(
        self, conn: Connection, principal: Principal, event_type: str, contact: Row, target: Row
    ) -> None:
        data = {
            "contact": await contacts.present_row(conn, principal, contact),
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
    id, email, first_name, last_name, phone, fields (custom fields as stored: show them
    with `fields.values.shown`)."""
    return await repository.by_email(db, principal, address)


async def count_matching(
    db: Database,
    principal: Principal,
    where: Condition,
    *,
    scope: str = TENANT,
    seconds: float | None = None,
) -> int | None:
    """How many contacts match a compiled condition (`segments.conditions`), counted off
    the event loop; None when `seconds` is given and counting takes longer."""
    return await repository.count_matching(db, principal, where, scope=scope, seconds=seconds)


async def ids_matching(
    db: Database, principal: Principal, where: Condition, after: int, upto: int, limit: int
) -> list[int]:
    """The next `limit` ids in (after, upto] of contacts matching a compiled condition."""
    return await repository.ids_matching(db, principal, where, after, upto, limit)


async def newest_matching(
    db: Database, principal: Principal, where: Condition, *, scope: str, limit: int
) -> list[dict[str, Any]]:
    """The newest `limit` contacts matching a compiled condition, as the API shows them."""
    rows = await repository.newest_matching(db, principal, where, scope=scope, limit=limit)
    return await contacts.present_rows(db, principal, rows)


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

# The statuses mail's own paths move a contact to (an unsubscribe link, a hard bounce, a
# complaint), and the statuses each may replace: a bounce marks a contact that was still
# receiving mail; an unsubscribe any contact not unsubscribed or complained already; a
# complaint any other. None ever makes a contact active again.
StoppedStatus = Literal["bounced", "unsubscribed", "complained"]
REPLACES: dict[StoppedStatus, frozenset[str]] = {
    "bounced": frozenset({"active", "unconfirmed"}),
    "unsubscribed": frozenset({"active", "unconfirmed", "bounced"}),
    "complained": frozenset({"active", "unconfirmed", "bounced", "unsubscribed"}),
}
# The suppression list's (and the consent record's) source of each.
SOURCE_OF: dict[StoppedStatus, Literal["bounce", "unsubscribe", "complaint"]] = {
    "bounced": "bounce",
    "unsubscribed": "unsubscribe",
    "complained": "complaint",
}


async def lock(conn: Connection, principal: Principal, contact_id: int) -> bool:
    """Hold the contact's row until the transaction ends (what decides from its history,
    such as counting its soft bounces, is then not raced); whether it exists."""
    return await repository.locked(Scoped(conn, principal), contact_id) is not None


async def set_status(
    conn: Connection,
    principal: Principal,
    contact_id: int,
    status: StoppedStatus,
    *,
    address: str | None = None,
) -> bool:
    """Move a contact to `status` if `REPLACES` allows it from its status now, with the
    events of the change (contact.updated; contact.unsubscribed, which the rules add) and
    a withdrawal on its consent record. The address goes on the suppression list either
    way (an address keeps its first entry). Whether the contact moved (no such contact,
    or a status it may not leave: no change). With `address` (the one an email went to),
    only while the contact still has that address: a late report about an address the
    contact has since changed is about that address, not the contact's new one."""
    scope = Scoped(conn, principal)
    before = await repository.locked(scope, contact_id)
    if before is None:
        return False
    if address is not None and str(before["email"]).lower() != address.lower():
        return False
    await consent.suppress(conn, principal, str(before["email"]), status, SOURCE_OF[status])
    if before["status"] not in REPLACES[status]:
        return False
    await _move(conn, principal, before, status, SOURCE_OF[status])
    return True


async def _move(
    conn: Connection, principal: Principal, before: Row, status: str, source: Any
) -> None:
    scope = Scoped(conn, principal)
    after = await repository.set_status(scope, int(before["id"]), status)
    old, new = await contacts.present_rows(conn, principal, [before, after])
    await events.record(conn, principal, contacts.rules.events("contact", "updated", old, new))
    await consent.record(conn, principal, int(before["id"]), "withdrawn", source)


async def stop_by_address(
    conn: Connection, principal: Principal, address: str, status: str, source: Any
) -> bool:
    """The contact with this address, if it may still be mailed (`active`, `unconfirmed`),
    moved to `status` with its events and a withdrawal (its address was just put on the
    suppression list). Whether there was one."""
    found = await repository.by_email(conn, principal, address)
    if found is None:
        return False
    before = await repository.locked(Scoped(conn, principal), int(found["id"]))
    if before is None or before["status"] not in ("active", "unconfirmed"):
        return False
    if str(before["email"]).lower() != address.strip().lower():
        return False
    await _move(conn, principal, before, status, source)
    return True


# ---------------------------------------------------------------- reads for the console


async def count_all(db: Database, principal: Principal) -> int:
    """How many contacts the caller's account and environment has."""
    return await repository.count_all(db, principal)


async def member_counts(
    db: Database, principal: Principal, membership: Membership, target_ids: Sequence[str]
) -> dict[str, int]:
    """How many contacts have each of these tags (or are in each of these groups:
    `membership` says which), by id: the maintained counts, never a count of rows."""
    kind = "tag" if membership is contact_tag_membership else "group"
    keys = {target: f"{kind}:{target}" for target in target_ids}
    counts = await repository.maintained_counts(db, principal, list(keys.values()))
    return {target: counts[key] for target, key in keys.items()}


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
