"""The report's outcomes: delivered, bounced (hard and soft), failed, complaints, and the
most frequent reasons, over messages in every state (written as sending and the bounce
intake leave them)."""

from __future__ import annotations

from typing import Any

from conftest import Account
from fastapi import FastAPI
from helpers import EMAIL, created

from activecommerce.kit.clock import now

# (status, error, bounced_at set, bounce_kind, complained) -> how many.
STATES = [
    ("sent", None, False, None, False, 5),  # delivered
    ("sent", None, False, None, True, 1),  # delivered, then a complaint
    ("sent", "550 5.1.1 no such user (report)", True, "hard", False, 2),  # a later DSN
    ("sent", "452 4.2.2 mailbox full", True, "soft", False, 1),  # a later soft bounce
    ("sent", "550 5.7.1 spam content", False, "policy", False, 1),  # refused later
    ("failed", "550 5.1.1 No such user", True, None, False, 3),  # at send time: hard
    ("failed", "soft bounce: gave up after 5 attempts: 451 try later", False, None, False, 2),
    ("failed", "550 5.7.1 Message refused by policy", False, None, False, 4),
    ("failed", "template: boom", False, None, False, 1),
    ("skipped", "the contact is not active", False, None, False, 2),
    ("queued", None, False, None, False, 1),
]


async def _messages(app: FastAPI, account: Account, column: str, source_id: int) -> None:
    db = app.state.services.db
    stamp = now()
    async with db.transaction() as conn:
        for status, error, bounced, kind, complained, n in STATES:
            for _ in range(n):
                await conn.execute(
                    "INSERT INTO email_messages (account_id, env, "
                    + column
                    + ", is_test, status, attempts, due_at, error, bounced_at, bounce_kind,"
                    " complained_at, open_count, click_count, created_at, updated_at)"
                    " VALUES (?, 'live', ?, ?, ?, 0, ?, ?, ?, ?, ?, 0, 0, ?, ?)",
                    (
                        int(account.id),
                        source_id,
                        False,
                        status,
                        stamp,
                        error,
                        stamp if bounced else None,
                        kind,
                        stamp if complained else None,
                        stamp,
                        stamp,
                    ),
                )
        # A test copy is in no report.
        await conn.execute(
            "INSERT INTO email_messages (account_id, env, " + column + ", is_test, status,"
            " attempts, due_at, error, open_count, click_count, created_at, updated_at)"
            " VALUES (?, 'live', ?, ?, 'failed', 0, ?, 'test copy', 0, 0, ?, ?)",
            (int(account.id), source_id, True, stamp, stamp, stamp),
        )


def _check(report: dict[str, Any]) -> None:
    assert report["sent"] == 10
    assert report["delivered"] == 6
    assert (report["hardBounces"], report["softBounces"], report["bounced"]) == (5, 3, 8)
    assert report["failed"] == 6  # 4 policy + 1 template + 1 policy reported later
    assert report["complaints"] == 1
    assert report["reasons"][:2] == [
        {"outcome": "failed", "reason": "550 5.7.1 Message refused by policy", "count": 4},
        {"outcome": "bounced", "reason": "550 5.1.1 No such user", "count": 3},
    ]
    listed = {(r["outcome"], r["reason"], r["count"]) for r in report["reasons"]}
    assert ("bounced", "452 4.2.2 mailbox full", 1) in listed
    assert ("failed", "550 5.7.1 spam content", 1) in listed
    assert ("bounced", "soft bounce: gave up after 5 attempts: 451 try later", 2) in listed
    assert all(r[1] != "test copy" for r in listed)
    assert len(report["reasons"]) == 7


async def test_a_campaigns_report_separates_outcomes(app: FastAPI, account: Account) -> None:
    api = account.live
    campaign = await created(api, "/v3/emailCampaigns", EMAIL)
    await _messages(app, account, "campaign_id", int(campaign["id"]))
    report = (await api.get(f"/v3/emailCampaigns/{campaign['id']}/report")).json()
    _check(report)
    assert report["recipients"] == 23
    assert report["bounces"] == report["bounced"]


async def test_an_automations_report_separates_outcomes(app: FastAPI, account: Account) -> None:
    api = account.live
    tag = await created(api, "/v3/contactTags", {"name": "t"})
    body = {**EMAIL, "trigger": {"type": "tag_added", "tagId": tag["id"]}, "status": "paused"}
    automation = await created(api, "/v3/emailAutomations", body)
    await _messages(app, account, "automation_id", int(automation["id"]))
    report = (await api.get(f"/v3/emailAutomations/{automation['id']}/report")).json()
    _check(report)
    assert report["enrolled"] == 23
