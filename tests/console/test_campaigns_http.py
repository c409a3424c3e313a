"""Campaign, automation and inbox pages over HTTP, in process (no browser): the email
frames' own headers, isolation between accounts, the API's conflicts as messages, the
audience's recipient count and the report's time buckets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from conftest import Account, _new_account, running_app
from fastapi import FastAPI
from helpers import created, give_postal_address, wait_for
from oauthflow import browser, field, new_user, sign_in

from activecommerce.campaigns import sending
from activecommerce.campaigns.schemas import AudienceIn
from activecommerce.config import Settings
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem

CAMPAIGN = {"name": "News", "subject": "Hi {{ contact.firstName }}", "fromEmail": "a@example.com"}


@asynccontextmanager
async def signed_in(
    app: FastAPI, account: Account, env: str = "sandbox"
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of the account's owner, in `env`, sending its CSRF token (as htmx does)."""
    async with browser(app) as b:
        await sign_in(b, await new_user(app, account.id), "/")
        token = field((await b.get("/account/password")).text, "csrf_token")
        await b.post("/environment", data={"env": env, "csrf_token": token, "next": "/"})
        b.headers["X-CSRF-Token"] = token
        yield b


async def test_the_inbox_serves_captured_html_only_in_a_strict_frame(
    app: FastAPI, account: Account, other: Account
) -> None:
    campaign = await created(account.sandbox, "/v3/emailCampaigns", CAMPAIGN | {
        "htmlContent": '<p>Hi</p><img src="https://tracker.example/x.gif"><script>alert(1)</script>'
    })  # fmt: skip
    sent = await account.sandbox.post(
        f"/v3/emailCampaigns/{campaign['id']}/test", json={"emails": ["qa@example.com"]}
    )
    assert sent.status_code == 202

    mails: list[dict[str, Any]] = []

    async def captured() -> bool:
        mails[:] = (await account.sandbox.get("/v3/sandbox/emails")).json()["data"]
        return bool(mails)

    await wait_for(captured, what="the test copy")
    (mail,) = mails
    async with signed_in(app, account) as b:
        inbox = await b.get("/inbox?to=QA@example.com")
        assert inbox.status_code == 200
        assert "[Test] Hi" in inbox.text
        assert "[Test] Hi" not in (await b.get("/inbox?to=nobody@example.com")).text
        message = await b.get(f"/inbox/{mail['id']}")
        assert message.status_code == 200
        assert message.headers["x-frame-options"] == "DENY"  # the console page itself
        assert "<script>alert(1)</script>" not in message.text  # the HTML is only framed
        frame = await b.get(f"/inbox/{mail['id']}/html")
        assert frame.status_code == 200
        assert "<script>alert(1)</script>" in frame.text  # as captured, made inert by:
        csp = frame.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "img-src data:;" in csp  # no request out: the tracker is not loaded
        assert "style-src 'unsafe-inline'" in csp
        assert csp.rstrip().endswith("sandbox")
        assert "script-src" not in csp
        assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    # Another account sees none of it.
    async with signed_in(app, other) as b:
        assert (await b.get(f"/inbox/{mail['id']}")).status_code == 404
        assert (await b.get(f"/inbox/{mail['id']}/html")).status_code == 404
        assert "[Test] Hi" not in (await b.get("/inbox")).text
        assert (await b.get(f"/campaigns/{campaign['id']}")).status_code == 404
        assert (await b.get(f"/campaigns/{campaign['id']}/report")).status_code == 404
        refused = await b.post(f"/campaigns/{campaign['id']}/cancel")
        assert refused.status_code == 404


async def test_conflicts_and_refusals_come_back_as_messages(app: FastAPI, account: Account) -> None:
    campaign = await created(account.sandbox, "/v3/emailCampaigns", CAMPAIGN)
    async with signed_in(app, account) as b:
        canceled = await b.post(f"/campaigns/{campaign['id']}/cancel")
        assert canceled.status_code == 303  # the API's 409, as a flash on the page
        page = await b.get(canceled.headers["location"])
        assert "only a scheduled, sending or paused one can be canceled" in page.text
        too_many = ",".join(f"t{i}@example.com" for i in range(11))
        tested = await b.post(f"/campaigns/{campaign['id']}/test", data={"emails": too_many})
        assert "at most 10" in (await b.get(tested.headers["location"])).text
        bad = await b.post(
            "/campaigns", files={"name": (None, "X"), "subject": (None, "{{ x"),
                                 "fromEmail": (None, "not an email")},
        )  # fmt: skip
        assert bad.status_code == 422
        assert 'id="f-subject-help"' in bad.text
        assert 'id="f-fromEmail-help"' in bad.text
        # The preview refuses what saving would, and renders off a template's checks.
        preview = await b.post(
            "/campaigns/preview/frame",
            files={"subject": (None, "S"), "htmlContent": (None, "{% for x in y %}{% endfor %}")},
        )
        assert preview.status_code == 200
        assert "does not render yet" in preview.text
        assert preview.headers["x-frame-options"] == "SAMEORIGIN"


async def test_the_recipient_count_is_distinct_active_contacts(
    app: FastAPI, account: Account
) -> None:
    api = account.sandbox
    groups = [await created(api, "/v3/contactGroups", {"name": f"g{i}"}) for i in range(2)]
    tag = await created(api, "/v3/contactTags", {"name": "t"})
    people = [await created(api, "/v3/contacts", {"email": f"p{i}@example.com"}) for i in range(4)]
    for person in people[:3]:
        await api.put(f"/v3/contacts/{person['id']}/groups/{groups[0]['id']}")
    for person in people[2:]:
        await api.put(f"/v3/contacts/{person['id']}/groups/{groups[1]['id']}")
    await api.put(f"/v3/contacts/{people[0]['id']}/tags/{tag['id']}")
    db = app.state.services.db
    me = Principal(int(account.id), "sandbox", "plus", key_id=0)
    g0, g1, t = (int(x["id"]) for x in (*groups, tag))

    async def size(groups: list[int], tags: list[int], **more: Any) -> tuple[int, bool]:
        body = AudienceIn.model_validate(
            {"groupIds": [str(g) for g in groups], "tagIds": [str(t) for t in tags], **more}
        )
        return await sending.audience_size(db, me, body, live=True)

    assert await size([g0], []) == (3, True)  # maintained count
    assert await size([g0, g1], [t]) == (4, True)  # distinct
    await api.patch(f"/v3/contacts/{people[2]['id']}", json={"status": "unsubscribed"})
    assert await size([g0], []) == (2, True)  # counted: active only
    assert await size([g0, g1], [t]) == (3, True)
    assert await size([g0], [], exclude={"tagIds": [str(t)]}) == (1, True)
    assert await size([], [], all=True) == (3, True)
    assert await size([], [], all=True, exclude={"groupIds": [str(g1)]}) == (2, True)
    with pytest.raises(Problem) as unknown:
        await size([g0 + 1000], [])
    assert unknown.value.errors == [
        {"field": "audience.groupIds.0", "message": "names nothing in this account"}
    ]
    async with signed_in(app, account) as b:
        fragment = await b.get(
            f"/campaigns/audience/count?groupIds={g0}&groupIds={g1}&tagIds={t}",
            headers={"HX-Request": "true"},
        )
        assert '<strong data-testid="recipient-count">3</strong> recipients' in fragment.text
        assert "<html" not in fragment.text  # only the fragment
        # Everyone less a group; a mistake is said in the fragment.
        fragment = await b.get(
            f"/campaigns/audience/count?all=on&excludeGroupIds={g1}",
            headers={"HX-Request": "true"},
        )
        assert '<strong data-testid="recipient-count">2</strong> recipients' in fragment.text
        fragment = await b.get(
            f"/campaigns/audience/count?all=on&groupIds={g0}", headers={"HX-Request": "true"}
        )
        assert 'data-testid="audience-error"' in fragment.text
        assert "everyone already includes" in fragment.text


def test_opens_and_clicks_are_hourly_for_48_hours_then_daily() -> None:
    rows = [
        {"kind": "open", "hour": "2026-11-01T10", "n": 3},
        {"kind": "click", "hour": "2026-11-01T12", "n": 1},
        {"kind": "open", "hour": "2026-11-01T12", "n": 2},
    ]
    hourly = sending.time_series("2026-11-01T09:30:00.000000Z", rows)
    assert hourly["unit"] == "hour"
    assert hourly["labels"] == [f"2026-11-01 {h}:00" for h in ("09", "10", "11", "12")]
    assert hourly["opens"] == [0, 3, 0, 2]
    assert hourly["clicks"] == [0, 0, 0, 1]
    later = [*rows, {"kind": "click", "hour": "2026-11-04T08", "n": 4}]
    daily = sending.time_series("2026-11-01T09:30:00.000000Z", later)
    assert daily["unit"] == "day"
    assert daily["labels"] == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    assert daily["opens"] == [5, 0, 0, 0]
    assert daily["clicks"] == [1, 0, 0, 4]
    empty = sending.time_series("2026-11-01T09:30:00.000000Z", [])
    assert (empty["labels"], empty["opens"]) == (["2026-11-01 09:00"], [0])


async def test_the_inbox_pages_by_cursor_newest_first(app: FastAPI, account: Account) -> None:
    campaign = await created(account.sandbox, "/v3/emailCampaigns", CAMPAIGN)
    for batch in range(3):  # 30 messages: more than a page (25)
        emails = [f"r{batch}-{i}@example.com" for i in range(10)]
        sent = await account.sandbox.post(
            f"/v3/emailCampaigns/{campaign['id']}/test", json={"emails": emails}
        )
        assert sent.status_code == 202

    async def all_captured() -> bool:
        listed = await account.sandbox.get("/v3/sandbox/emails", params={"pageSize": "50"})
        return len(listed.json()["data"]) == 30

    await wait_for(all_captured, what="30 captured messages")
    async with signed_in(app, account) as b:
        first = await b.get("/inbox")
        ids = [int(i) for i in re.findall(r'href="/inbox/(\d+)"', first.text)]
        assert len(ids) == 25
        assert ids == sorted(ids, reverse=True)
        (next_url,) = set(re.findall(r'href="(/inbox\?before=\d+)"', first.text))
        rest = await b.get(next_url, headers={"HX-Request": "true"})  # the results fragment
        more = [int(i) for i in re.findall(r'href="/inbox/(\d+)"', rest.text)]
        assert len(more) == 5
        assert max(more) < min(ids)
        assert "<html" not in rest.text
        assert "Next" not in rest.text


async def test_the_campaign_and_automation_lists_page_by_cursor(
    app: FastAPI, account: Account
) -> None:
    for i in range(26):
        await created(account.sandbox, "/v3/emailCampaigns", CAMPAIGN | {"name": f"c{i:02}"})
    async with signed_in(app, account) as b:
        first = await b.get("/campaigns")
        names = re.findall(r">(c\d\d)</a>", first.text)
        assert names == [f"c{i:02}" for i in range(25, 0, -1)]  # newest first
        (next_url,) = set(re.findall(r'href="(/campaigns\?after=[^"]+)"', first.text))
        rest = await b.get(next_url.replace("&amp;", "&"), headers={"HX-Request": "true"})
        assert re.findall(r">(c\d\d)</a>", rest.text) == ["c00"]
        assert "<html" not in rest.text
        bogus = await b.get("/campaigns?after=nonsense")
        assert bogus.status_code == 303  # back to the first page, with a message
        assert (await b.get("/automations")).status_code == 200


CAPTURED = "Live mail is captured, not delivered"


async def _reports(account: Account, env: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """A draft campaign and an automation in `env`, and their reports."""
    api = account.live if env == "live" else account.sandbox
    if env == "live":
        await give_postal_address(api)  # an active automation sends: live needs one
    campaign = await created(api, "/v3/emailCampaigns", CAMPAIGN | {"htmlContent": "<p>Hi</p>"})
    automation = await created(
        api,
        "/v3/emailAutomations",
        CAMPAIGN | {"htmlContent": "<p>Hi</p>", "trigger": {"type": "contact_created"}},
    )
    campaign_report = await api.get(f"/v3/emailCampaigns/{campaign['id']}/report")
    automation_report = await api.get(f"/v3/emailAutomations/{automation['id']}/report")
    assert campaign_report.status_code == automation_report.status_code == 200
    return campaign["id"], automation["id"], campaign_report.json(), automation_report.json()


async def _pages(b: httpx.AsyncClient, campaign_id: str, automation_id: str) -> list[str]:
    paths = [
        "/campaigns",
        f"/campaigns/{campaign_id}",
        f"/campaigns/{campaign_id}/report",
        "/automations",
        f"/automations/{automation_id}",
        f"/automations/{automation_id}/report",
    ]
    texts = []
    for path in paths:
        answer = await b.get(path)
        assert answer.status_code == 200, path
        texts.append(answer.text)
    return texts


async def test_live_mail_without_a_relay_is_captured_not_delivered(
    app: FastAPI, account: Account
) -> None:
    """The session's app has no SMTP relay: live mail is captured, and every report and
    campaign or automation page says so rather than "sent"."""
    campaign_id, automation_id, report, automation_report = await _reports(account, "live")
    assert report["delivery"] == automation_report["delivery"] == "captured"
    assert report["sent"] == 0  # the count stays, beside how the mail went
    async with signed_in(app, account, "live") as b:
        pages = await _pages(b, campaign_id, automation_id)
        for text in pages:
            assert CAPTURED in text
        for report_page in (pages[2], pages[5]):
            assert "Captured, not delivered" in report_page
            assert "<dt>Sent</dt>" not in report_page
        inbox = await b.get("/inbox")
        assert inbox.status_code == 404
        assert "live mail is sent" not in inbox.text.lower()
        assert "captured, not delivered" in inbox.text
    # The sandbox captures by design: its reports say so; its pages need no warning.
    campaign_id, automation_id, report, automation_report = await _reports(account, "sandbox")
    assert report["delivery"] == automation_report["delivery"] == "captured"
    async with signed_in(app, account, "sandbox") as b:
        for text in await _pages(b, campaign_id, automation_id):
            assert CAPTURED not in text


async def test_live_mail_with_a_relay_is_reported_as_smtp(app: FastAPI, settings: Settings) -> None:
    # No worker: nothing is sent here, only how the mail would go is reported.
    relayed = running_app(settings, smtp_url="smtp://127.0.0.1:2525", embedded_worker=False)
    async with relayed as with_relay:
        account = await _new_account(with_relay)
        try:
            campaign_id, automation_id, report, automation_report = await _reports(account, "live")
            assert report["delivery"] == automation_report["delivery"] == "smtp"
            async with signed_in(with_relay, account, "live") as b:
                pages = await _pages(b, campaign_id, automation_id)
            for text in pages:
                assert CAPTURED not in text
            assert "<dt>Sent</dt>" in pages[2]
            assert "<dt>Sent</dt>" in pages[5]
        finally:
            await account.close()


async def test_the_campaign_editor_has_the_tracking_checkboxes(
    app: FastAPI, account: Account
) -> None:
    async with signed_in(app, account) as b:
        new = await b.get("/campaigns/new")
        assert re.search(r'name="trackOpens" checked', new.text)
        assert re.search(r'name="trackClicks" checked', new.text)
        saved = await b.post(
            "/campaigns", files={"name": (None, "T"), "subject": (None, "S"),
                                 "fromEmail": (None, "a@example.com"), "trackOpens": (None, "on")},
        )  # fmt: skip
        assert saved.status_code == 303, saved.text
        campaign_id = saved.headers["location"].split("/")[-1].split("?")[0]
        edit = await b.get(f"/campaigns/{campaign_id}")
        assert 'name="trackOpens" checked' in edit.text
        assert 'name="trackClicks">' in edit.text
    got = (await account.sandbox.get(f"/v3/emailCampaigns/{campaign_id}")).json()
    assert (got["trackOpens"], got["trackClicks"]) == (True, False)
