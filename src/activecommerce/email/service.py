"""What other layers ask of the email domain (the console reads a contact's emails here,
never through the repository)."""

from __future__ import annotations

from activecommerce.email import repository
from activecommerce.kit.db import Database, Row
from activecommerce.kit.principal import Principal


async def emails_of_contact(
    db: Database, principal: Principal, contact_id: int, limit: int
) -> list[Row]:
    """The latest `limit` emails sent (or to be sent) to a contact, newest first, with the
    name of their campaign or automation."""
    return await repository.of_contact(db, principal, contact_id, None, limit)
