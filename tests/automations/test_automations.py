"""Email automations: triggers, and what their triggers name cannot be deleted."""

from __future__ import annotations

import httpx
from helpers import EMAIL, field_errors, problem
from helpers import created as _created
from helpers import deal_setup as _deal_setup


async def test_deleting_what_an_automation_trigger_names_is_a_409(api: httpx.AsyncClient) -> None:
    pipeline, stage, _status, deal = await _deal_setup(api)
    await api.delete(f"/v3/deals/{deal['id']}")
    tag = await _created(api, "/v3/contactTags", {"name": "vip"})
    group = await _created(api, "/v3/contactGroups", {"name": "newsletter"})
    named = {}
    for key, target in (("tagId", tag), ("groupId", group), ("stageId", stage)):
        kind = {"tagId": "tag_added", "groupId": "added_to_group", "stageId": "deal_stage_changed"}
        trigger = {"type": kind[key], key: target["id"]}
        named[key] = await _created(
            api, "/v3/emailAutomations", {**EMAIL, "name": f"On {key}", "trigger": trigger}
        )
    paths = {
        "tagId": f"/v3/contactTags/{tag['id']}",
        "groupId": f"/v3/contactGroups/{group['id']}",
        "stageId": f"/v3/dealStages/{stage['id']}",
    }
    for key, path in paths.items():
        detail = problem(await api.delete(path), 409)["detail"]
        assert named[key]["id"] in detail
        assert f"On {key}" in detail
    assert (
        named["stageId"]["id"]
        in problem(await api.delete(f"/v3/pipelines/{pipeline['id']}"), 409)["detail"]
    )

    for key, path in paths.items():
        assert (await api.delete(f"/v3/emailAutomations/{named[key]['id']}")).status_code == 204
        assert (await api.delete(path)).status_code == 204
    assert (await api.delete(f"/v3/pipelines/{pipeline['id']}")).status_code == 204


async def test_automation_triggers(api: httpx.AsyncClient) -> None:
    tag = (await api.post("/v3/contactTags", json={"name": "vip"})).json()
    ok = {**EMAIL, "trigger": {"type": "tag_added", "tagId": tag["id"]}}
    r = await api.post("/v3/emailAutomations", json=ok)
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["trigger"] == {"type": "tag_added", "tagId": tag["id"]}
    assert a["delaySeconds"] == 0
    assert a["status"] == "active"
    for trigger, field in (
        ({"type": "tag_added"}, "trigger.tag_added.tagId"),
        ({"type": "tag_added", "tagId": "999999"}, "trigger.tagId"),
        ({"type": "teleported"}, "trigger"),
        ({"type": "added_to_group", "groupId": tag["id"] + "0"}, "trigger.groupId"),
        ("contact_created", "trigger"),
    ):
        r = await api.post("/v3/emailAutomations", json={**EMAIL, "trigger": trigger})
        assert field_errors(r) == {field}, trigger
    r = await api.post("/v3/emailAutomations", json={**ok, "delaySeconds": -5, "status": "running"})
    assert field_errors(r) == {"delaySeconds", "status"}
    r = await api.patch(f"/v3/emailAutomations/{a['id']}", json={"status": "paused"})
    assert r.json()["status"] == "paused"
    r = await api.put(
        f"/v3/emailAutomations/{a['id']}", json={**EMAIL, "trigger": {"type": "contact_created"}}
    )
    assert r.json()["status"] == "active"
    assert r.json()["trigger"] == {"type": "contact_created"}
    r = await api.patch(f"/v3/emailAutomations/{a['id']}", json={"delaySeconds": None})
    assert field_errors(r) == {"delaySeconds"}
