"""POST /v3/webhooks/{id}/test: a `webhook.test` event for one webhook only, signed,
tried once, listed in its deliveries, leaving its failure streak alone; PATCH of a
webhook's URL goes through the same address checks as its creation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from conftest import Account
from helpers import new_hook, problem, wait_for
from receiver import Received, Receiver, Reply
from standardwebhooks import Webhook


@pytest.fixture
def failing() -> Iterator[Receiver]:
    def reply(_got: Received, _n: int) -> Reply:
        return (500, {}, 0.0)

    r = Receiver(reply=reply)
    yield r
    r.close()


@pytest.fixture
def other_receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


async def test_a_test_event_reaches_that_webhook_only_once(
    api: httpx.AsyncClient, failing: Receiver, other_receiver: Receiver, other: Account
) -> None:
    hook = await new_hook(api, failing.url, ["contact.created"])  # not subscribed to tests
    everything = await new_hook(api, other_receiver.url, ["*"])
    sent = await api.post(f"/v3/webhooks/{hook['id']}/test")
    assert sent.status_code == 202, sent.text
    answer = sent.json()
    assert answer["webhookId"] == hook["id"]
    assert answer["status"] == "queued"
    await wait_for(lambda: len(failing.received) >= 1, what="the test event")
    message = Webhook(hook["secret"]).verify(failing.received[0].body, failing.received[0].headers)
    assert message["type"] == "webhook.test"
    assert message["data"]["id"] == hook["id"]

    async def logged() -> bool:
        log = (await api.get(f"/v3/webhooks/{hook['id']}/deliveries")).json()
        return bool(log["meta"]["total"] >= 1)

    await wait_for(logged, what="the test delivery in the log")
    await asyncio.sleep(1.0)  # the scenario: retries come after 0.2 s in the tests
    assert len(failing.received) == 1  # tried once, though it failed
    (delivery,) = (await api.get(f"/v3/webhooks/{hook['id']}/deliveries")).json()["data"]
    assert delivery["eventType"] == "webhook.test"
    assert delivery["eventId"] == answer["eventId"]
    assert delivery["outcome"] == "failed"
    assert delivery["statusCode"] == 500
    again = (await api.get(f"/v3/webhooks/{hook['id']}")).json()
    assert again["consecutiveFailures"] == 0  # a test says nothing of the webhook's health
    assert again["failingSince"] is None
    assert again["active"] is True
    # The other webhook (all events) got no test event.
    got = [Webhook(everything["secret"]).verify(r.body, r.headers) for r in other_receiver.received]
    assert "webhook.test" not in [m["type"] for m in got]
    log = (await api.get(f"/v3/webhooks/{everything['id']}/deliveries")).json()["data"]
    assert "webhook.test" not in [d["eventType"] for d in log]
    seen = len(other_receiver.received)

    # A webhook that is off is sent its test all the same (a person asked for it).
    off = await api.patch(f"/v3/webhooks/{everything['id']}", json={"active": False})
    assert off.status_code == 200
    assert (await api.post(f"/v3/webhooks/{everything['id']}/test")).status_code == 202
    await wait_for(lambda: len(other_receiver.received) > seen, what="the test of an off webhook")
    last = other_receiver.received[-1]
    assert Webhook(everything["secret"]).verify(last.body, last.headers)["type"] == "webhook.test"

    problem(await other.live.post(f"/v3/webhooks/{hook['id']}/test"), 404)
    problem(await api.post("/v3/webhooks/nope/test"), 404)


async def test_patching_a_url_is_checked_like_creating_one(api: httpx.AsyncClient) -> None:
    hook = await new_hook(api, "https://example.com/hook", ["contact.created"])
    for url in ("http://10.0.0.1/hook", "http://169.254.169.254/latest", "ftp://example.com/"):
        refused = await api.patch(f"/v3/webhooks/{hook['id']}", json={"url": url})
        assert refused.status_code == 422, url
        assert [e["field"] for e in refused.json()["errors"]] == ["url"]
    moved = await api.patch(
        f"/v3/webhooks/{hook['id']}",
        json={"url": "https://example.org/new", "events": ["contact.updated"]},
    )
    assert moved.status_code == 200
    assert moved.json()["url"] == "https://example.org/new"
    assert moved.json()["events"] == ["contact.updated"]
