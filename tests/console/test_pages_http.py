"""The console's frame for what a person meets off the beaten path, over HTTP in process:
unknown URLs answer an HTML page (with the navigation once signed in) while the API's
keep problem+json; refusals carry the navigation; the favicon."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import created, new_hook, wait_for
from oauthflow import browser, field, new_user, sign_in
from receiver import Received, Receiver, Reply

from activecommerce.kit import clock
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped
from activecommerce.webhooks import repository as webhook_repository

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _html_404(answer: httpx.Response) -> None:
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "Page not found" in answer.text or "Not Found" in answer.text


def _problem_404(answer: httpx.Response) -> None:
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 404


def _has_nav(answer: httpx.Response) -> bool:
    return 'aria-label="Main"' in answer.text and 'href="/contacts"' in answer.text


async def test_unknown_urls_are_pages_for_people_and_problems_for_the_api(
    app: FastAPI, account: Account, other: Account
) -> None:
    async with browser(app) as b:
        signed_out = await b.get("/no/such/page", headers=HTML)
        _html_404(signed_out)
        assert not _has_nav(signed_out)
        assert 'href="/signin"' in signed_out.text
        _html_404(await b.get("/nothing"))  # a person's path, whatever the Accept says
        _problem_404(await b.get("/nothing", headers={"Accept": "application/json"}))
        for path in ("/v3/nothing", "/v3", "/oauth/token/x", "/oauth/revoke/x"):
            _problem_404(await b.get(path, headers=HTML))

        email = await new_user(app, account.id)
        assert (await sign_in(b, email, "/")).status_code == 303
        unknown = await b.get("/contacts/1/nothing/here", headers=HTML)
        _html_404(unknown)
        assert _has_nav(unknown)
        assert 'href="/settings"' in unknown.text
        _problem_404(await b.get("/v3/nothing", headers=HTML))
        _html_404(await b.get("/static/nothing.css", headers=HTML))
        form_only = await b.get("/contacts/1/tags", headers=HTML)  # a form's address
        assert form_only.status_code == 405
        assert _has_nav(form_only)
        assert form_only.headers["allow"] == "POST"

        # A refusal of a route (another account's contact) has the navigation too.
        theirs = await created(other.live, "/v3/contacts", {"email": "theirs@example.com"})
        refused = await b.get(f"/contacts/{theirs['id']}", headers=HTML)
        assert refused.status_code == 404
        assert _has_nav(refused)
        assert "theirs@example.com" not in refused.text


async def test_the_favicon_is_served_and_linked(app: FastAPI, account: Account) -> None:
    async with browser(app) as b:
        icon = await b.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/x-icon"
        assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO
        svg = await b.get("/static/favicon.svg")
        assert svg.status_code == 200
        assert "<svg" in svg.text
        signin = await b.get("/signin")
        assert 'rel="icon" href="/favicon.ico"' in signin.text
        email = await new_user(app, account.id)
        await sign_in(b, email, "/")
        home = await b.get("/")
        assert 'rel="icon" href="/static/favicon.svg"' in home.text


def _text(page: str) -> str:
    """What a person reads: the page without its tags."""
    return re.sub(r"<[^>]+>", " ", page)


async def test_times_are_shown_in_the_users_time_zone(app: FastAPI, account: Account) -> None:
    contact = await created(account.live, "/v3/contacts", {"email": "tz@example.com"})
    stamp = contact["createdAt"]
    moment = datetime.fromisoformat(stamp)
    async with browser(app) as b:
        email = await new_user(app, account.id)
        await sign_in(b, email, "/")
        shown = await b.get(f"/contacts/{contact['id']}")
        assert f'<time datetime="{stamp}">' in shown.text  # the exact instant is kept
        assert stamp not in _text(shown.text)  # never shown raw
        assert f"{moment:%Y-%m-%d %H:%M:%S} UTC" in _text(shown.text)  # the default

        settings = await b.get("/settings")
        assert settings.status_code == 200
        token = field(settings.text, "csrf_token")
        for wrong in ("Mars/Olympus_Mons", "../../etc/passwd", "", "x" * 100):
            refused = await b.post("/settings", data={"csrf_token": token, "time_zone": wrong})
            assert refused.status_code == 422, wrong
            assert 'aria-invalid="true"' in refused.text
        saved = await b.post("/settings", data={"csrf_token": token, "time_zone": "Asia/Kolkata"})
        assert saved.status_code == 303
        local = moment.astimezone(ZoneInfo("Asia/Kolkata"))
        shown = await b.get(f"/contacts/{contact['id']}")
        assert f"{local:%Y-%m-%d %H:%M:%S} IST" in _text(shown.text)
        assert f'<time datetime="{stamp}">' in shown.text
        listed = await b.get("/contacts")
        assert f'<time datetime="{stamp}">{local:%Y-%m-%d}</time>' in listed.text
        assert 'value="Asia/Kolkata" selected' in (await b.get("/settings")).text


async def _owner(app: FastAPI, account: Account, b: httpx.AsyncClient, env: str = "live") -> str:
    """Signs `b` in as a new owner of `account`, in `env`; its CSRF token (also sent as
    htmx sends it)."""
    await sign_in(b, await new_user(app, account.id), "/")
    token = field((await b.get("/settings")).text, "csrf_token")
    await b.post("/environment", data={"env": env, "csrf_token": token, "next": "/"})
    b.headers["X-CSRF-Token"] = token
    return token


def _options(page: str, select_id: str) -> list[str]:
    select = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.DOTALL)
    assert select, select_id
    return re.findall(r"<option value=\"[^\"]*\">([^<]*)</option>", select.group(1))


async def test_add_a_tag_offers_only_the_tags_the_contact_has_not(
    app: FastAPI, account: Account
) -> None:
    api = account.live
    contact = await created(api, "/v3/contacts", {"email": "tagged@example.com"})
    tags = [await created(api, "/v3/contactTags", {"name": n}) for n in ("Alpha", "Beta")]
    groups = [await created(api, "/v3/contactGroups", {"name": n}) for n in ("One", "Two")]
    assert (await api.put(f"/v3/contacts/{contact['id']}/tags/{tags[0]['id']}")).status_code == 204
    added = await api.put(f"/v3/contacts/{contact['id']}/groups/{groups[1]['id']}")
    assert added.status_code == 204
    async with browser(app) as b:
        await _owner(app, account, b)
        shown = (await b.get(f"/contacts/{contact['id']}")).text
        assert _options(shown, "add-tags") == ["Choose…", "Beta"]
        assert _options(shown, "add-groups") == ["Choose…", "One"]


async def test_a_campaign_that_can_no_longer_be_edited_shows_its_fields_as_text(
    app: FastAPI, account: Account
) -> None:
    api = account.sandbox
    group = await created(api, "/v3/contactGroups", {"name": "Readers"})
    reader = await created(api, "/v3/contacts", {"email": "reader@example.com"})
    await api.put(f"/v3/contacts/{reader['id']}/groups/{group['id']}")
    body = {"name": "Sent one", "subject": "Hello", "fromEmail": "a@example.com"}
    campaign = await created(api, "/v3/emailCampaigns", body | {"htmlContent": "<p>Hi</p>"})
    async with browser(app) as b:
        await _owner(app, account, b, "sandbox")
        draft = (await b.get(f"/campaigns/{campaign['id']}")).text
        assert 'id="f-subject"' in draft  # a draft is a form
        assert 'data-testid="read-only"' not in draft
        sent = await api.post(
            f"/v3/emailCampaigns/{campaign['id']}/send",
            json={"audience": {"groupIds": [group["id"]]}},
        )
        assert sent.status_code in (200, 202), sent.text
        shown = (await b.get(f"/campaigns/{campaign['id']}")).text
        assert 'data-testid="read-only"' in shown
        for name in ("name", "subject", "fromEmail", "htmlContent"):
            assert f'id="f-{name}"' not in shown, name  # no input, no textarea
            assert f'<input type="hidden" name="{name}"' in shown  # kept for the preview
        assert re.search(r"<dt>Subject</dt><dd>Hello</dd>", shown)
        assert "&lt;p&gt;Hi&lt;/p&gt;" in shown  # the HTML source, as text
        assert "Save campaign" not in shown


async def test_the_inbox_names_the_campaign_and_the_preview_records_nothing(
    app: FastAPI, account: Account
) -> None:
    api = account.sandbox
    body = {"name": "Spring news", "subject": "Hi", "fromEmail": "a@example.com"}
    html = '<p>Hi</p><a href="https://example.com/spring">Read</a>'
    campaign = await created(api, "/v3/emailCampaigns", body | {"htmlContent": html})
    test = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/test", json={"emails": ["qa@example.com"]}
    )
    assert test.status_code == 202
    mails: list[dict[str, Any]] = []

    async def captured() -> bool:
        mails[:] = (await api.get("/v3/sandbox/emails")).json()["data"]
        return bool(mails)

    await wait_for(captured, what="the test copy")
    async with browser(app) as b:
        await _owner(app, account, b, "sandbox")
        listed = (await b.get("/inbox")).text
        link = f'<a href="/campaigns/{campaign["id"]}">Spring news</a>'
        assert link in listed
        message = (await b.get(f"/inbox/{mails[0]['id']}")).text
        assert f'href="/campaigns/{campaign["id"]}" data-testid="source">Spring news</a>' in message
        assert f"#{campaign['id']}<" not in message
        # The captured message has its open pixel; the inbox shows it without.
        (sent,) = (await api.get("/v3/sandbox/emails")).json()["data"]
        captured_html = (await api.get(f"/v3/sandbox/emails/{sent['id']}")).json()["html"]
        assert "/e/o/" in captured_html
        frame = (await b.get(f"/inbox/{mails[0]['id']}/html")).text
        assert "/e/o/" not in frame

        # The editor's preview: no open pixel, links as written (nothing to record).
        preview = await b.post(
            "/campaigns/preview/frame",
            data=body | {"htmlContent": html, "previewContact": ""},
        )
        assert preview.status_code == 200
        assert "<p>Hi</p>" in preview.text
        assert "/e/o/" not in preview.text
        assert "/e/c/" not in preview.text
        assert 'href="https://example.com/spring"' in preview.text


async def test_a_webhook_is_edited_tested_and_shows_its_real_state(
    app: FastAPI, account: Account
) -> None:
    def reply(_got: Received, _n: int) -> Reply:
        return (503, {"Retry-After": "3600"}, 0.0)  # failing; the next try in an hour

    receiver = Receiver(reply=reply)
    try:
        api = account.sandbox
        hook = await new_hook(api, "https://example.com/old", ["contact.created"])
        async with browser(app) as b:
            token = await _owner(app, account, b, "sandbox")
            here = f"/webhooks/{hook['id']}"
            shown = (await b.get(here)).text
            assert 'data-testid="state">On<' in shown
            assert f'action="{here}/edit"' in shown
            refused = await b.post(
                f"{here}/edit",
                data={"csrf_token": token, "url": "http://10.0.0.1/x", "events": "contact.created"},
            )
            assert refused.status_code == 422  # the address checks of PATCH
            assert 'aria-invalid="true"' in refused.text
            assert 'value="http://10.0.0.1/x"' in refused.text  # the value is kept
            saved = await b.post(
                f"{here}/edit",
                content=urlencode(
                    [
                        ("csrf_token", token),
                        ("url", receiver.url),
                        ("description", "CRM"),
                        ("events", "contact.created"),
                        ("events", "contact.updated"),
                    ]
                ),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert saved.status_code == 303
            now = (await api.get(f"/v3/webhooks/{hook['id']}")).json()
            assert now["url"] == receiver.url
            assert now["events"] == ["contact.created", "contact.updated"]
            assert now["description"] == "CRM"

            # A real failure: the receiver answers 503 with Retry-After of an hour.
            await api.post("/v3/contacts", json={"email": "fail@example.com"})

            async def failing() -> bool:
                state = (await api.get(f"/v3/webhooks/{hook['id']}")).json()
                return state["failingSince"] is not None

            await wait_for(failing, what="the failure streak")
            state = (await api.get(f"/v3/webhooks/{hook['id']}")).json()
            assert state["active"] is True
            shown = (await b.get(here)).text
            text = _text(shown)
            assert "Failing since" in text
            assert f'<time datetime="{state["failingSince"]}">' in shown
            assert "1 failed attempt in a row" in text
            assert "next attempt" in text  # the retry queued in an hour
            listed = _text((await b.get("/webhooks")).text)
            assert "Failing since" in listed

            # Send test: one webhook.test event, listed in the deliveries.
            tested = await b.post(f"{here}/test", data={"csrf_token": token})
            assert tested.status_code == 303

            async def test_logged() -> bool:
                log = (await api.get(f"/v3/webhooks/{hook['id']}/deliveries")).json()["data"]
                return "webhook.test" in [d["eventType"] for d in log]

            await wait_for(test_logged, what="the test delivery")
            assert "webhook.test" in _text((await b.get(here)).text)

            # Turned off after failures: the reason, not "On".
            reason = "Disabled after 50 consecutive failed deliveries over 3.0 days."
            async with app.state.services.db.transaction() as conn:
                scope = Scoped(conn, Principal.acting_for(int(account.id), "sandbox"))
                await webhook_repository.disable(scope, int(hook["id"]), reason, clock.now())
            off = _text((await b.get(here)).text)
            assert "Off (Disabled after 50 consecutive failed deliveries" in off
    finally:
        receiver.close()


async def test_api_keys_have_an_optional_name(app: FastAPI, account: Account) -> None:
    api = account.live
    named = await api.post("/v3/apiKeys", json={"name": "Shop sync"})
    assert named.status_code == 201
    assert named.json()["name"] == "Shop sync"
    unnamed = await api.post("/v3/apiKeys", json={})
    assert unnamed.json()["name"] is None
    for bad in ("", "x" * 256, "a\nb"):
        refused = await api.post("/v3/apiKeys", json={"name": bad})
        assert refused.status_code == 422, bad
        assert [e["field"] for e in refused.json()["errors"]] == ["name"]
    listed = {k["id"]: k["name"] for k in (await api.get("/v3/apiKeys")).json()["data"]}
    assert listed[named.json()["id"]] == "Shop sync"
    async with browser(app) as b:
        token = await _owner(app, account, b)
        made = await b.post("/keys", data={"csrf_token": token, "name": "Console key"})
        assert made.status_code == 303
        page = (await b.get("/keys")).text
        assert '<label for="f-key-name">Name (optional)</label>' in page
        assert "Console key" in page
        assert "Shop sync" in page
        refused = await b.post("/keys", data={"csrf_token": token, "name": "a\tb"})
        assert refused.status_code == 303
        assert "name" in (await b.get("/keys")).text
    names = [k["name"] for k in (await api.get("/v3/apiKeys?pageSize=100")).json()["data"]]
    assert "Console key" in names


async def test_a_campaign_is_scheduled_in_the_users_time_zone(
    app: FastAPI, account: Account
) -> None:
    api = account.sandbox
    group = await created(api, "/v3/contactGroups", {"name": "Later"})
    body = {"name": "Later", "subject": "Hi", "fromEmail": "a@example.com"}
    campaign = await created(api, "/v3/emailCampaigns", body | {"htmlContent": "<p>Hi</p>"})
    async with browser(app) as b:
        token = await _owner(app, account, b, "sandbox")
        await b.post("/settings", data={"csrf_token": token, "time_zone": "Asia/Kolkata"})
        editor = (await b.get(f"/campaigns/{campaign['id']}")).text
        assert "Send at (Asia/Kolkata)" in editor
        scheduled = await b.post(
            f"/campaigns/{campaign['id']}/send",
            data={
                "csrf_token": token,
                "groupIds": group["id"],
                "scheduledAt": "2030-01-01T10:00",
                "action": "schedule",
            },
        )
        assert scheduled.status_code == 303
        stored = (await api.get(f"/v3/emailCampaigns/{campaign['id']}")).json()
        assert stored["scheduledAt"].startswith("2030-01-01T04:30:00")  # 10:00 at UTC+5:30
        shown = await b.get(f"/campaigns/{campaign['id']}")
        assert "Campaign scheduled for 2030-01-01 10:00 IST." in shown.text  # the flash
        assert f'<time datetime="{stored["scheduledAt"]}">2030-01-01 10:00 IST</time>' in shown.text


async def test_a_time_at_the_end_of_the_calendar_is_shown_in_any_zone(
    app: FastAPI, account: Account
) -> None:
    """A campaign scheduled by the API for 9999-12-31 (an aware time the API takes): in a
    zone ahead of UTC that instant is past year 9999, which Python cannot represent. The
    console's pages still answer, showing it in its own offset."""
    api = account.sandbox
    group = await created(api, "/v3/contactGroups", {"name": "Far"})
    body = {"name": "Far", "subject": "Hi", "fromEmail": "a@example.com"}
    campaign = await created(api, "/v3/emailCampaigns", body | {"htmlContent": "<p>Hi</p>"})
    sent = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send",
        json={"audience": {"groupIds": [group["id"]]}, "scheduledAt": "9999-12-31T23:00:00Z"},
    )
    assert sent.status_code == 202, sent.text
    async with browser(app) as b:
        token = await _owner(app, account, b, "sandbox")
        saved = await b.post(
            "/settings", data={"csrf_token": token, "time_zone": "Pacific/Kiritimati"}
        )
        assert saved.status_code == 303
        for path in ("/campaigns", f"/campaigns/{campaign['id']}"):
            shown = await b.get(path)
            assert shown.status_code == 200, path
            assert "9999-12-31 23:00" in _text(shown.text), path
