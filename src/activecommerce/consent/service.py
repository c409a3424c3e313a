"""Consent: the suppression list and the record of every grant and withdrawal.

The rules every path that writes a contact's status follows:

- an unsubscribe, a hard bounce and a complaint put the address on the list (with the
  reason, its source and the time) and record a withdrawal;
- the list outlives the contact: an address on it comes back (create, import) with the
  status its entry gives (`status_of`), never `active`;
- a contact that is `unsubscribed`, `bounced` or `complained`, or whose address is on the
  list, is never made `active` by an account's own write (API, import, console:
  `refuse_activation`); only the person confirming a subscription ends it (`lift`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any, Literal, Unpack

from activecommerce.consent import models, repository
from activecommerce.consent.keys import address_hash
from activecommerce.consent.schemas import SuppressionIn, SuppressionOut
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.listing import ListFilter, ListQuery
from activecommerce.kit.pagination import CursorEnvelope, Paging
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, conflict
from activecommerce.kit.repository import Scoped
from activecommerce.kit.resource import Resource, Rules

Reason = Literal["unsubscribed", "bounced", "complained", "manual", "erased"]
REASONS: tuple[Reason, ...] = ("unsubscribed", "bounced", "complained", "manual", "erased")
ConsentSource = Literal["form", "api", "import", "console", "unsubscribe", "complaint", "bounce"]

# The status a contact has while its address is on the list, by the entry's reason.
STATUS_OF_REASON: dict[str, str] = {
    "unsubscribed": "unsubscribed",
    "bounced": "bounced",
    "complained": "complained",
    "manual": "unsubscribed",
    "erased": "unsubscribed",
}
# The statuses that stopped mail for good: only the person's own confirmation ends them.
STOPPED = frozenset({"unsubscribed", "bounced", "complained"})
# The statuses an account's write may not give a stopped or suppressed contact: `active`,
# and `unconfirmed`, which is on the way to it (and would be a way around the rule).
REVIVING = frozenset({"active", "unconfirmed"})


def status_of(entry: Row) -> str:
    """The status of a contact whose address is on the list with this entry."""
    return STATUS_OF_REASON[str(entry["reason"])]


async def suppression_of(
    db: Connection | Database, principal: Principal, address: str
) -> Row | None:
    """The list's entry for this address (compared case-insensitively), if any."""
    return await repository.suppression(Scoped(db, principal), address_hash(address))


async def suppressions_of(
    db: Connection | Database, principal: Principal, addresses: Sequence[str]
) -> dict[str, Row]:
    """The entries of these addresses that are on the list, by lower-cased address."""
    hashes = {address_hash(a): a.strip().lower() for a in addresses}
    if not hashes:
        return {}
    rows = await repository.suppressions_among(Scoped(db, principal), list(hashes))
    return {hashes[str(row["email_hash"])]: row for row in rows}


async def suppress(
    conn: Connection, principal: Principal, address: str, reason: Reason, source: str
) -> bool:
    """Put the address on the list; whether it was not on it already. An address keeps
    its first entry, except that a `manual` one (which the account may remove) takes any
    other reason that comes after it (the person's own stop, an erasure: not removable)."""
    scope, key, stamp = Scoped(conn, principal), address_hash(address), now()
    new = await repository.insert_suppression(scope, address, key, reason, source, stamp)
    if not new and reason != "manual":
        await repository.upgrade_manual(scope, [key], reason, source, stamp)
    return new


async def lift(conn: Connection, principal: Principal, address: str) -> bool:
    """Take the address off the list: only for the person's own confirmation of a
    subscription. Whether it was on it."""
    return await repository.delete_suppression(Scoped(conn, principal), address_hash(address))


async def record(
    conn: Connection,
    principal: Principal,
    contact_id: int,
    action: Literal["granted", "withdrawn"],
    source: ConsentSource,
    *,
    form_id: int | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Record a grant or a withdrawal of the contact's consent to be mailed."""
    await repository.insert_consent(
        Scoped(conn, principal),
        contact_id,
        action,
        source,
        form_id,
        ip,
        (user_agent or "")[:512] or None,
        now(),
    )


def activation_refused(current_status: str, suppressed: Row | None) -> Problem | None:
    """The 409 for an account's own write that would make this contact `active` (its
    status now, and its address's entry on the list), or None when it may."""
    if current_status in STOPPED:
        return conflict(
            f"This contact is {current_status}: only the person can subscribe again"
            " (through a signup form's confirmation)."
        )
    if suppressed is not None:
        return conflict(
            f"This address is on the suppression list ({suppressed['reason']}): only the"
            " person can subscribe again (through a signup form's confirmation)."
        )
    return None


async def suppress_many(
    conn: Connection, principal: Principal, entries: Sequence[tuple[str, str]], source: str
) -> set[str]:
    """Put many addresses on the list at once ((address, reason) each); the lower-cased
    addresses whose entry is new."""
    if not entries:
        return set()
    stamp = now()
    scope = (principal.account_id, principal.env)
    hashes = {address_hash(a): a.strip().lower() for a, _ in entries}
    rows = [(*scope, a, address_hash(a), reason, source, stamp, stamp) for a, reason in entries]
    added = {str(row["email_hash"]) for row in await repository.insert_suppressions(conn, rows)}
    listed: dict[str, list[str]] = {}  # reason -> hashes of addresses on the list before
    for address, reason in entries:
        key = address_hash(address)
        if key not in added and reason != "manual":
            listed.setdefault(reason, []).append(key)
    for reason, keys in sorted(listed.items()):
        await repository.upgrade_manual(Scoped(conn, principal), keys, reason, source, stamp)
    return {hashes[key] for key in added}


async def record_many(
    conn: Connection,
    principal: Principal,
    records: Sequence[tuple[int, Literal["granted", "withdrawn"]]],
    source: ConsentSource,
) -> None:
    """Many consent records at once ((contact id, action) each), all from `source`."""
    if records:
        stamp = now()
        scope = (principal.account_id, principal.env)
        await repository.insert_consents(
            conn, [(*scope, contact_id, action, source, stamp) for contact_id, action in records]
        )


# ---------------------------------------------------------------- who is writing

WriteSource = Literal["api", "console", "import"]
_source: ContextVar[WriteSource] = ContextVar("consent_write_source", default="api")


@contextlib.contextmanager
def writing_from(source: WriteSource) -> Iterator[None]:
    """The account's writes within this block come from `source` (the console sets
    "console"; the API is the default): the source its consent records and suppression
    entries are given."""
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


def write_source() -> WriteSource:
    return _source.get()


# ---------------------------------------------------------------- concurrency


# Addresses are locked by bucket, not one by one: an import batch of 5,000 addresses takes
# at most this many advisory locks (PostgreSQL's shared lock table holds about 6,400 by
# default, for every session together), at the cost of two unrelated addresses meeting in
# one bucket now and then. The buckets are this feature's own key range.
LOCK_BUCKETS = 256
_LOCK_BASE = 0x5C0_0000  # an arbitrary base, apart from any other advisory lock's keys


def _lock_key(address: str) -> int:
    return _LOCK_BASE + int(address_hash(address)[:8], 16) % LOCK_BUCKETS


async def lock_addresses(conn: Connection, addresses: Sequence[str]) -> None:
    """Hold these addresses until the transaction ends (PostgreSQL: advisory locks; SQLite
    has one writer). Every write that could give an address an active contact takes it
    before it reads the list, and every write that puts an address on the list takes it
    before the insert and then looks for the contact: of two such writes, the second
    always sees the first's work (no active contact with a suppressed address)."""
    await repository.lock_addresses(conn, [_lock_key(a) for a in addresses])


# ---------------------------------------------------------------- the list through the API


class SuppressionRules(Rules[SuppressionIn]):
    async def present(
        self, db: Connection | Database, principal: Principal, objects: list[dict[str, Any]]
    ) -> None:
        for obj in objects:
            obj.pop("updatedAt", None)


suppressions = Resource(
    collection="suppressions",
    event_name="suppression",
    table=models.suppressions,
    title="suppression",
    create_model=SuppressionIn,
    patch_model=SuppressionIn,
    out_model=SuppressionOut,
    sortable={"createdAt": "created_at"},
    filters=(
        ListFilter(
            "email",
            "email_hash = ?",
            description="An address (compared case-insensitively; an erased entry is found"
            " by its address too)",
        ),
        ListFilter(
            "reason",
            "reason = ?",
            annotation=Reason,
            description="unsubscribed, bounced, complained, manual or erased",
        ),
    ),
    rules=SuppressionRules(),
)


async def list_suppressions(
    db: Database, principal: Principal, filters: dict[str, Any], **page: Unpack[Paging]
) -> CursorEnvelope:
    """`filters`: `email` (an address: found by its keyed hash) and `reason`."""
    if filters.get("email") is not None:
        filters = {**filters, "email": address_hash(str(filters["email"]))}
    return await suppressions.list_rows(db, principal, filters=filters, **page)


async def get_suppression(
    db: Database, principal: Principal, suppression_id: str
) -> dict[str, Any]:
    row = await suppressions.get_row(db, principal, suppression_id)
    return await suppressions.present_row(db, principal, row)


async def add_manual(
    conn: Connection, principal: Principal, address: str
) -> tuple[dict[str, Any], bool]:
    """A manual entry for the address (source: `write_source()`), and whether it is new.
    An address already on the list keeps its entry (returned, with False). The address's
    contact, if `active` or `unconfirmed`, becomes `unsubscribed` (with its events and a
    withdrawal)."""
    from activecommerce.contacts import service as contacts  # contacts use this module

    source = write_source()
    await lock_addresses(conn, [address])
    new = await repository.insert_suppression(
        Scoped(conn, principal), address, address_hash(address), "manual", source, now()
    )
    await contacts.stop_by_address(conn, principal, address, "unsubscribed", source)
    row = await repository.suppression(Scoped(conn, principal), address_hash(address))
    assert row is not None
    return await suppressions.present_row(conn, principal, row), new


async def remove_manual(conn: Connection, principal: Principal, suppression_id: str) -> None:
    """Delete a `manual` entry (others: a 409; not the caller's: a 404)."""
    row = await suppressions.get_row(conn, principal, suppression_id, lock=True)
    if row["reason"] != "manual":
        raise conflict(
            f"This entry's reason is {row['reason']}: only manual entries can be removed;"
            " only the person can subscribe again (through a signup form's confirmation)."
        )
    await repository.delete_suppression_by_id(Scoped(conn, principal), int(row["id"]))


# ---------------------------------------------------------------- consent records

consent_lists = ListQuery(models.consents, {"createdAt": "created_at"}, ())


def consent_view(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "action": row["action"],
        "source": row["source"],
        "formId": str(row["form_id"]) if row["form_id"] is not None else None,
        "ip": row["ip"],
        "userAgent": row["user_agent"],
        "createdAt": row["created_at"],
    }


async def consents_of(
    db: Database,
    principal: Principal,
    contact_id: int,
    *,
    page: int,
    page_size: int,
    cursor: str | None = None,
) -> CursorEnvelope:
    """A contact's consent records, newest first (the caller checked the contact is its)."""
    meta, rows = await consent_lists.page(
        db,
        principal,
        "*",
        page=page,
        page_size=page_size,
        sort_by="createdAt",
        sort_order="desc",
        filters={},
        cursor=cursor,
        base="contact_id = ?",
        base_params=(contact_id,),
    )
    return {"data": [consent_view(row) for row in rows], "meta": meta}


async def recent_consents(
    db: Database, principal: Principal, contact_id: int, limit: int
) -> list[dict[str, Any]]:
    """A contact's newest consent records (the console's contact page)."""
    rows = await repository.consents_of(Scoped(db, principal), contact_id, None, limit)
    return [consent_view(row) for row in rows]


async def erase(conn: Connection, principal: Principal, address: str) -> None:
    """An erased person's address: on the list (reason `erased`, unless it was on it for
    another reason already, which stays), keeping only its keyed hash."""
    await lock_addresses(conn, [address])
    await suppress(conn, principal, address, "erased", "erasure")
    await repository.erase_address(Scoped(conn, principal), address_hash(address), now())


async def withdrawn_since(
    db: Connection | Database,
    principal: Principal,
    contact_id: int | None,
    address: str,
    stamp: str,
) -> bool:
    """Whether the person withdrew consent after `stamp` (an unsubscribe, a bounce or a
    complaint recorded since: a withdrawal of the contact, or the address put on the
    list): what was asked before that (a pending confirmation) no longer stands."""
    return await repository.withdrawn_since(
        Scoped(db, principal), contact_id, address_hash(address), stamp
    )


# ---------------------------------------------------------------- contacts stopped before the list

_SOURCE_OF_STATUS = {"unsubscribed": "unsubscribe", "bounced": "bounce", "complained": "complaint"}


async def system_backfill(db: Database, batch: int = 1000) -> int:
    """Put on the list the address of every contact that is unsubscribed, bounced or
    complained and is not on it yet: those stopped before the list existed, which would
    otherwise be mailable again once deleted and re-created. Idempotent; run by the worker
    once per start, in batches (short transactions). How many were added."""
    added, after = 0, 0
    while rows := await repository.system_stopped_after(db, after, batch):
        after = int(rows[-1]["id"])
        stamp = now()
        entries = [
            (
                int(row["account_id"]),
                str(row["env"]),
                str(row["email"]),
                address_hash(str(row["email"])),
                str(row["status"]),
                _SOURCE_OF_STATUS[str(row["status"])],
                stamp,
                stamp,
            )
            for row in rows
        ]
        async with db.transaction() as conn:
            added += len(await repository.insert_suppressions(conn, entries))
    return added
