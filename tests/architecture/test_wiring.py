"""Wiring in one place: importing a domain registers nothing; `wire()` (called by
`create_app` and the worker) registers the delete guards and the event subscribers, once
however often it is called."""

import ast
import subprocess
import sys

import httpx
from helpers import deal_setup, problem

from activecommerce.kit import events

# Run in a fresh interpreter: the test session's app has wired its own process already.
_FRESH = """
import gc
from activecommerce.kit import events
from activecommerce.kit.resource import Resource
import activecommerce.app, activecommerce.worker  # every domain, the composition roots

def wiring():
    found = {}
    for resource in gc.get_objects():
        if isinstance(resource, Resource):
            guards = [g.__module__ for g in resource._delete_guards]
            cleared = [(d.collection, f.api) for d, f in resource._dependents]
            if guards or cleared:
                found[resource.collection] = (guards, cleared)
    return found, [s.__name__ for s in events.in_force().subscribers]

print(wiring())
from activecommerce.wiring import wire
wire()
print(wiring())
wire()
print(wiring())
"""

AUTOMATIONS = "activecommerce.automations.service"
DEALS = "activecommerce.deals.service"
AUDIENCES = "activecommerce.campaigns.audiences"
SEGMENTS = "activecommerce.segments.service"
FORMS = "activecommerce.forms.service"
WIRED = (
    {
        "brands": ([], [("emailCampaigns", "brandId"), ("emailAutomations", "brandId")]),
        "contactTags": ([AUDIENCES, AUTOMATIONS, SEGMENTS, FORMS], []),
        "contactGroups": ([AUDIENCES, AUTOMATIONS, SEGMENTS, FORMS], []),
        "forms": ([AUTOMATIONS], []),
        "segments": ([AUDIENCES], []),
        "dealStages": ([AUTOMATIONS, DEALS], []),
        "pipelines": ([AUTOMATIONS, DEALS], []),
        "contacts": ([], [("deals", "contact")]),
        "dealStatuses": ([], [("deals", "status")]),
        "contactFields": ([SEGMENTS, FORMS], []),
    },
    ["fan_out", "enrol"],
)


def test_importing_registers_nothing_and_wire_registers_once() -> None:
    run = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, check=True)
    imported, wired, again = (ast.literal_eval(line) for line in run.stdout.splitlines())
    assert imported == ({}, [])
    assert wired == WIRED
    assert again == WIRED  # calling wire() again changes nothing


def test_the_app_is_wired(app: object) -> None:
    assert [s.__name__ for s in events.in_force().subscribers] == ["fan_out", "enrol"]


async def test_a_pipeline_with_deals_is_not_deleted(api: httpx.AsyncClient) -> None:
    pipeline, stage, _, _ = await deal_setup(api)
    refused = problem(await api.delete(f"/v3/pipelines/{pipeline['id']}"), 409)
    assert "still has deals" in refused["detail"]
    refused = problem(await api.delete(f"/v3/dealStages/{stage['id']}"), 409)
    assert "still has deals" in refused["detail"]
