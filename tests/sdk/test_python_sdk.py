"""The Python SDK (sdk/python) against a real server on loopback: every namespace it
offers, its retries, idempotency keys, typed errors, webhook verification, and the async
client's parity. No mocks: the server is `activecommerce serve` in its own process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from activecommerce_sdk import (
    AsyncClient,
    AuthenticationFailed,
    Client,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
    WebhookVerificationError,
    verify_webhook,
)
from activecommerce_sdk.types import Audience
from conftest import Account
from fastapi import FastAPI
from helpers import created, wait_until
from oauthflow import BASE, REDIRECT, code_flow, new_user
from receiver import Receiver
from sdkserver import Live, LossyProxy, live_server


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(database_url, tmp_path_factory.mktemp("sdk")) as server:
        yield server


@pytest.fixture
def client(live: Live) -> Iterator[Client]:
    with Client(live.base, api_key=live.sandbox_key) as c:
        yield c


def unique(word: str = "sdk") -> str:
    return f"{word}-{uuid.uuid4().hex[:8]}"


def counting_client(live: Live, seen: list[httpx.Response], **options: Any) -> Client:
    """A Client whose httpx client records every response it gets (retries included)."""
    http = httpx.Client(base_url=live.base, event_hooks={"response": [seen.append]})
    return Client(http_client=http, **{"api_key": live.sandbox_key, **options})


def test_crud_and_walking_every_page(live: Live) -> None:
    seen: list[httpx.Response] = []
    with counting_client(live, seen) as client:
        contact = client.contacts.create(email=f"{unique()}@example.com", firstName="Ann")
        assert client.contacts.get(contact["id"]) == contact
        updated = client.contacts.update(contact["id"], lastName="Lee")
        assert (updated["firstName"], updated["lastName"]) == ("Ann", "Lee")
        replaced = client.contacts.replace(contact["id"], email=contact["email"])
        assert replaced["firstName"] is None  # PUT clears what it does not send
        client.contacts.delete(contact["id"])
        with pytest.raises(NotFound):
            client.contacts.get(contact["id"])

        tag = client.contact_tags.create(name=unique("tag"))
        made = set()
        for n in range(45):
            one = client.contacts.create(email=f"{unique(str(n))}@example.com")
            client.contacts.add_tag(one["id"], tag["id"])
            made.add(one["id"])
        seen.clear()
        walked = [c["id"] for c in client.contacts.list(tagId=tag["id"], pageSize=20)]
        assert sorted(walked) == sorted(made)  # every contact once, none twice
        pages = [r for r in seen if r.request.url.path == "/v3/contacts"]
        assert len(pages) == 3
        assert "cursor" in pages[1].request.url.params  # walked by cursor
        first = client.contacts.page(tagId=tag["id"], pageSize=20)
        assert len(first["data"]) == 20
        assert first["meta"]["total"] == 45
        assert first["meta"]["nextCursor"]
        member = next(iter(made))
        assert [t["id"] for t in client.contacts.tags(member)] == [tag["id"]]
        client.contacts.remove_tag(member, tag["id"])
        assert list(client.contacts.tags(member)) == []
        group = client.contact_groups.create(name=unique("group"))
        client.contacts.add_to_group(member, group["id"])
        assert [g["name"] for g in client.contacts.groups(member)] == [group["name"]]
        client.contacts.remove_from_group(member, group["id"])
        assert list(client.contacts.groups(member)) == []


def test_every_collection_namespace(live: Live, client: Client) -> None:
    pipeline = client.pipelines.create(name=unique("pipe"), currency="EUR")
    stage = client.deal_stages.create(pipelineId=pipeline["id"], name="Won", order=1)
    status = client.deal_statuses.create(pipelineId=pipeline["id"], name="Hot", color="#FF0000")
    deal = client.deals.create(
        name="Big", pipelineId=pipeline["id"], stageId=stage["id"], status=status["id"]
    )
    assert deal["currency"] == "EUR"
    assert [d["id"] for d in client.deals.list(pipelineId=pipeline["id"])] == [deal["id"]]
    brand = client.brands.create(name="Shop", postalAddress="1 Main St")
    automation = client.email_automations.create(
        name="Welcome",
        subject="Hi",
        fromEmail="news@example.com",
        trigger={"type": "contact_created"},
        brandId=brand["id"],
    )
    report = client.email_automations.report(automation["id"])
    assert report["automationId"] == automation["id"]
    assert report["enrolled"] >= 0
    key_name = unique("f").replace("-", "_").lower()
    field = client.contact_fields.create(name="Plan", key=key_name, type="dropdown", options=["A"])
    assert field["options"] == ["A"]
    contact = client.contacts.create(email=f"{key_name}@example.com", fields={key_name: "A"})
    assert contact["fields"] == {key_name: "A"}
    client.contact_fields.delete(field["id"])
    assert client.contacts.get(contact["id"])["fields"] == {}
    key = client.api_keys.create(environment="sandbox")
    assert key["key"]
    assert key["key"].startswith("ac_test_")
    assert key["id"] in {k["id"] for k in client.api_keys.list()}
    client.api_keys.delete(key["id"])
    with pytest.raises(AuthenticationFailed), Client(live.base, api_key=key["key"]) as revoked:
        revoked.contacts.page()


def test_segments_preview_contacts_and_filter(client: Client) -> None:
    tag = client.contact_tags.create(name=unique("seg"))
    ids = []
    for n in range(3):
        contact = client.contacts.create(email=f"{unique(str(n))}@example.com")
        if n:
            client.contacts.add_tag(contact["id"], tag["id"])
        ids.append(contact["id"])
    conditions = {"all": [{"tag": tag["id"], "has": True}]}
    preview = client.segments.preview(conditions)
    assert preview["count"] == 2
    assert sorted(c["id"] for c in preview["sample"]) == sorted(ids[1:])
    segment = client.segments.create(name=unique("tagged"), conditions=conditions)
    assert segment["conditions"] == conditions
    assert [c["id"] for c in client.segments.contacts(segment["id"], pageSize=1)] == ids[1:]
    page = client.segments.contacts_page(segment["id"], pageSize=1)
    assert page["meta"]["total"] == 2
    assert client.contacts.page(segmentId=segment["id"])["meta"]["total"] == 2
    with pytest.raises(Conflict):
        client.contact_tags.delete(tag["id"])
    with pytest.raises(ValidationFailed) as invalid:
        client.segments.preview({"all": [{"tag": "0", "has": True}]})
    assert [e["field"] for e in invalid.value.errors] == ["conditions.all.0.tag"]
    client.segments.delete(segment["id"])
    client.contact_tags.delete(tag["id"])


def test_typed_errors_carry_the_problem(live: Live, client: Client) -> None:
    with pytest.raises(NotFound) as missing:
        client.contacts.get("no-such-id")
    assert missing.value.status == 404
    assert missing.value.problem["status"] == 404
    with pytest.raises(ValidationFailed) as invalid:
        client.contacts.create(email="not an email", unknownField=1)
    assert {e["field"] for e in invalid.value.errors} >= {"email", "unknownField"}
    email = f"{unique()}@example.com"
    client.contacts.create(email=email)
    with pytest.raises(Conflict) as clash:
        client.contacts.create(email=email.upper())
    assert clash.value.detail
    with pytest.raises(AuthenticationFailed), Client(live.base, api_key="ac_test_wrong") as bad:
        bad.contacts.page()
    with pytest.raises(PermissionDenied), Client(live.base, api_key=live.live_key) as production:
        production.sandbox_emails.page()  # captured mail is the sandbox's


def test_a_lost_response_is_retried_with_the_same_idempotency_key(live: Live) -> None:
    proxy = LossyProxy(live.base)
    try:
        with Client(proxy.url, api_key=live.sandbox_key) as client:
            email = f"{unique()}@example.com"
            contact = client.contacts.create(email=email)
        posts = [key for method, _path, key in proxy.seen if method == "POST"]
        assert len(posts) == 2
        assert posts[0]
        assert posts[0] == posts[1]  # the retry carried the first attempt's key
        assert proxy.answers[1] == (201, "true")  # the server replayed its first answer
        with Client(live.base, api_key=live.sandbox_key) as direct:
            assert [c["id"] for c in direct.contacts.list(email=email)] == [contact["id"]]
    finally:
        proxy.close()


def test_rate_limited_calls_wait_for_retry_after(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with live_server(
        database_url,
        tmp_path_factory.mktemp("sdk-rate"),
        plan="lite",
        ACTIVECOMMERCE_RATE_LIMIT_ENABLED="true",
        ACTIVECOMMERCE_PLAN_RATES='{"lite": 2}',
    ) as live:
        seen: list[httpx.Response] = []
        started = time.monotonic()
        with counting_client(live, seen, max_attempts=10) as client:
            pages = [client.contacts.page(pageSize=1) for _ in range(6)]
        assert len(pages) == 6  # every call succeeded in the end
        refused = [r for r in seen if r.status_code == 429]
        assert refused
        assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
        assert time.monotonic() - started >= 1.0  # it waited, as told
        with Client(live.base, api_key=live.sandbox_key, max_attempts=1) as impatient:
            with pytest.raises(RateLimited) as limited:
                [impatient.contacts.page(pageSize=1) for _ in range(10)]
            assert limited.value.retry_after is not None
            assert limited.value.retry_after >= 1


def test_import_upload_with_progress_and_export(client: Client, tmp_path: Path) -> None:
    tag = unique("imp")
    rows = [f"{unique(str(n))}@example.com,Row{n},,,,{tag}" for n in range(30)]
    csv = tmp_path / "people.csv"
    csv.write_text("email,firstName,lastName,phone,status,tags\n" + "\n".join(rows) + "\nbad\n")
    states: list[str] = []
    done = client.contact_imports.upload(
        csv, on_progress=lambda imp: states.append(imp["status"]), poll_interval=0.1
    )
    assert done["status"] == "completed"
    assert (done["created"], done["failed"]) == (30, 1)
    assert states[0] in ("queued", "running")
    assert states[-1] == "completed"
    assert client.contact_imports.get(done["id"])["id"] == done["id"]
    assert done["id"] in {i["id"] for i in client.contact_imports.list()}
    [made] = [t for t in client.contact_tags.list() if t["name"] == tag]
    exported = b"".join(client.contacts.export(tagId=made["id"])).decode()
    lines = exported.splitlines()
    assert lines[0].startswith("email,firstName,lastName,phone,status,tags")
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(r.split(",")[0] for r in rows)


def test_campaign_send_and_the_captured_email(client: Client) -> None:
    group = client.contact_groups.create(name=unique("audience"))
    email = f"{unique()}@example.com"
    contact = client.contacts.create(email=email, firstName="Ann")
    client.contacts.add_to_group(contact["id"], group["id"])
    brand = client.brands.create(name="Shop", postalAddress="1 Main St")
    campaign = client.email_campaigns.create(
        name="Spring",
        subject="Hi {{ contact.firstName }}",
        fromEmail="news@example.com",
        htmlContent="<p>Hello {{ contact.firstName }}</p>",
        brandId=brand["id"],
    )
    sent = client.email_campaigns.send(campaign["id"], group_ids=[group["id"]])
    assert sent["status"] in ("scheduled", "sending", "sent")
    wait_until(
        lambda: client.email_campaigns.report(campaign["id"])["sent"] == 1,
        what="the campaign's one email",
    )
    [captured] = client.sandbox_emails.list(campaignId=campaign["id"])
    assert captured["to"] == email
    assert captured["subject"] == "Hi Ann"
    whole = client.sandbox_emails.get(captured["id"])
    assert "Hello Ann" in (whole["html"] or "")
    with pytest.raises(Conflict):
        client.email_campaigns.send(campaign["id"], group_ids=[group["id"]])
    with pytest.raises(Conflict):
        client.email_campaigns.cancel(campaign["id"])  # already sent
    tested = client.email_campaigns.test(campaign["id"], ["qa@example.com"])
    assert tested["emails"] == ["qa@example.com"]
    wait_until(
        lambda: len(list(client.sandbox_emails.list(to="qa@example.com"))) >= 1,
        what="the test copy",
    )
    later = client.email_campaigns.create(name="Later", subject="S", fromEmail="n@example.com")
    audience: Audience = {"groupIds": [group["id"]], "exclude": {"groupIds": [group["id"]]}}
    assert client.email_campaigns.audience_count(later["id"], audience) == {"count": 0}
    count = client.email_campaigns.audience_count(later["id"], {"groupIds": [group["id"]]})
    assert count == {"count": 1}
    scheduled = client.email_campaigns.send(
        later["id"], audience={"groupIds": [group["id"]]}, scheduled_at="2099-01-01T00:00:00Z"
    )
    assert scheduled["status"] == "scheduled"
    assert client.email_campaigns.cancel(later["id"])["status"] == "canceled"
    with pytest.raises(Conflict):
        client.email_campaigns.resume(later["id"])  # not paused
    # The account: its default postal address, set and cleared.
    assert client.update_account(postalAddress="1 Main St")["postalAddress"] == "1 Main St"
    assert client.account()["postalAddress"] == "1 Main St"
    assert client.update_account({"postalAddress": None})["postalAddress"] is None


def test_webhook_signature_of_a_real_delivery(client: Client) -> None:
    receiver = Receiver()
    try:
        hook = client.webhooks.create(url=receiver.url, events=["contact.created"])
        secret = hook["secret"]
        assert secret
        email = f"{unique()}@example.com"
        client.contacts.create(email=email)
        wait_until(lambda: len(receiver.received) >= 1, what="the delivery")
        got = receiver.received[0]
        event = verify_webhook(got.body, got.headers, secret)
        assert event["type"] == "contact.created"
        assert event["data"]["email"] == email
        for body, headers, key in (
            (got.body.replace(b"@", b"#"), got.headers, secret),  # altered
            (got.body, got.headers, "whsec_" + "QUJD" * 8),  # another secret
            (got.body, {**got.headers, "webhook-id": "msg_other"}, secret),
        ):
            with pytest.raises(WebhookVerificationError):
                verify_webhook(body, headers, key)
        with pytest.raises(WebhookVerificationError):
            verify_webhook(got.body, got.headers, secret, now=time.time() + 3600)  # too old
        # The delivery is recorded once the receiver's answer is back: after it got it.
        wait_until(lambda: bool(client.webhooks.deliveries(hook["id"])), what="the record")
        [delivery] = client.webhooks.deliveries(hook["id"])
        assert delivery["statusCode"] == 200
        retried = client.webhooks.retry_delivery(hook["id"], delivery["id"])
        assert retried["eventId"] == delivery["eventId"]
        wait_until(lambda: len(receiver.received) >= 2, what="the delivery sent again")
        rotated = client.webhooks.rotate_secret(hook["id"])
        assert rotated["secret"]
        assert rotated["secret"] != secret
        assert "secret" not in client.webhooks.get(hook["id"])
        client.webhooks.delete(hook["id"])
    finally:
        receiver.close()


def test_oauth_client_credentials_renewed_when_refused(live: Live, client: Client) -> None:
    registered = client.oauth_clients.create(name="Sync job", scopes=["contacts:read"])
    secret = registered["clientSecret"]
    assert secret
    tokens: list[dict[str, Any]] = []
    with Client(
        live.base,
        client_id=registered["clientId"],
        client_secret=secret,
        scope="contacts:read",
        on_token=lambda token: tokens.append(dict(token)),
    ) as app:
        assert app.access_token is None
        app.contacts.page()  # fetched a token first
        first = app.access_token
        assert first
        revoked = httpx.post(
            f"{live.base}/oauth/revoke",
            data={
                "token": first,
                "client_id": registered["clientId"],
                "client_secret": secret,
            },
        )
        assert revoked.status_code == 200
        app.contacts.page()  # refused (401), so it got a new token and sent again
        assert app.access_token not in (None, first)
        assert len(tokens) == 2
        with pytest.raises(PermissionDenied) as denied:
            app.contacts.create(email=f"{unique()}@example.com")  # contacts:read only
        assert "contacts:write" in (denied.value.detail or "")
    client.oauth_clients.delete(registered["id"])
    assert registered["id"] not in {c["id"] for c in client.oauth_clients.list()}


async def test_async_client_parity(live: Live, tmp_path: Path) -> None:
    async with AsyncClient(live.base, api_key=live.sandbox_key) as client:
        group = await client.contact_groups.create(name=unique("async"))
        made = []
        for n in range(3):
            contact = await client.contacts.create(email=f"{unique(str(n))}@example.com")
            await client.contacts.add_to_group(contact["id"], group["id"])
            made.append(contact["id"])
        assert (await client.contacts.get(made[0]))["id"] == made[0]
        walked = [c["id"] async for c in client.contacts.list(groupId=group["id"], pageSize=2)]
        assert sorted(walked) == sorted(made)
        with pytest.raises(ValidationFailed) as invalid:
            await client.contacts.update(made[0], email=None)
        assert [e["field"] for e in invalid.value.errors] == ["email"]
        with pytest.raises(NotFound):
            await client.deals.get("nope")
        csv = b"email\n" + f"{unique()}@example.com\n".encode()
        done = await client.contact_imports.upload(csv, poll_interval=0.1)
        assert (done["status"], done["created"]) == ("completed", 1)
        exported = b"".join([chunk async for chunk in client.contacts.export(groupId=group["id"])])
        assert len(exported.decode().splitlines()) == 4
        await client.contacts.delete(made[0])
        campaign = await client.email_campaigns.create(
            name="Async", subject="S", fromEmail="news@example.com"
        )
        tested = await client.email_campaigns.test(campaign["id"], ["qa-async@example.com"])
        assert tested["status"] == "queued"
        report = await client.email_campaigns.report(campaign["id"])
        assert (report["status"], report["sent"]) == ("draft", 0)
        preview = await client.segments.preview({"field": "email", "op": "eq", "value": "no@x.io"})
        assert preview["count"] == 0
        segment = await client.segments.create(
            name=unique("async"), conditions={"group": group["id"], "in": True}
        )
        members = [c["id"] async for c in client.segments.contacts(segment["id"], pageSize=1)]
        assert sorted(members) == sorted(made[1:])
        page = await client.segments.contacts_page(segment["id"])
        assert page["meta"]["total"] == 2
        with pytest.raises(Conflict):
            await client.email_campaigns.cancel(campaign["id"])  # a draft: nothing to cancel
        with pytest.raises(Conflict):
            await client.email_campaigns.resume(campaign["id"])  # a draft: not paused
        assert (await client.update_account(postalAddress="2 Mill Lane"))["postalAddress"] == (
            "2 Mill Lane"
        )
        assert (await client.account())["postalAddress"] == "2 Mill Lane"


async def test_oauth_refresh_token_used_for_you(app: FastAPI, account: Account) -> None:
    """A token from the code flow that the server refuses: the SDK refreshes it with the
    refresh token (rotated: `on_token` gets the new one) and sends the call again."""
    registered = await created(
        account.sandbox,
        "/v3/oauthClients",
        {"name": "App", "scopes": ["contacts:read"], "redirectUris": [REDIRECT], "public": True},
    )
    oauth, token = await code_flow(
        app, registered, await new_user(app, account.id), "contacts:read"
    )
    await oauth.aclose()
    tokens: list[dict[str, Any]] = []

    def refreshing() -> AsyncClient:
        """A client holding a refused access token and the flow's first refresh token."""
        return AsyncClient(
            http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE),
            access_token="ac_at_expired",
            refresh_token=token["refresh_token"],
            client_id=registered["clientId"],
            on_token=lambda new: tokens.append(dict(new)),
        )

    async with refreshing() as client:
        assert (await client.contacts.page())["data"] == []
        assert client.access_token == tokens[0]["access_token"]
    assert tokens[0]["refresh_token"] != token["refresh_token"]
    # The first refresh token again: a reuse, refused (and the grant revoked).
    async with refreshing() as reused:
        with pytest.raises(AuthenticationFailed) as refused:
            await reused.contacts.page()
        assert refused.value.problem["error"] == "invalid_grant"
    assert len(tokens) == 1
