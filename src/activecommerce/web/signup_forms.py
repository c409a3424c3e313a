"""Signup forms (the Forms page): the list with each form's figures; a form's editor
(the fields it asks, chosen from the contact's own and the account's custom fields; the
groups and tags a subscriber joins; double opt-in; the confirmation email, with a
preview; the success message or redirect); its hosted link and embed code to copy; its
submissions. Writes go through the collection's own flow (`web.resources`), so the API's
checks (422 naming the field, 409 on a delete) show on the form."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import Response

from activecommerce.brands.service import brands
from activecommerce.fields.definitions import definitions
from activecommerce.forms import service as forms_service
from activecommerce.forms.mail import DEFAULT_HTML, DEFAULT_SUBJECT, render_confirmation
from activecommerce.forms.service import forms
from activecommerce.groups.service import contact_groups
from activecommerce.kit.problems import Problem
from activecommerce.kit.services import services
from activecommerce.tags.service import contact_tags
from activecommerce.web import resources
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.email_frame import email_frame
from activecommerce.web.forms import FormErrors, every, pairs_of

router = console_router()

BASE = "/forms"
STANDARD = [("firstName", "First name"), ("lastName", "Last name"), ("phone", "Phone")]
SAMPLE = {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com", "fields": {}}


async def _choices(ctx: Console) -> dict[str, Any]:
    db = services(ctx.request).db
    defs = await definitions(db, ctx.principal)
    return {
        "field_choices": [
            *STANDARD,
            *((f"fields.{key}", f"{d.name} ({key})") for key, d in defs.items()),
        ],
        "groups": await resources.options(ctx, contact_groups),
        "tags": await resources.options(ctx, contact_tags),
        "brands": [("", "None"), *await resources.options(ctx, brands)],
    }


def _form_of_item(item: dict[str, Any]) -> dict[str, Any]:
    mail = item.get("confirmationEmail") or {}
    return {
        "name": item["name"],
        "ask": [f["key"] for f in item["fields"]],
        "required": [f["key"] for f in item["fields"] if f["required"]],
        "groupIds": item["groupIds"],
        "tagIds": item["tagIds"],
        "doubleOptIn": item["doubleOptIn"],
        "subject": mail.get("subject", ""),
        "htmlContent": mail.get("htmlContent", ""),
        "brandId": mail.get("brandId") or "",
        "successMessage": item.get("successMessage") or "",
        "redirectUrl": item.get("redirectUrl") or "",
    }


def _blank() -> dict[str, Any]:
    return {
        "name": "",
        "ask": ["firstName"],
        "required": [],
        "groupIds": [],
        "tagIds": [],
        "doubleOptIn": True,
        "subject": "",
        "htmlContent": "",
        "brandId": "",
        "successMessage": "",
        "redirectUrl": "",
    }


async def _read(ctx: Console) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the editor sent, as the page shows it again; the API's values)."""
    pairs = await pairs_of(ctx.request)
    first = dict(reversed(pairs))
    form: dict[str, Any] = {
        "name": first.get("name", ""),
        "ask": every(pairs, "ask"),
        "required": every(pairs, "required"),
        "groupIds": every(pairs, "groupIds"),
        "tagIds": every(pairs, "tagIds"),
        "doubleOptIn": first.get("doubleOptIn") == "on",
        "subject": first.get("subject", ""),
        "htmlContent": first.get("htmlContent", ""),
        "brandId": first.get("brandId", ""),
        "successMessage": first.get("successMessage", ""),
        "redirectUrl": first.get("redirectUrl", "").strip(),
    }
    mail = None
    if form["subject"].strip() or form["htmlContent"].strip() or form["brandId"]:
        mail = {
            "subject": form["subject"] or DEFAULT_SUBJECT,
            "htmlContent": form["htmlContent"] or DEFAULT_HTML,
            "brandId": form["brandId"] or None,
        }
    values = {
        "name": form["name"],
        "fields": [{"key": key, "required": key in form["required"]} for key in form["ask"]],
        "groupIds": form["groupIds"],
        "tagIds": form["tagIds"],
        "doubleOptIn": form["doubleOptIn"],
        "confirmationEmail": mail,
        "successMessage": form["successMessage"].strip() or None,
        "redirectUrl": form["redirectUrl"] or None,
    }
    return form, values


def _errors(problem: Problem) -> FormErrors:
    errors = FormErrors.of(
        problem,
        {
            "confirmationEmail.subject": "subject",
            "confirmationEmail.htmlContent": "htmlContent",
            "confirmationEmail.brandId": "brandId",
        },
    )
    for name in list(errors.fields):
        for prefix in ("fields", "groupIds", "tagIds"):
            if name.startswith(prefix + "."):
                errors.fields.setdefault(prefix, errors.fields.pop(name))
    if errors.fields and not errors.message:
        errors.message = "Check the fields marked below."
    return errors


@router.get(BASE)
async def listed(ctx: ConsoleContext) -> Response:
    after = ctx.request.query_params.get("after") or None
    rows, next_cursor = await resources.list_page(ctx, forms, after)
    db = services(ctx.request).db
    for row in rows:
        row["stats"] = await forms_service.stats(db, ctx.principal, row["id"])
    return page(
        ctx,
        "forms/list.html",
        block="results",
        rows=rows,
        next_url=f"{BASE}?after={next_cursor}" if next_cursor else None,
        base=services(ctx.request).settings.links_base,
    )


async def _editor(
    ctx: Console,
    *,
    item: dict[str, Any] | None,
    form: dict[str, Any],
    status: int = 200,
    errors: FormErrors | None = None,
) -> Response:
    extra: dict[str, Any] = {}
    if item is not None:
        state = services(ctx.request)
        extra["embed"] = await forms_service.embed(
            state.db, ctx.principal, item["id"], state.settings.links_base
        )
        extra["stats"] = await forms_service.stats(state.db, ctx.principal, item["id"])
        number = resources.page_number(ctx.request.query_params.get("page_number"))
        listed = await forms_service.submissions(state.db, ctx.principal, item["id"], number, 20)
        extra["submissions"] = listed["data"]
        extra.update(resources.page_links(number, listed["meta"]["totalPages"]))
    return page(
        ctx,
        "forms/edit.html",
        status=status,
        item=item,
        form=form,
        errors=errors or FormErrors(),
        **await _choices(ctx),
        **extra,
    )


@router.get(BASE + "/new")
async def new(ctx: ConsoleContext) -> Response:
    return await _editor(ctx, item=None, form=_blank())


@router.post(BASE + "/new")
async def create(ctx: ConsoleContext) -> Response:
    form, values = await _read(ctx)
    try:
        made = await resources.create(ctx, forms, values)
    except Problem as problem:
        return await _editor(
            ctx, item=None, form=form, status=problem.status, errors=_errors(problem)
        )
    return see_other(ctx, f"{BASE}/{made['id']}", f"Form “{made['name']}” created.")


@router.get(BASE + "/{form_id:int}")
async def edit(ctx: ConsoleContext, form_id: int) -> Response:
    item = await resources.one(ctx, forms, str(form_id))
    return await _editor(ctx, item=item, form=_form_of_item(item))


@router.post(BASE + "/{form_id:int}")
async def save(ctx: ConsoleContext, form_id: int) -> Response:
    item = await resources.one(ctx, forms, str(form_id))
    form, values = await _read(ctx)
    try:
        saved = await resources.replace(ctx, forms, str(form_id), values)
    except Problem as problem:
        if problem.status == 404:
            raise
        return await _editor(
            ctx, item=item, form=form, status=problem.status, errors=_errors(problem)
        )
    return see_other(ctx, f"{BASE}/{form_id}", f"Form “{saved['name']}” saved.")


@router.get(BASE + "/{form_id:int}/preview")
async def preview(ctx: ConsoleContext, form_id: int) -> Response:
    """The saved confirmation email for a sample person, in the editor's sandboxed
    iframe (its own strict policy: web/email_frame.py)."""
    item = await resources.one(ctx, forms, str(form_id))
    mail = item.get("confirmationEmail")
    url = f"{services(ctx.request).settings.links_base}/f/confirm/0/preview"
    context = {"contact": SAMPLE, "brand_name": item["name"]}
    try:
        _subject, html = await asyncio.to_thread(render_confirmation, mail, context, url)
    except Exception as exc:  # a template that does not render (saved before a check)
        html = f"<p>This template does not render: {type(exc).__name__}</p>"
    return email_frame(html)


@router.get(BASE + "/{form_id:int}/delete")
async def confirm_delete(ctx: ConsoleContext, form_id: int) -> Response:
    item = await resources.one(ctx, forms, str(form_id))
    return page(ctx, "forms/delete.html", item=item, errors=FormErrors())


@router.post(BASE + "/{form_id:int}/delete")
async def delete(ctx: ConsoleContext, form_id: int) -> Response:
    refused = await resources.delete_unless_needed(ctx, forms, str(form_id))
    if refused is not None:  # an automation's trigger names it: the 409 names them
        item = await resources.one(ctx, forms, str(form_id))
        return page(
            ctx,
            "forms/delete.html",
            status=refused.status,
            item=item,
            errors=FormErrors(message=refused.detail or refused.title),
        )
    return see_other(ctx, BASE, "Form deleted.")
