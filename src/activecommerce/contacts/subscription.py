"""A person's own subscription through a signup form: the only writes that may make a
contact that unsubscribed, bounced or complained (or whose address is on the suppression
list) `active` again, because the person asked for it themselves (they confirmed by the
link sent to that address, or submitted a form without double opt-in while nothing
stopped their mail).

The account-side guards (API, import, console) refuse such activations; these functions
bypass them on purpose, and nothing else in the product calls them but the forms
domain's submission and confirmation.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from activecommerce.consent import service as consent
from activecommerce.contacts import repository
from activecommerce.contacts.schemas import ContactIn
from activecommerce.contacts.service import (
    contact_group_membership,
    contact_tag_membership,
    contacts,
)
from activecommerce.kit import events
from activecommerce.kit.db import Connection, Row
from activecommerce.kit.fields import Email
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, invalid_body
from activecommerce.kit.repository import Scoped, lock_clause

_ADDRESS: TypeAdapter[str] = TypeAdapter(Email)

# The contact's own details a form may ask for (API names -> columns).
DETAILS = {"firstName": "first_name", "lastName": "last_name", "phone": "phone"}


async def locked_by_email(conn: Connection, principal: Principal, address: str) -> Row | None:
    """The contact with this address (case-insensitively), locked until the transaction
    ends, or None."""
    return await Scoped(conn, principal).fetchone(
        "SELECT * FROM contacts WHERE @tenant AND lower(email) = lower(?)"
        + lock_clause(conn, "NO KEY UPDATE"),
        (address,),
    )


async def create_pending(
    conn: Connection,
    principal: Principal,
    address: str,
    details: dict[str, Any],
    entry: Row | bool | None = False,
) -> int:
    """A new contact for a form's submission (its id): `unconfirmed`, or, when the
    address is on the suppression list, the status its entry gives (never `active`).
    `details`: the form's answers (firstName, lastName, phone, fields: {key: value}); a
    value its field does not take is a 422. `entry`: the address's entry on the list when
    the caller read it already (None: not on it)."""
    if entry is False:
        entry = await consent.suppression_of(conn, principal, address)
    assert entry is not True
    status = "unconfirmed" if entry is None else consent.status_of(entry)
    try:
        body = ContactIn.model_validate({"email": address, **details, "status": status})
    except ValidationError as exc:
        raise invalid_body(exc) from None
    created = await contacts.create(conn, principal, body)
    return int(created["id"])


def address_error(address: str) -> str | None:
    """Why `address` is not an email address a contact may have, or None."""
    try:
        _ADDRESS.validate_python(address)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return None


async def delete_if_unconfirmed(conn: Connection, principal: Principal, contact_id: int) -> bool:
    """Delete the contact if it is still `unconfirmed` (it never confirmed: retention)."""
    row = await repository.locked(Scoped(conn, principal), contact_id)
    if row is None or row["status"] != "unconfirmed":
        return False
    await contacts.delete(conn, principal, str(contact_id))
    return True


async def subscribe(
    conn: Connection,
    principal: Principal,
    contact_id: int,
    details: dict[str, Any],
    *,
    form_id: int,
    group_ids: list[str],
    tag_ids: list[str],
    ip: str | None,
    user_agent: str | None,
) -> dict[str, Any]:
    """The person subscribed themselves (confirmed, or a form without double opt-in):
    their answers written, the contact `active`, its address off the suppression list,
    the form's groups and tags added, the consent recorded, `contact.subscribed` fired
    (which starts the automations triggered by this form). The contact is locked by
    the caller. The contact as the API shows it."""
    scope = Scoped(conn, principal)
    sent = {key: details[key] for key in (*DETAILS, "fields") if details.get(key) is not None}
    if sent:
        try:
            patch = contacts.patch_model.model_validate(sent)
        except ValidationError as exc:
            raise invalid_body(exc) from None
        await contacts.patch(conn, principal, str(contact_id), patch)
    before = await repository.locked(scope, contact_id)
    assert before is not None
    if before["status"] != "active":
        after = await repository.set_status(scope, contact_id, "active")
        old, new = await contacts.present_rows(conn, principal, [before, after])
        await events.record(conn, principal, contacts.rules.events("contact", "updated", old, new))
    await consent.lift(conn, principal, str(before["email"]))
    await consent.record(
        conn,
        principal,
        contact_id,
        "granted",
        "form",
        form_id=form_id,
        ip=ip,
        user_agent=user_agent,
    )
    for membership, ids in (
        (contact_group_membership, group_ids),
        (contact_tag_membership, tag_ids),
    ):
        for target in ids:
            try:
                await membership.add(conn, principal, str(contact_id), str(target))
            except Problem as problem:
                if problem.status != 404:  # deleted since the form was saved: skipped
                    raise
    row = await repository.locked(scope, contact_id)
    assert row is not None
    shown = await contacts.present_row(conn, principal, row)
    await events.record(
        conn, principal, [("contact.subscribed", {"contact": shown, "formId": str(form_id)})]
    )
    return shown
