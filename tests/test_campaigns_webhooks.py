from __future__ import annotations

import httpx
from helpers import field_errors, problem

EMAIL = {"name": "Launch", "subject": "Hi {{ contact.firstName }}", "fromEmail": "news@shop.io"}


async def test_campaign_defaults_and_templates(api: httpx.AsyncClient) -> None:
    r = await api.post("/v3/emailCampaigns", json=EMAIL)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["status"] == "draft" and c["scheduledAt"] is None and c["sentAt"] is None
    bad = await api.post("/v3/emailCampaigns", json={**EMAIL, "htmlContent": "{% if %}"})
    assert field_errors(bad) == {"htmlContent"}
    r = await api.post("/v3/emailCampaigns", json={**EMAIL, "status": "sent"})
    assert field_errors(r) == {"status"}  # read-only
    r = await api.post("/v3/emailCampaigns", json={**EMAIL, "brandId": "999999"})
    assert field_errors(r) == {"brandId"}
    brand = (
        await api.post("/v3/brands", json={"name": "Shop", "postalAddress": "1 Main St\nTown"})
    ).json()
    r = await api.patch(f"/v3/emailCampaigns/{c['id']}", json={"brandId": brand["id"]})
    assert r.status_code == 200 and r.json()["brandId"] == brand["id"]
    assert (await api.delete(f"/v3/brands/{brand['id']}")).status_code == 204
    assert (await api.get(f"/v3/emailCampaigns/{c['id']}")).json()["brandId"] is None


async def test_automation_triggers(api: httpx.AsyncClient) -> None:
    tag = (await api.post("/v3/contactTags", json={"name": "vip"})).json()
    ok = {**EMAIL, "trigger": {"type": "tag_added", "tagId": tag["id"]}}
    r = await api.post("/v3/emailAutomations", json=ok)
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["trigger"] == {"type": "tag_added", "tagId": tag["id"]}
    assert a["delaySeconds"] == 0 and a["status"] == "active"
    for trigger in (
        {"type": "tag_added"},
        {"type": "tag_added", "tagId": "999999"},
        {"type": "teleported"},
        {"type": "added_to_group", "groupId": tag["id"] + "0"},
        "contact_created",
    ):
        r = await api.post("/v3/emailAutomations", json={**EMAIL, "trigger": trigger})
        problem(r, 422)
    r = await api.post("/v3/emailAutomations", json={**ok, "delaySeconds": -5, "status": "running"})
    assert field_errors(r) == {"delaySeconds", "status"}
    r = await api.patch(f"/v3/emailAutomations/{a['id']}", json={"status": "paused"})
    assert r.json()["status"] == "paused"
    r = await api.put(
        f"/v3/emailAutomations/{a['id']}", json={**EMAIL, "trigger": {"type": "contact_created"}}
    )
    assert r.json()["status"] == "active" and r.json()["trigger"] == {"type": "contact_created"}
    problem(await api.patch(f"/v3/emailAutomations/{a['id']}", json={"delaySeconds": None}), 422)


async def test_webhook_validation(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/v3/webhooks",
        json={"url": "https://hooks.example.com/in", "events": ["contact.created", "*"]},
    )
    assert r.status_code == 201, r.text
    w = r.json()
    assert w["active"] is True and w["events"] == ["contact.created", "*"]
    for bad in (
        {"url": "ftp://x.io/a", "events": ["*"]},
        {"url": "not a url", "events": ["*"]},
        {"url": "https://x.io/a", "events": []},
        {"url": "https://x.io/a", "events": ["contact.exploded"]},
        {"url": "https://x.io/a", "events": ["*"], "active": "yes"},
    ):
        problem(await api.post("/v3/webhooks", json=bad), 422)
    r = await api.patch(f"/v3/webhooks/{w['id']}", json={"active": False})
    assert r.json()["active"] is False


async def test_group_and_tag_names_are_unique(api: httpx.AsyncClient) -> None:
    for collection in ("contactGroups", "contactTags"):
        a = (await api.post(f"/v3/{collection}", json={"name": "Same"})).json()
        problem(await api.post(f"/v3/{collection}", json={"name": "Same"}), 409)
        b = (await api.post(f"/v3/{collection}", json={"name": "Other"})).json()
        problem(await api.patch(f"/v3/{collection}/{b['id']}", json={"name": "Same"}), 409)
        assert (await api.get(f"/v3/{collection}/{a['id']}")).json()["name"] == "Same"
