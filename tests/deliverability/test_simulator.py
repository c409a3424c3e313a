"""The sandbox's mailbox simulator: a sandbox campaign to the simulator's addresses gets
each the outcome a real mailbox would report, through the inbound server's own path (a
real DSN or ARF message to the message's signed return path)."""

from __future__ import annotations

import uuid

from conftest import Account
from fastapi import FastAPI
from helpers import created, wait_for

from activecommerce.deliverability.dsn import read
from activecommerce.deliverability.simulator import report_for

from .samples import events_about, message, reports_of, status_of, suppression_of

SIMULATOR = "simulator.activecommerce.test"
EXPECTED = {
    "bounce": ("bounced", "bounced", [("hard", "dsn")], ["email.bounced"]),
    "softbounce": ("active", None, [("soft", "dsn")], ["email.bounced"]),
    "complaint": ("complained", "complained", [("complaint", "arf")], ["email.complained"]),
    "success": ("active", None, [("delivered", "dsn")], []),
}


def test_the_simulated_reports_read_as_real_ones() -> None:
    rp = "b-1-s-aaaaaaaaaaaaaaaa@bounces.shop.io"
    kinds = {box: read(report_for(f"{box}@{SIMULATOR}", rp, "<1.sandbox@x>")) for box in EXPECTED}
    assert {box: (f.kind, f.source) if f else None for box, f in kinds.items()} == {
        "bounce": ("hard", "dsn"),
        "softbounce": ("soft", "dsn"),
        "complaint": ("complaint", "arf"),
        "success": ("delivered", "dsn"),
    }


async def test_a_sandbox_campaign_to_the_simulator(app: FastAPI, account: Account) -> None:
    api, db = account.sandbox, app.state.services.db
    group = await created(api, "/v3/contactGroups", {"name": f"Sim {uuid.uuid4().hex[:6]}"})
    contacts = {}
    for box in EXPECTED:
        # Upper case on purpose: addresses compare case-insensitively.
        contact = await created(api, "/v3/contacts", {"email": f"{box}@{SIMULATOR.upper()}"})
        contacts[box] = int(contact["id"])
        r = await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
        assert r.status_code == 204, r.text
    body = {"name": "Sim", "subject": "Hi", "fromEmail": "news@shop.io", "plaintextContent": "Hi"}
    campaign = await created(api, "/v3/emailCampaigns", body)
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send", json={"audience": {"groupIds": [group["id"]]}}
    )
    assert r.status_code == 202, r.text

    async def reported() -> bool:
        found = await db.fetchone(
            "SELECT count(*) AS n FROM email_reports WHERE account_id = ? AND env = 'sandbox'",
            (int(account.id),),
        )
        return found is not None and int(found["n"]) == len(EXPECTED)

    await wait_for(reported, timeout=20, what="the simulator's four reports")
    rows = await db.fetchall(
        "SELECT id, contact_id FROM email_messages WHERE account_id = ? AND campaign_id = ?",
        (int(account.id), int(campaign["id"])),
    )
    by_contact = {int(r["contact_id"]): int(r["id"]) for r in rows}
    for box, (status, suppressed, reports, events) in EXPECTED.items():
        message_id = by_contact[contacts[box]]
        assert await status_of(api, contacts[box]) == status, box
        assert await suppression_of(api, f"{box}@{SIMULATOR}") == suppressed, box
        assert await reports_of(db, account, message_id) == reports, box
        types = ("email.bounced", "email.complained")
        assert await events_about(app, account, message_id, *types) == events, box
        row = await message(db, account, message_id)
        assert row["status"] == "sent", box
        assert (row["bounce_kind"] is not None) == (box in ("bounce", "softbounce")), box
        assert (row["complained_at"] is not None) == (box == "complaint"), box
        assert (row["delivered_at"] is not None) == (box == "success"), box
