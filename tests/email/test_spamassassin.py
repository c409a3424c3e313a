"""The tutorials' emails (docs/tutorials/first-campaign.md, first-automation.md: the same
subject, body and sender), as they would go on the wire (captured mail's `raw`), scored
by SpamAssassin with the rules Debian ships (local tests only: no network, no
sa-update): each must score at most 0.5. On failure the rules that hit are printed."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import httpx
import pytest
from helpers import created, wait_for

SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = pytest.mark.skipif(SPAMASSASSIN is None, reason="spamassassin is not installed")

MAX_SCORE = 0.5

# docs/tutorials/first-campaign.md, step 4.
CAMPAIGN = {
    "name": "Spring sale",
    "subject": "Hi {{ contact.firstName | default('there') }}, the spring sale is on",
    "fromEmail": "news@shop.example",
    "fromName": "Corner Shop",
    "htmlContent": "<p>Hello {{ contact.firstName }},</p><p>Everything is 20% off."
    ' <a href="https://shop.example/sale">See the sale</a></p>',
}
BRAND = {
    "name": "Corner Shop",
    "fromEmail": "news@shop.example",
    "postalAddress": "1 Main St, Springfield",
}
# docs/tutorials/first-automation.md.
AUTOMATION = {
    "name": "Welcome",
    "delaySeconds": 0,
    "subject": "Welcome, {{ contact.firstName | default('friend') }}",
    "fromEmail": "hello@shop.example",
    "htmlContent": "<p>Thanks for subscribing, {{ contact.firstName }}!</p>",
}


async def _raw(api: httpx.AsyncClient, source: str, source_id: str) -> str:
    mail: list[dict[str, Any]] = []

    async def arrived() -> bool:
        r = await api.get("/v3/sandbox/emails", params={source: source_id})
        mail[:] = r.json()["data"]
        return len(mail) == 1

    await wait_for(arrived, what="the captured email")
    r = await api.get(f"/v3/sandbox/emails/{mail[0]['id']}")
    assert r.status_code == 200, r.text
    return str(r.json()["raw"])


async def _score(raw: str) -> tuple[float, str]:
    """SpamAssassin's score of the message, and its report (the rules that hit)."""
    assert SPAMASSASSIN is not None
    process = await asyncio.create_subprocess_exec(
        SPAMASSASSIN,
        "-L",  # local tests only: no DNS blocklists, no Razor/Pyzor
        "-t",  # test mode: the report, whatever the score
        "-x",  # no per-user configuration
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(raw.encode()), timeout=25)
    text = out.decode("utf-8", "replace")
    status = next((line for line in text.splitlines() if line.startswith("X-Spam-Status:")), "")
    assert status, f"no X-Spam-Status in SpamAssassin's output:\n{err.decode()}\n{text[:2000]}"
    score = float(status.split("score=", 1)[1].split()[0])
    report = text[text.find("Content analysis details:") :] if "Content analysis" in text else text
    return score, report


async def test_the_tutorial_campaign_scores_low(api: httpx.AsyncClient) -> None:
    brand = await created(api, "/v3/brands", BRAND)
    group = await created(api, "/v3/contactGroups", {"name": "Customers"})
    ann = await created(api, "/v3/contacts", {"email": "ann@example.com", "firstName": "Ann"})
    await api.put(f"/v3/contacts/{ann['id']}/groups/{group['id']}")
    campaign = await created(api, "/v3/emailCampaigns", {**CAMPAIGN, "brandId": brand["id"]})
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send", json={"audience": {"groupIds": [group["id"]]}}
    )
    assert r.status_code == 202, r.text
    score, report = await _score(await _raw(api, "campaignId", campaign["id"]))
    assert score <= MAX_SCORE, f"the campaign scores {score}:\n{report}"


async def test_the_tutorial_automation_scores_low(api: httpx.AsyncClient) -> None:
    tag = await created(api, "/v3/contactTags", {"name": "subscriber"})
    trigger = {"type": "tag_added", "tagId": tag["id"]}
    automation = await created(api, "/v3/emailAutomations", {**AUTOMATION, "trigger": trigger})
    cara = await created(api, "/v3/contacts", {"email": "cara@example.com", "firstName": "Cara"})
    r = await api.put(f"/v3/contacts/{cara['id']}/tags/{tag['id']}")
    assert r.status_code in (200, 204), r.text
    score, report = await _score(await _raw(api, "automationId", automation["id"]))
    assert score <= MAX_SCORE, f"the automation's email scores {score}:\n{report}"
