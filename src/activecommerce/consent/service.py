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

from collections.abc import Sequence
from typing import Literal

from activecommerce.consent import repository
from activecommerce.consent.keys import address_hash
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, conflict
from activecommerce.kit.repository import Scoped

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
    """Put the address on the list; whether it was not on it already (an address keeps
    its first entry)."""
    return await repository.insert_suppression(
        Scoped(conn, principal), address, address_hash(address), reason, source, now()
    )


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
