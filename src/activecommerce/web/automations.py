"""Email automations: the list, create and edit (trigger, delay, the
email), pause and resume, the report. Through the services the API uses."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from activecommerce.automations import service
from activecommerce.automations.service import email_automations
from activecommerce.brands.service import brands
from activecommerce.email.config import EmailConfig
from activecommerce.groups.service import contact_groups
from activecommerce.kit.fields import ascii_digits, parse_id
from activecommerce.kit.problems import Problem
from activecommerce.kit.services import services
from activecommerce.pipelines.service import deal_stages, pipelines
from activecommerce.tags.service import contact_tags
from activecommerce.web import resources
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.forms import (
    FormErrors,
    content_values,
    form_data,
    text,
    tracking_values,
)

router = console_router()

TRIGGERS = (
    ("contact_created", "A contact is created"),
    ("tag_added", "A tag is added to a contact"),
    ("added_to_group", "A contact is added to a group"),
    ("deal_stage_changed", "A deal moves to a stage (its contact)"),
)
# The trigger's parameter: (its API key, the form field naming it)
TRIGGER_PARAMS = {
    "tag_added": ("tagId", "triggerTagId"),
    "added_to_group": ("groupId", "triggerGroupId"),
    "deal_stage_changed": ("stageId", "triggerStageId"),
}
UNITS = (("minutes", 60), ("hours", 3600), ("days", 86400), ("seconds", 1))
# The API's error fields to the form's (pydantic names a trigger's field after its type,
# e.g. trigger.tag_added.tagId; the rules say trigger.tagId).
FORM_NAMES = {"trigger": "triggerType", "trigger.type": "triggerType", "delaySeconds": "delay"}
for _kind, (_key, _name) in TRIGGER_PARAMS.items():
    FORM_NAMES |= {f"trigger.{_key}": _name, f"trigger.{_kind}.{_key}": _name}


def describe(trigger: dict[str, Any], names: dict[str, str]) -> str:
    """A trigger in words (names: "tag:<id>" etc. to the object's name)."""
    kind = str(trigger.get("type", ""))
    label = dict(TRIGGERS).get(kind, kind)
    for key, prefix in (("tagId", "tag"), ("groupId", "group"), ("stageId", "stage")):
        if key in trigger:
            return f"{label}: {names.get(f'{prefix}:{trigger[key]}', '#' + trigger[key])}"
    return label


def delay_parts(seconds: int) -> tuple[int, str]:
    """A delay in the largest unit that holds it exactly."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds and seconds % size == 0:
            return seconds // size, unit
    return seconds, "seconds" if seconds else "minutes"


async def _pickers(ctx: Console) -> dict[str, Any]:
    tags = await resources.first_rows(ctx, contact_tags)
    groups = await resources.first_rows(ctx, contact_groups)
    pipeline_names = {p["id"]: p["name"] for p in await resources.first_rows(ctx, pipelines)}
    stages = await resources.first_rows(ctx, deal_stages)
    names = {f"tag:{t['id']}": t["name"] for t in tags}
    names |= {f"group:{g['id']}": g["name"] for g in groups}
    stage_options = []
    for s in stages:
        label = f"{pipeline_names.get(s['pipelineId'], 'Pipeline ' + s['pipelineId'])}: {s['name']}"
        stage_options.append((s["id"], label))
        names[f"stage:{s['id']}"] = label
    return {
        "tag_options": [(t["id"], t["name"]) for t in tags],
        "group_options": [(g["id"], g["name"]) for g in groups],
        "stage_options": stage_options,
        "names": names,
    }


@router.get("/automations")
async def automation_list(ctx: ConsoleContext, after: str = "") -> Response:
    try:
        rows, cursor = await resources.list_page(ctx, email_automations, after)
    except Problem:
        return see_other(ctx, "/automations", "That page is gone; here is the first.", "error")
    names = (await _pickers(ctx))["names"]
    for row in rows:
        row["triggerText"] = describe(row["trigger"], names)
        amount, unit = delay_parts(int(row["delaySeconds"]))
        row["delayText"] = f"{amount} {unit}" if amount else "none"
    next_url = f"/automations?{urlencode({'after': cursor})}" if cursor else None
    return page(ctx, "automations/list.html", block="results", rows=rows, next_url=next_url)


async def _editor(
    ctx: Console,
    automation: dict[str, Any] | None,
    *,
    form: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    if form is None:
        form = dict(automation or {"triggerType": "contact_created"})
        if automation is not None:
            trigger = automation["trigger"]
            form["triggerType"] = trigger["type"]
            for kind, (key, name) in TRIGGER_PARAMS.items():
                if trigger["type"] == kind:
                    form[name] = trigger[key]
            form["delay"], form["delayUnit"] = delay_parts(int(automation["delaySeconds"]))
    return page(
        ctx,
        "automations/edit.html",
        status=status,
        automation=automation,
        form=form,
        errors=errors or FormErrors(),
        brand_options=await resources.options(ctx, brands),
        triggers=TRIGGERS,
        units=[(u, u) for u, _ in UNITS],
        **await _pickers(ctx),
    )


async def _automation(ctx: Console, automation_id: str) -> dict[str, Any]:
    return await resources.one(ctx, email_automations, automation_id)


@router.get("/automations/new")
async def new_automation(ctx: ConsoleContext) -> Response:
    return await _editor(ctx, None)


@router.get("/automations/{automation_id}")
async def automation_page(ctx: ConsoleContext, automation_id: str) -> Response:
    return await _editor(ctx, await _automation(ctx, automation_id))


def _values(form: Any, status: str) -> dict[str, Any]:
    kind = text(form, "triggerType")
    trigger: dict[str, Any] = {"type": kind}
    if kind in TRIGGER_PARAMS:
        key, name = TRIGGER_PARAMS[kind]
        trigger[key] = text(form, name)
    amount = text(form, "delay").strip() or "0"
    size = dict(UNITS).get(text(form, "delayUnit"), 60)
    delay: Any = int(amount) * size if ascii_digits(amount) and len(amount) < 12 else amount
    values = content_values(form) | tracking_values(form)
    return values | {"trigger": trigger, "delaySeconds": delay, "status": status}


async def _save(ctx: Console, automation_id: str | None) -> Response:
    automation = await _automation(ctx, automation_id) if automation_id is not None else None
    form = await form_data(ctx.request)
    status = automation["status"] if automation is not None else "active"
    try:
        values = _values(form, status)
        if automation_id is None:
            saved = await resources.create(ctx, email_automations, values)
        else:
            saved = await resources.replace(ctx, email_automations, automation_id, values)
    except Problem as problem:
        if problem.status == 404:
            raise
        shown = {k: v for k, v in form.items() if isinstance(v, str)} | tracking_values(form)
        errors = FormErrors.of(problem, FORM_NAMES)
        return await _editor(ctx, automation, form=shown, errors=errors, status=problem.status)
    return see_other(ctx, f"/automations/{saved['id']}", "Automation saved.")


@router.post("/automations")
async def create_automation(ctx: ConsoleContext) -> Response:
    return await _save(ctx, None)


@router.post("/automations/{automation_id}")
async def update_automation(ctx: ConsoleContext, automation_id: str) -> Response:
    return await _save(ctx, automation_id)


async def _set_status(ctx: Console, automation_id: str, status: str, done: str) -> Response:
    here = f"/automations/{automation_id}"
    if parse_id(automation_id) is None:
        raise Problem(404, "No such email automation.")
    try:
        await resources.patch(ctx, email_automations, automation_id, {"status": status})
    except Problem as problem:
        if problem.status == 404:
            raise
        return see_other(ctx, here, problem.detail or problem.title, "error")
    return see_other(ctx, here, done)


@router.post("/automations/{automation_id}/pause")
async def pause(ctx: ConsoleContext, automation_id: str) -> Response:
    return await _set_status(
        ctx, automation_id, "paused", "Automation paused: it enrols no one; due emails wait."
    )


@router.post("/automations/{automation_id}/resume")
async def resume(ctx: ConsoleContext, automation_id: str) -> Response:
    return await _set_status(
        ctx, automation_id, "active", "Automation resumed: emails that came due go out now."
    )


@router.get("/automations/{automation_id}/report")
async def automation_report(ctx: ConsoleContext, automation_id: str) -> Response:
    automation = await _automation(ctx, automation_id)
    found = services(ctx.request)
    report = await service.report(found.db, ctx.principal, automation_id, found.part(EmailConfig))
    return page(ctx, "automations/report.html", automation=automation, report=report)
