"""Contacts' one `set_status`, used by bounces and unsubscribes: it moves a contact only
from the statuses it may replace (never back to active), within the caller's account,
with the events of the change."""

from __future__ import annotations

from conftest import Account
from fastapi import FastAPI
from helpers import created

from activecommerce.contacts.service import set_status
from activecommerce.kit.principal import Principal


async def test_bounces_and_unsubscribes_move_a_contact_only_forward(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.sandbox
    ann = await created(api, "/v3/contacts", {"email": "ann@example.com"})
    bob = await created(api, "/v3/contacts", {"email": "bob@example.com"})
    db = app.state.services.db
    me = Principal(int(account.id), "sandbox", "plus", key_id=0)
    stranger = Principal(int(other.id), "sandbox", "plus", key_id=0)

    async def move(who: Principal, contact: dict[str, str], status: str) -> bool:
        async with db.transaction() as conn:
            return await set_status(conn, who, int(contact["id"]), status)  # type: ignore[arg-type]

    async def status_of(contact: dict[str, str]) -> str:
        status: str = (await api.get(f"/v3/contacts/{contact['id']}")).json()["status"]
        return status

    assert not await move(stranger, ann, "bounced")  # another account's contact: no change
    assert await status_of(ann) == "active"
    assert await move(me, ann, "unsubscribed")
    assert not await move(me, ann, "bounced")  # an unsubscribed contact stays unsubscribed
    assert not await move(me, ann, "unsubscribed")
    assert await status_of(ann) == "unsubscribed"
    assert await move(me, bob, "bounced")
    assert not await move(me, bob, "bounced")
    assert await move(me, bob, "unsubscribed")  # a bounced contact may still unsubscribe
    assert await status_of(bob) == "unsubscribed"
    types = [
        row["type"]
        for row in await db.fetchall(
            "SELECT type FROM events WHERE account_id = ? AND env = 'sandbox' ORDER BY id",
            (int(account.id),),
        )
    ]
    assert types.count("contact.unsubscribed") == 2
    assert types.count("contact.updated") == 3
