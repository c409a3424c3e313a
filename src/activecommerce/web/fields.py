"""Custom contact fields (under Contacts): listed with their key, type, whether they
are required and their options; created (name, key, type, options one per line,
required, default value), edited (name, options, required, default: the key and type are
fixed at creation) and deleted, through the collection's own flow (`web.resources`): the
API's checks (422 naming `key`, `options` or `defaultValue`; 409 on a taken key; 409 when
a segment's conditions compare the field) are shown on the form.

A default value is typed as a CSV cell is (`fields.values.parse_text`: yes/no for a
boolean, YYYY-MM-DD, options joined with `;`)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from activecommerce.fields.definitions import FIELD_TYPES, FieldDef
from activecommerce.fields.service import contact_fields
from activecommerce.fields.values import CHOICE_TYPES, BadValue, parse_text, to_text
from activecommerce.kit.problems import Problem
from activecommerce.web import resources
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.forms import FormErrors, checked, form_of

router = console_router()

BASE = "/contacts/fields"
TYPES = [(kind, kind) for kind in FIELD_TYPES]
# API field -> form field (FormErrors names).
API_TO_FORM = {"defaultValue": "default_value"}


def _options(form: dict[str, str]) -> list[str]:
    """The options textarea: one per line, blank lines left out."""
    return [line.strip() for line in form.get("options", "").splitlines() if line.strip()]


def _definition(kind: str, options: list[str], default: Any = None) -> FieldDef:
    return FieldDef(0, "", "", kind, tuple(options), False, default)  # type: ignore[arg-type]


def _default(kind: str, options: list[str], form: dict[str, str]) -> Any:
    """The default value typed in the form, as the field's JSON value (None: none). Text
    the field cannot take is sent as typed, for the API to refuse in its words."""
    text = form.get("default_value", "")
    if not text.strip():
        return None
    if kind not in FIELD_TYPES:
        return text
    try:
        return parse_text(_definition(kind, options), text)
    except BadValue:
        return text


def _values(form: dict[str, str], kind: str) -> dict[str, Any]:
    options = _options(form)
    return {
        "name": form.get("name", ""),
        "options": options,
        "required": checked(form, "required"),
        "defaultValue": _default(kind, options, form),
    }


def _form(item: dict[str, Any]) -> dict[str, str]:
    default = item["defaultValue"]
    return {
        "name": item["name"],
        "options": "\n".join(item["options"]),
        "required": "on" if item["required"] else "",
        "default_value": to_text(_definition(item["type"], item["options"]), default),
    }


def _errors(problem: Problem) -> FormErrors:
    errors = FormErrors.of(problem, API_TO_FORM)
    for name in list(errors.fields):
        if name.startswith("options."):  # one option refused: the textarea's error
            errors.fields.setdefault("options", errors.fields.pop(name))
    if problem.status == 409 and not errors.fields and "key" in (problem.detail or ""):
        errors.fields["key"] = "is taken by another field"
        errors.message = "Check the fields marked below."
    return errors


async def _list_page(
    ctx: Console,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    after = ctx.request.query_params.get("after") or None
    rows, next_cursor = await resources.rows_of(
        ctx, contact_fields, size=resources.PAGE_SIZE, after=after
    )
    return page(
        ctx,
        "contacts/fields.html",
        block="results",
        status=status,
        rows=rows,
        types=TYPES,
        next_url=f"{BASE}?after={next_cursor}" if next_cursor else None,
        first_url=BASE if after else None,
        errors=errors or FormErrors(),
        form=form or {"type": "text"},
    )


@router.get(BASE)
async def listed(ctx: ConsoleContext) -> Response:
    return await _list_page(ctx)


@router.post(BASE)
async def create(ctx: ConsoleContext) -> Response:
    form = await form_of(ctx.request)
    kind = form.get("type", "")
    values = {**_values(form, kind), "key": form.get("key", "").strip(), "type": kind}
    try:
        made = await resources.create(ctx, contact_fields, values)
    except Problem as problem:
        return await _list_page(ctx, status=problem.status, errors=_errors(problem), form=form)
    return see_other(ctx, BASE, f"Field “{made['name']}” created.")


async def _field_page(
    ctx: Console,
    field_id: int,
    template: str,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    item = await resources.one(ctx, contact_fields, str(field_id))
    return page(
        ctx,
        template,
        status=status,
        item=item,
        choices=item["type"] in CHOICE_TYPES,
        errors=errors or FormErrors(),
        form=form if form is not None else _form(item),
    )


@router.get(BASE + "/{field_id:int}")
async def edit(ctx: ConsoleContext, field_id: int) -> Response:
    return await _field_page(ctx, field_id, "contacts/field.html")


@router.post(BASE + "/{field_id:int}")
async def save(ctx: ConsoleContext, field_id: int) -> Response:
    item = await resources.one(ctx, contact_fields, str(field_id))
    form = await form_of(ctx.request)
    try:
        saved = await resources.patch(
            ctx, contact_fields, str(field_id), _values(form, item["type"])
        )
    except Problem as problem:
        if problem.status == 404:
            raise
        return await _field_page(
            ctx,
            field_id,
            "contacts/field.html",
            status=problem.status,
            errors=_errors(problem),
            form=form,
        )
    return see_other(ctx, BASE, f"Field “{saved['name']}” saved.")


@router.get(BASE + "/{field_id:int}/delete")
async def confirm_delete(ctx: ConsoleContext, field_id: int) -> Response:
    return await _field_page(ctx, field_id, "contacts/field_delete.html")


@router.post(BASE + "/{field_id:int}/delete")
async def delete(ctx: ConsoleContext, field_id: int) -> Response:
    refused = await resources.delete_unless_needed(ctx, contact_fields, str(field_id))
    if refused is not None:  # a segment's conditions compare it: the 409 names them
        return await _field_page(
            ctx,
            field_id,
            "contacts/field_delete.html",
            status=refused.status,
            errors=FormErrors(message=refused.detail or refused.title),
        )
    return see_other(ctx, BASE, "Field deleted.")
