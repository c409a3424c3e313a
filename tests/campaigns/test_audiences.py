"""Campaign audiences: everyone, groups, tags and segments with exclusions, sent through
the embedded worker on the capture transport (the sandbox): who receives the campaign,
once; what is fixed when sending starts; the count; what an audience refuses."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from conftest import Account
from fastapi import FastAPI
from helpers import EMAIL, created, field_errors, problem, wait_for

from activecommerce.campaigns import audiences
from activecommerce.email import repository as email_repository
from activecommerce.kit.clock import now
from activecommerce.kit.db import Database
from activecommerce.kit.principal import Principal


def _db(app: FastAPI) -> Database:
    db: Database = app.state.services.db
    return db


async def new_segment(app: FastAPI, account: Account, conditions: dict[str, Any]) -> str:
    """A segment stored as the segments API stores one (that API is another's)."""
    stamp = now()
    async with _db(app).transaction() as conn:
        row = await conn.fetchone(
            "INSERT INTO segments (account_id, env, name, conditions, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (int(account.id), "sandbox", "seg", orjson.dumps(conditions).decode(), stamp, stamp),
        )
    assert row is not None
    return str(row["id"])


async def _people(api: httpx.AsyncClient) -> dict[str, Any]:
    """ann, bob, cid, dan, eve (active), uma (unsubscribed), bo (bounced); a group (ann,
    bob, uma), a tag (bob, cid, bo), and a segment of the contacts named with a "d" or
    "e" (dan, eve)."""
    group = await created(api, "/v3/contactGroups", {"name": "Customers"})
    tag = await created(api, "/v3/contactTags", {"name": "VIP"})
    people: dict[str, Any] = {"group": group, "tag": tag}
    for name, status in (
        ("ann", "active"),
        ("bob", "active"),
        ("cid", "active"),
        ("dan", "active"),
        ("eve", "active"),
        ("uma", "unsubscribed"),
        ("bo", "bounced"),
    ):
        people[name] = await created(
            api,
            "/v3/contacts",
            {"email": f"{name}@example.com", "firstName": name.title(), "status": status},
        )
    for name in ("ann", "bob", "uma"):
        r = await api.put(f"/v3/contacts/{people[name]['id']}/groups/{group['id']}")
        assert r.status_code == 204
    for name in ("bob", "cid", "bo"):
        r = await api.put(f"/v3/contacts/{people[name]['id']}/tags/{tag['id']}")
        assert r.status_code == 204
    return people


DE_SEGMENT = {
    "any": [
        {"field": "firstName", "op": "starts_with", "value": "d"},
        {"field": "firstName", "op": "starts_with", "value": "e"},
    ]
}
# Every active contact of `_people`.
ALL = ["ann", "bob", "cid", "dan", "eve"]


async def _send(api: httpx.AsyncClient, audience: dict[str, Any], **body: Any) -> dict[str, Any]:
    campaign = await created(api, "/v3/emailCampaigns", EMAIL)
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send", json={"audience": audience, **body}
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


async def _count(api: httpx.AsyncClient, campaign: dict[str, Any], audience: Any) -> int:
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/audienceCount", json={"audience": audience}
    )
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


async def _reached(api: httpx.AsyncClient, campaign: dict[str, Any]) -> list[str]:
    """Once the campaign is sent: the addresses its mail went to (each once)."""

    async def sent() -> bool:
        r = await api.get(f"/v3/emailCampaigns/{campaign['id']}")
        return bool(r.json()["status"] == "sent")

    await wait_for(sent, what="the campaign to be sent")
    r = await api.get(
        "/v3/sandbox/emails", params={"pageSize": "100", "campaignId": campaign["id"]}
    )
    assert r.status_code == 200, r.text
    to = [m["to"] for m in r.json()["data"]]
    assert len(to) == len(set(to)), to  # once each
    return sorted(t.removesuffix("@example.com") for t in to)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ({"all": True}, ALL),
        ({"groupIds": ["G"], "tagIds": ["T"], "segmentIds": ["S"]}, ALL),
        ({"groupIds": ["G"], "tagIds": ["T"]}, ["ann", "bob", "cid"]),
        ({"all": True, "exclude": {"tagIds": ["T"], "segmentIds": ["S"]}}, ["ann"]),
        ({"tagIds": ["T"], "segmentIds": ["S"], "exclude": {"groupIds": ["G"]}}, ALL[2:]),
        ({"segmentIds": ["S"], "exclude": {"segmentIds": ["S2"]}}, ["dan"]),
    ],
)  # fmt: skip
async def test_the_send_reaches_the_audience_once_and_the_count_says_so(
    app: FastAPI,
    account: Account,
    api: httpx.AsyncClient,
    shape: dict[str, Any],
    expected: list[str],
) -> None:
    people = await _people(api)
    ids = {
        "G": people["group"]["id"],
        "T": people["tag"]["id"],
        "S": await new_segment(app, account, DE_SEGMENT),
        "S2": await new_segment(app, account, {"field": "firstName", "op": "eq", "value": "Eve"}),
    }

    def named(part: dict[str, Any]) -> dict[str, Any]:
        return {
            k: ([ids[x] for x in v] if isinstance(v, list) else named(v) if k == "exclude" else v)
            for k, v in part.items()
        }

    audience = named(shape)
    draft = await created(api, "/v3/emailCampaigns", EMAIL)
    counted = await _count(api, draft, audience)
    campaign = await _send(api, audience)
    reached = await _reached(api, campaign)
    assert reached == expected
    assert counted == len(expected)  # the count is what the send reached
    report = (await api.get(f"/v3/emailCampaigns/{campaign['id']}/report")).json()
    assert (report["recipients"], report["sent"]) == (len(expected), len(expected))


async def test_recipients_are_fixed_when_sending_starts(
    app: FastAPI, account: Account, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contact created (and matching) after the start is not added; one unsubscribed
    after it was recorded, before its email went, gets nothing."""
    people = await _people(api)
    me = int(account.id)
    late: list[dict[str, Any]] = []
    walk = audiences.page

    async def page_then_create(db: Database, principal: Principal, *args: Any) -> list[int]:
        if principal.account_id == me and not late:
            # After the start fixed the audience, before it is walked.
            late.append(await created(api, "/v3/contacts", {"email": "late@example.com"}))
        return await walk(db, principal, *args)

    queued = email_repository.system_queued
    unsubscribed: list[str] = []

    async def unsubscribe_then_read(db: Database, ids: list[int]) -> Any:
        if not unsubscribed:
            r = await api.patch(
                f"/v3/contacts/{people['bob']['id']}", json={"status": "unsubscribed"}
            )
            assert r.status_code == 200
            unsubscribed.append(people["bob"]["id"])
        return await queued(db, ids)

    monkeypatch.setattr(audiences, "page", page_then_create)
    monkeypatch.setattr(email_repository, "system_queued", unsubscribe_then_read)
    campaign = await _send(api, {"all": True})
    assert await _reached(api, campaign) == ["ann", "cid", "dan", "eve"]
    assert late
    assert unsubscribed
    report = (await api.get(f"/v3/emailCampaigns/{campaign['id']}/report")).json()
    assert (report["recipients"], report["sent"]) == (5, 4)  # bob recorded, skipped
    # What the start fixed is stored with the campaign, for a rerun of its job.
    row = await _db(app).fetchone(
        "SELECT audience FROM email_campaigns WHERE id = ? AND account_id = ?",
        (int(campaign["id"]), me),
    )
    assert row is not None
    _, frozen = audiences.loads(row["audience"])
    assert frozen is not None
    assert frozen.max_contact_id < int(late[0]["id"])


async def test_bad_audiences_are_refused(
    app: FastAPI, account: Account, api: httpx.AsyncClient, other: Account
) -> None:
    people = await _people(api)
    campaign = await created(api, "/v3/emailCampaigns", EMAIL)
    theirs = {
        "group": (await created(other.sandbox, "/v3/contactGroups", {"name": "x"}))["id"],
        "tag": (await created(other.sandbox, "/v3/contactTags", {"name": "x"}))["id"],
        "segment": await new_segment(app, other, DE_SEGMENT),
    }
    mine = await new_segment(app, account, DE_SEGMENT)
    for path in ("send", "audienceCount"):
        url = f"/v3/emailCampaigns/{campaign['id']}/{path}"
        assert field_errors(await api.post(url, json={"audience": {}})) == {"audience"}
        r = await api.post(url, json={"audience": {"all": True, "tagIds": [people["tag"]["id"]]}})
        assert field_errors(r) == {"audience.all"}
        r = await api.post(
            url,
            json={
                "audience": {
                    "groupIds": [people["group"]["id"], theirs["group"]],
                    "tagIds": [theirs["tag"]],
                    "segmentIds": [mine],
                    "exclude": {"segmentIds": [theirs["segment"]]},
                }
            },
        )
        assert field_errors(r) == {
            "audience.groupIds.1",
            "audience.tagIds.0",
            "audience.exclude.segmentIds.0",
        }
        r = await api.post(url, json={"audience": {"all": True, "segmentId": [mine]}})
        assert r.status_code == 422
    # Another account's campaign is not there.
    url = f"/v3/emailCampaigns/{campaign['id']}/audienceCount"
    problem(await other.sandbox.post(url, json={"audience": {"all": True}}), 404)
    assert (await api.get(f"/v3/emailCampaigns/{campaign['id']}")).json()["status"] == "draft"


async def test_what_a_scheduled_audience_names_cannot_be_deleted(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    people = await _people(api)
    segment = await new_segment(app, account, DE_SEGMENT)
    spare = await new_segment(app, account, DE_SEGMENT)
    campaign = await _send(
        api,
        {"groupIds": [people["group"]["id"]], "exclude": {"segmentIds": [segment]}},
        scheduledAt="2099-01-01T10:00:00Z",
    )
    assert campaign["status"] == "scheduled"
    body = problem(await api.delete(f"/v3/contactGroups/{people['group']['id']}"), 409)
    assert campaign["id"] in body["detail"]
    body = problem(await api.delete(f"/v3/segments/{segment}"), 409)
    assert campaign["id"] in body["detail"]
    # named by no campaign: no objection
    assert (await api.delete(f"/v3/segments/{spare}")).status_code == 204
    # The tag is not in the audience; once the campaign is canceled, nothing is held.
    assert (await api.delete(f"/v3/contactTags/{people['tag']['id']}")).status_code == 204
    r = await api.post(f"/v3/emailCampaigns/{campaign['id']}/cancel")
    assert r.status_code == 200
    assert (await api.delete(f"/v3/contactGroups/{people['group']['id']}")).status_code == 204
    assert (await api.delete(f"/v3/segments/{segment}")).status_code == 204


async def test_a_segment_gone_before_the_start_cancels_the_campaign(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    """Deleted behind the guard's back (as a store edited by hand): nothing goes out."""
    await _people(api)
    segment = await new_segment(app, account, DE_SEGMENT)
    draft = await created(api, "/v3/emailCampaigns", EMAIL)
    async with _db(app).transaction() as conn:
        await conn.execute(
            "DELETE FROM segments WHERE id = ? AND account_id = ?", (int(segment), int(account.id))
        )
    r = await api.post(
        f"/v3/emailCampaigns/{draft['id']}/send", json={"audience": {"segmentIds": [segment]}}
    )
    assert field_errors(r) == {"audience.segmentIds.0"}
    # Gone between the send and the start: canceled, nothing sent.
    segment = await new_segment(app, account, DE_SEGMENT)
    gone: list[bool] = []
    freeze = audiences.freeze

    async def delete_then_freeze(db: Database, principal: Principal, audience: Any) -> Any:
        if principal.account_id == int(account.id) and not gone:
            async with db.transaction() as conn:
                await conn.execute(
                    "DELETE FROM segments WHERE id = ? AND account_id = ?",
                    (int(segment), int(account.id)),
                )
            gone.append(True)
        return await freeze(db, principal, audience)

    mp = pytest.MonkeyPatch()
    mp.setattr(audiences, "freeze", delete_then_freeze)
    try:
        campaign = await _send(api, {"segmentIds": [segment]})

        async def canceled() -> bool:
            r = await api.get(f"/v3/emailCampaigns/{campaign['id']}")
            return bool(r.json()["status"] == "canceled")

        await wait_for(canceled, what="the campaign to be canceled")
    finally:
        mp.undo()
    report = (await api.get(f"/v3/emailCampaigns/{campaign['id']}/report")).json()
    assert report["recipients"] == 0


async def test_trigger_conditions_enrol_only_matching_contacts(
    api: httpx.AsyncClient, other: Account
) -> None:
    people = await _people(api)
    extra = await created(api, "/v3/contactTags", {"name": "Extra"})
    conditions = {
        "all": [
            {"field": "firstName", "op": "in", "value": ["Ann", "Cid", "Dan"]},
            {"tag": extra["id"], "has": False},
        ]
    }
    trigger: dict[str, Any] = {"type": "added_to_group", "groupId": people["group"]["id"]}
    body: dict[str, Any] = {**EMAIL, "trigger": trigger}
    # Checked when saved: 422s naming the place.
    bad = {"field": "firstName", "op": "gt", "value": "A"}
    r = await api.post(
        "/v3/emailAutomations", json={**body, "trigger": {**trigger, "conditions": bad}}
    )
    assert field_errors(r) == {"trigger.conditions.op"}
    theirs = await created(other.sandbox, "/v3/contactTags", {"name": "x"})
    foreign = {"tag": theirs["id"], "has": True}
    r = await api.post(
        "/v3/emailAutomations", json={**body, "trigger": {**trigger, "conditions": foreign}}
    )
    assert field_errors(r) == {"trigger.conditions.tag"}
    automation = await created(
        api,
        "/v3/emailAutomations",
        {**body, "trigger": {**trigger, "conditions": conditions}},
    )
    assert automation["trigger"]["conditions"] == conditions
    plain = await created(
        api, "/v3/emailAutomations", {**EMAIL, "trigger": {"type": "contact_created"}}
    )
    assert "conditions" not in plain["trigger"]
    r = await api.put(f"/v3/contacts/{people['dan']['id']}/tags/{extra['id']}")
    assert r.status_code == 204
    # cid and dan join the group: cid matches, dan has the tag; bob does not match.
    for name in ("cid", "dan", "bob"):
        r = await api.put(f"/v3/contacts/{people[name]['id']}/groups/{people['group']['id']}")
        assert r.status_code == 204

    async def enrolled() -> bool:
        report = (await api.get(f"/v3/emailAutomations/{automation['id']}/report")).json()
        return bool(report["enrolled"] == 1 and report["sent"] == 1)

    await wait_for(enrolled, what="cid's enrolment")
    r = await api.get("/v3/sandbox/emails", params={"automationId": automation["id"]})
    assert [m["to"] for m in r.json()["data"]] == ["cid@example.com"]
    # A tag the conditions name is deleted: they match no one (no error for the trigger's
    # event either).
    assert (await api.delete(f"/v3/contactTags/{extra['id']}")).status_code == 204
    r = await api.put(f"/v3/contacts/{people['eve']['id']}/groups/{people['group']['id']}")
    assert r.status_code == 204
    r = await api.delete(f"/v3/contacts/{people['ann']['id']}/groups/{people['group']['id']}")
    assert r.status_code == 204
    r = await api.put(f"/v3/contacts/{people['ann']['id']}/groups/{people['group']['id']}")
    assert r.status_code == 204
    report = (await api.get(f"/v3/emailAutomations/{automation['id']}/report")).json()
    assert report["enrolled"] == 1


async def test_a_rerun_of_the_start_uses_what_the_first_run_fixed(
    app: FastAPI, account: Account, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start job fails after fixing the audience (as after a crash); meanwhile a
    matching contact is created and the segment is edited to match everyone. Its rerun
    walks the same bound and the same conditions."""
    await _people(api)
    segment = await new_segment(app, account, DE_SEGMENT)
    me = int(account.id)
    walk = audiences.page
    crashed: list[dict[str, Any]] = []

    async def crash_once(db: Database, principal: Principal, *args: Any) -> list[int]:
        if principal.account_id == me and not crashed:
            crashed.append(
                await created(api, "/v3/contacts", {"email": "dee@example.com", "firstName": "Dee"})
            )
            async with db.transaction() as conn:
                await conn.execute(
                    "UPDATE segments SET conditions = ? WHERE id = ? AND account_id = ?",
                    ('{"field": "status", "op": "eq", "value": "active"}', int(segment), me),
                )
            raise RuntimeError("the worker dies here")
        return await walk(db, principal, *args)

    monkeypatch.setattr(audiences, "page", crash_once)
    campaign = await _send(api, {"segmentIds": [segment]})
    assert await _reached(api, campaign) == ["dan", "eve"]
    assert crashed
    draft = await created(api, "/v3/emailCampaigns", EMAIL)
    # A count now reads the segment as it is (everyone active, dee too).
    assert await _count(api, draft, {"segmentIds": [segment]}) == 6
