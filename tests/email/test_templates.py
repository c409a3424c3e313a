"""Email templates (subjects and bodies of campaigns and automations): refused when too
complex, without stalling others; a burst of large ones waits its turn."""

from __future__ import annotations

import asyncio
import time

import httpx
from conftest import Account
from helpers import EMAIL, field_errors, problem
from helpers import created as _created


async def test_a_costly_template_is_refused_without_stalling_others(
    api: httpx.AsyncClient, other: Account
) -> None:
    costly = "{{ a" + "|e" * 330_000 + " }}"  # ~1 MB, seconds to parse unbounded
    contact = await _created(other.sandbox, "/v3/contacts", {"email": "calm@other.io"})
    latencies: list[float] = []
    stop = asyncio.Event()

    async def other_tenant() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            r = await other.sandbox.get(f"/v3/contacts/{contact['id']}")
            assert r.status_code == 200
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)  # the scenario: the other tenant's pace of reads

    reader = asyncio.create_task(other_tenant())
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(api.post("/v3/emailCampaigns", json={**EMAIL, "htmlContent": costly}) for _ in range(3))
    )
    took = time.perf_counter() - started
    stop.set()
    await reader
    for r in answers:
        body = problem(r, 422)
        assert body["errors"][0]["field"] == "htmlContent"
        assert "too complex" in body["errors"][0]["message"]
    assert took < 10, took
    assert latencies
    assert max(latencies) < 1.0, max(latencies)


async def test_a_burst_of_large_templates_waits_its_turn(api: httpx.AsyncClient) -> None:
    """At most four template checks wait for the parser at once: a burst of large ones
    gets 503 + Retry-After for the rest instead of a queue that delays everyone."""
    html = "<p>" + "z" * 900_000 + "</p>"
    answers = await asyncio.gather(
        *(
            api.post("/v3/emailCampaigns", json={**EMAIL, "name": f"B{i}", "htmlContent": html})
            for i in range(10)
        )
    )
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) == {201, 503}, statuses
    assert statuses.count(201) >= 4
    busy = next(r for r in answers if r.status_code == 503)
    detail = problem(busy, 503)["detail"]
    assert detail == "Templates cannot be checked right now; retry shortly."
    assert busy.headers["Retry-After"] == "1"
    assert (await api.post("/v3/emailCampaigns", json=EMAIL)).status_code == 201


async def test_deeply_nested_template_is_a_422(api: httpx.AsyncClient) -> None:
    for text in ("{{ " + "(" * 70, "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"):
        r = await api.post("/v3/emailCampaigns", json={**EMAIL, "htmlContent": text})
        assert field_errors(r) == {"htmlContent"}
    automation = {**EMAIL, "trigger": {"type": "contact_created"}, "subject": "{{ " + "[" * 80}
    assert field_errors(await api.post("/v3/emailAutomations", json=automation)) == {"subject"}
    # An ordinary large template still saves.
    html = "<p>Hello {{ contact.firstName }}</p>\n" * 2000 + "x" * 500_000
    campaign = await _created(api, "/v3/emailCampaigns", {**EMAIL, "htmlContent": html})
    r = await api.patch(f"/v3/emailCampaigns/{campaign['id']}", json={"subject": "{% if %}"})
    assert field_errors(r) == {"subject"}


async def test_custom_fields_pass_the_template_check(api: httpx.AsyncClient) -> None:
    text = "{{ contact.fields.anything }} {{ contact.fields.city | default('x') }}"
    text += "{% if contact.fields.vip %}VIP{% endif %}{{ contact.fields['plan'] }}"
    await _created(api, "/v3/emailCampaigns", {**EMAIL, "subject": text, "htmlContent": text})
    r = await api.post("/v3/emailCampaigns", json={**EMAIL, "subject": "{{ contact.fields._x }}"})
    assert field_errors(r) == {"subject"}
