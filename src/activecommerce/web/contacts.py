"""The contacts pages: the list (search, filters, sorting, cursor paging, bulk
tag and untag, the export), a contact's page (fields, custom fields, tags, groups,
deals, emails, activity), create, edit (an input per custom field) and delete. Imports
are in web/contact_imports.py, the custom fields' own page in web/fields.py.

Everything goes through the API's own services: the contacts `Resource` (its list
machinery, with the maintained counts and the cursor; its writes through `web.resources`),
the `Membership` services of tags and groups, the export's stream."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from pydantic import BaseModel, ValidationError
from starlette.responses import Response, StreamingResponse

from activecommerce.api.routes import list_query_model, page_params
from activecommerce.consent import service as consent
from activecommerce.contacts import selection
from activecommerce.contacts.export import export_csv
from activecommerce.contacts.service import (
    Membership,
    activity_of,
    contact_group_membership,
    contact_tag_membership,
    contacts,
)
from activecommerce.deals.service import deals
from activecommerce.email.service import emails_of_contact
from activecommerce.fields.definitions import FieldDef, definitions
from activecommerce.fields.values import BadValue, parse_text, to_text
from activecommerce.groups.service import contact_groups
from activecommerce.kit import events
from activecommerce.kit.db import Connection
from activecommerce.kit.fields import parse_id
from activecommerce.kit.named import by_names
from activecommerce.kit.problems import Problem, not_found
from activecommerce.kit.services import services
from activecommerce.segments.service import segments
from activecommerce.tags.service import contact_tags
from activecommerce.web import resources
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.forms import (
    FormErrors,
    every,
    form_of,
    pairs_of,
    problem_text,
    validated,
)
from activecommerce.web.pages import safe_next

router = console_router()

PAGE_SIZE = 25
ACTIVITY_PAGE = 20
EMAILS_SHOWN = 20
CONSENTS_SHOWN = 20
# The most tags or groups offered in a select (a longer list is typed by name).
CHOICES = 200
STATUSES = ("active", "unconfirmed", "unsubscribed", "bounced", "complained")
SORTS = (
    ("createdAt", "Created"),
    ("updatedAt", "Updated"),
    ("email", "Email"),
    ("firstName", "First name"),
    ("lastName", "Last name"),
)
# The list's query parameters the page keeps in its links (the API's names).
LIST_PARAMS = ("q", "tagId", "groupId", "segmentId", "status", "sortBy", "sortOrder")
# Form field -> API field, and back (FormErrors names).
FIELDS = {
    "email": "email",
    "first_name": "firstName",
    "last_name": "lastName",
    "phone": "phone",
    "status": "status",
}
API_TO_FORM = {api: name for name, api in FIELDS.items()}

ListQuery: type[BaseModel] = list_query_model(contacts, "ConsoleContact")


def _db(ctx: Console) -> Any:
    return services(ctx.request).db


def _query_string(values: dict[str, str], **changes: str | None) -> str:
    kept = {k: v for k, v in {**values, **changes}.items() if v}
    return urlencode(kept)


# ---------------------------------------------------------------- the list


@router.get("/contacts")
async def contact_list(ctx: ConsoleContext) -> Response:
    params = {k: v for k, v in ctx.request.query_params.items() if k in (*LIST_PARAMS, "cursor")}
    shown = {k: v for k, v in params.items() if k in LIST_PARAMS and v}
    error = ""
    # Until a page is read: the part of an envelope the template shows of an empty list.
    result: Mapping[str, Any] = {"data": [], "meta": {"total": 0, "totalExact": True}}
    try:
        query = ListQuery.model_validate({**shown, "cursor": params.get("cursor") or None})
        paging = page_params(query)
        paging["page_size"] = PAGE_SIZE
        result = await contacts.list_rows(_db(ctx), ctx.principal, **paging)
    except ValidationError as exc:
        error = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors())
    except Problem as problem:
        error = problem.detail or problem.title
    meta = result["meta"]
    base = _query_string(shown)
    next_cursor = meta.get("nextCursor")
    values = {
        "shown": shown,
        "shown_filters": {k: v for k, v in shown.items() if k not in ("sortBy", "sortOrder")},
        "rows": result["data"],
        "meta": meta,
        "error": error,
        "here": "/contacts" + (f"?{ctx.request.url.query}" if ctx.request.url.query else ""),
        "next_url": f"/contacts?{_query_string(shown, cursor=next_cursor)}"
        if next_cursor
        else None,
        "first_url": f"/contacts?{base}" if params.get("cursor") else None,
        "export_url": "/contacts/export?"
        + _query_string({k: v for k, v in shown.items() if k not in ("sortBy", "sortOrder")}),
    }
    return page(
        ctx,
        "contacts/list.html",
        block="results",
        tags=await resources.options(ctx, contact_tags, CHOICES),
        groups=await resources.options(ctx, contact_groups, CHOICES),
        segments=await resources.options(ctx, segments, CHOICES),
        statuses=[(s, s) for s in STATUSES],
        sorts=SORTS,
        **values,
    )


@router.get("/contacts/export")
async def export(ctx: ConsoleContext) -> Response:
    """The export of GET /v3/contacts/export for the list's filters, with the session."""
    wanted = {f.name for f in contacts.filters}
    sent = {k: v for k, v in ctx.request.query_params.items() if k in wanted and v}
    filters = page_params(validated(ListQuery, sent))["filters"]
    return StreamingResponse(
        export_csv(_db(ctx), ctx.principal, filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
    )


async def _target(
    conn: Connection, ctx: Console, membership: Membership, chosen: str, name: str
) -> str:
    """The id of the tag (group) chosen in the select, or of the one named in the text
    field: found by name, else made (with its `.created` event, as imports do)."""
    name = name.strip()
    if not name:
        if not chosen:
            raise Problem(422, f"Choose a {membership.target.title} or type a new name.")
        return chosen
    target = membership.target
    validated(target.create_model, {"name": name})
    rows, made = await by_names(conn, ctx.principal, target, [name])
    for row in made:
        created = target.rules.events(target.event_name, "created", None, target.serialize(row))
        await events.record(conn, ctx.principal, created)
    return str(rows[name]["id"])


# Each bulk action's tag or group fields (the select's name, the new name's).
TARGET_FIELDS = {"tag": ("tag", "new_tag"), "group": ("group", "new_group")}
MATCH = "match-"  # the list's filters, as the bulk form carries them: match-<API name>


def _match(values: list[tuple[str, str]]) -> dict[str, str]:
    """The list's filters the bulk form was shown with (checked as the list checks them)."""
    sent = {key.removeprefix(MATCH): value for key, value in values if key.startswith(MATCH)}
    wanted = {f.name for f in contacts.filters}
    query = validated(ListQuery, {k: v for k, v in sent.items() if k in wanted and v})
    return selection.filters_of(page_params(query)["filters"])


def _plural(n: int, exact: bool = True) -> str:
    return f"{'' if exact else 'at least '}{n} contact{'' if n == 1 else 's'}"


async def _bulk_target(ctx: Console, action: selection.Action, form: dict[str, str]) -> int | None:
    """The tag or group the action names: chosen, or typed (found or made)."""
    membership = action.membership
    if membership is None:
        return None
    chosen, typed = TARGET_FIELDS["tag" if membership is contact_tag_membership else "group"]
    async with _db(ctx).transaction() as conn:
        found = await _target(conn, ctx, membership, form.get(chosen, ""), form.get(typed, ""))
    target = parse_id(found)
    if target is None:
        raise not_found(membership.target.title)
    return target


@router.post("/contacts/bulk")
async def bulk(ctx: ConsoleContext) -> Response:
    """An action (tag, untag, add to or remove from a group, delete) on the ticked
    contacts of a page, or on every contact the list's filters match
    (`contacts.selection`: in batches; a large selection as a background job). A delete
    is confirmed first by typing how many contacts go."""
    values = await pairs_of(ctx.request)
    form = dict(reversed(values))  # the first value of each name
    back = safe_next(form.get("back"), "/contacts")
    if not back.startswith("/contacts"):
        back = "/contacts"
    everyone = form.get("scope") == "all"
    db = _db(ctx)
    try:
        action = selection.action_of(form.get("action", ""))
        ticked = (parse_id(value) for value in every(values, "ids")[:PAGE_SIZE])
        ids = [] if everyone else [oid for oid in ticked if oid is not None]
        filters: dict[str, str] = _match(values) if everyone else {}
        if not everyone and not ids:
            return see_other(ctx, back, "Select some contacts first.", "error")
        total, exact = len(ids), True
        if everyone:
            total, exact = await selection.matching(db, ctx.principal, filters)
        if action.membership is None:
            confirmed = form.get("confirm")
            if confirmed is None or confirmed.strip() != str(total):
                return _confirm_delete(ctx, values, back, total, exact, confirmed)
        target = await _bulk_target(ctx, action, form)
        if not everyone:
            await selection.apply_to(db, ctx.principal, action, target, ids)
            return see_other(ctx, back, f"{_plural(len(ids)).capitalize()} {action.done}.")
        if exact and total <= selection.INLINE_LIMIT:
            done = await selection.apply_now(db, ctx.principal, action, target, filters)
            return see_other(ctx, back, f"{_plural(done).capitalize()} {action.done}.")
        job = await selection.queue_job(db, ctx.principal, action, target, filters, total)
    except Problem as problem:
        return see_other(ctx, back, problem_text(problem), "error")
    queued = f"Queued: {_plural(total, exact)} to be {action.done}."
    return see_other(ctx, f"/contacts/bulk/{job}?back={quote(back)}", queued)


def _confirm_delete(
    ctx: Console,
    values: list[tuple[str, str]],
    back: str,
    total: int,
    exact: bool,
    confirmed: str | None,
) -> Response:
    """The step before a bulk delete: type how many contacts go."""
    kept = [(k, v) for k, v in values if k in ("ids", "scope", "back") or k.startswith(MATCH)]
    error = ""
    if confirmed is not None:
        error = f"does not match: type {total} to delete {_plural(total)}."
    return page(
        ctx,
        "contacts/bulk_delete.html",
        status=422 if error else 200,
        kept=kept,
        back=back,
        total=total,
        exact=exact,
        errors=FormErrors({"confirm": error}, "Type the number of contacts.") if error else None,
    )


@router.get("/contacts/bulk/{job_id:int}")
async def bulk_progress(ctx: ConsoleContext, job_id: int) -> Response:
    """Where a queued bulk action stands (polled every second while it runs)."""
    found = await selection.progress(_db(ctx), ctx.principal, job_id)
    back = safe_next(ctx.request.query_params.get("back"), "/contacts")
    if not back.startswith("/contacts"):
        back = "/contacts"
    action = selection.ACTIONS.get(found["action"]) if found else None
    return page(
        ctx,
        "contacts/bulk_progress.html",
        block="progress",
        job_id=job_id,
        found=found,
        done_text=action.done if action else "",
        back=back,
        here=f"/contacts/bulk/{job_id}?back={quote(back)}",
    )


# ---------------------------------------------------------------- create, edit, delete


def _body(form: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        api: (form.get(name) or "").strip() or None for name, api in FIELDS.items()
    }
    if body["status"] is None:
        body.pop("status")
    return body


# ---------------------------------------------------------------- custom fields in the form

CUSTOM = "cf-"  # a custom field's input: cf-<key> (a multiselect: one per ticked option)
SHOWN = "cf_shown"  # the keys the form had an input for (never a cf-<key> name)


def _custom_form(defs: dict[str, FieldDef], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Values (as JSON) as the form's inputs hold them: a multiselect's a list of its
    options, the others' their text (booleans "true"/"false", as the select's values)."""
    shown: dict[str, Any] = {}
    for key, field in defs.items():
        value = stored.get(key)
        if field.type == "multiselect":
            shown[key] = list(value or [])
        else:
            shown[key] = to_text(field, value)
    return shown


def _custom_sent(defs: dict[str, FieldDef], pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """What the form sent for the fields it showed, as the inputs hold them."""
    return {
        key: every(pairs, CUSTOM + key) if defs[key].type == "multiselect" else _first(pairs, key)
        for key in every(pairs, SHOWN)
        if key in defs
    }


def _first(pairs: list[tuple[str, str]], key: str) -> str:
    values = every(pairs, CUSTOM + key)
    return values[0] if values else ""


def _custom_values(defs: dict[str, FieldDef], sent: dict[str, Any]) -> dict[str, Any]:
    """The form's inputs as the API's `fields` values: an empty input is null (no value),
    a cell read as an import reads it (`parse_text`); text the field cannot take is sent
    as typed, for the API to refuse it in its words (`fields.<key>`)."""
    values: dict[str, Any] = {}
    for key, shown in sent.items():
        field = defs[key]
        if field.type == "multiselect":
            values[key] = list(shown) or None
            continue
        try:
            values[key] = parse_text(field, shown)
        except BadValue:
            values[key] = shown
    return values


def _changed(
    defs: dict[str, FieldDef], sent: dict[str, Any], stored: Mapping[str, Any]
) -> dict[str, Any]:
    """A PATCH's `fields`: only the keys whose value the form changed (null clears)."""
    values = _custom_values(defs, sent)
    return {key: value for key, value in values.items() if not _same(value, stored.get(key))}


def _same(sent: Any, stored: Any) -> bool:
    if isinstance(sent, list) and isinstance(stored, list):  # a multiselect's, any order
        return set(sent) == set(stored)
    return bool(sent == stored)


async def _form_page(
    ctx: Console,
    form: dict[str, str],
    errors: FormErrors,
    contact: dict[str, Any] | None,
    status: int = 200,
    custom: dict[str, Any] | None = None,
    defs: dict[str, FieldDef] | None = None,
) -> Response:
    if defs is None:
        defs = await definitions(_db(ctx), ctx.principal)
    if custom is None:
        stored = (
            contact["fields"]
            if contact is not None
            else {key: field.default for key, field in defs.items()}
        )
        custom = _custom_form(defs, stored)
    return page(
        ctx,
        "contacts/form.html",
        status=status,
        form=form,
        errors=errors,
        contact=contact,
        statuses=[(s, s) for s in STATUSES],
        defs=list(defs.values()),
        custom=custom,
        custom_prefix=CUSTOM,
        shown_name=SHOWN,
    )


@router.get("/contacts/new")
async def new_contact(ctx: ConsoleContext) -> Response:
    return await _form_page(ctx, {"status": "active"}, FormErrors(), None)


@router.post("/contacts/new")
async def create_contact(ctx: ConsoleContext) -> Response:
    pairs = await pairs_of(ctx.request)
    form = dict(reversed(pairs))  # the first value of each name
    defs = await definitions(_db(ctx), ctx.principal)
    sent = _custom_sent(defs, pairs)
    body = _body(form)
    if sent:
        # Every field shown: a cleared default is null (no value), as the person saw it.
        body["fields"] = _custom_values(defs, sent)
    try:
        with consent.writing_from("console"):
            created = await resources.create(ctx, contacts, body)
    except Problem as problem:
        errors = _errors(problem, defs)
        return await _form_page(ctx, form, errors, None, problem.status, _merged(defs, sent), defs)
    return see_other(ctx, f"/contacts/{created['id']}", "Contact created.")


def _merged(defs: dict[str, FieldDef], sent: dict[str, Any]) -> dict[str, Any]:
    """The form's custom inputs as sent (a field it did not show: empty)."""
    return {**_custom_form(defs, {}), **sent}


def _errors(problem: Problem, defs: dict[str, FieldDef] | None = None) -> FormErrors:
    names = {**API_TO_FORM, **{f"fields.{key}": CUSTOM + key for key in defs or {}}}
    errors = FormErrors.of(problem, names)
    if problem.status == 409 and "email" in (problem.detail or "").lower():
        errors.fields["email"] = "is taken by another contact"
    elif problem.status == 409:  # activation refused (consent.activation_refused)
        errors.fields["status"] = problem.detail or "cannot be set"
        errors.message = "Check the fields marked below."
    return errors


def _contact_id(value: str) -> str:
    if parse_id(value) is None:
        raise not_found("contact")
    return value


@router.get("/contacts/{contact_id}/edit")
async def edit_contact(ctx: ConsoleContext, contact_id: str) -> Response:
    contact = await resources.one(ctx, contacts, contact_id)
    form = {name: contact.get(api) or "" for name, api in FIELDS.items()}
    return await _form_page(ctx, form, FormErrors(), contact)


@router.post("/contacts/{contact_id}/edit")
async def save_contact(ctx: ConsoleContext, contact_id: str) -> Response:
    contact = await resources.one(ctx, contacts, contact_id)
    pairs = await pairs_of(ctx.request)
    form = dict(reversed(pairs))
    defs = await definitions(_db(ctx), ctx.principal)
    sent = _custom_sent(defs, pairs)
    body = _body(form)
    # A PATCH: only the custom fields the form changed (an emptied input: null clears
    # it); the others keep their values, as do fields made since the form was shown.
    changed = _changed(defs, sent, contact["fields"])
    if changed:
        body["fields"] = changed
    try:
        with consent.writing_from("console"):
            await resources.patch(ctx, contacts, contact_id, body)
    except Problem as problem:
        if problem.status == 404:
            raise
        errors = _errors(problem, defs)
        return await _form_page(
            ctx, form, errors, contact, problem.status, _merged(defs, sent), defs
        )
    return see_other(ctx, f"/contacts/{contact['id']}", "Contact saved.")


@router.get("/contacts/{contact_id}/delete")
async def confirm_delete(ctx: ConsoleContext, contact_id: str) -> Response:
    contact = await resources.one(ctx, contacts, contact_id)
    return page(ctx, "contacts/delete.html", contact=contact)


@router.post("/contacts/{contact_id}/delete")
async def delete_contact(ctx: ConsoleContext, contact_id: str) -> Response:
    await resources.delete(ctx, contacts, contact_id)
    return see_other(ctx, "/contacts", "Contact deleted.")


# ---------------------------------------------------------------- a contact's page

MEMBERSHIPS = {"tags": contact_tag_membership, "groups": contact_group_membership}


def _activity_view(row: Any) -> dict[str, Any]:
    data = orjson.loads(row["data"])
    return {
        "id": row["id"],
        "type": row["type"],
        "at": row["created_at"],
        "summary": _summary(row["type"], data),
    }


def _summary(event_type: str, data: dict[str, Any]) -> str:
    """A line saying what happened, from an activity row's data."""
    for key in ("contactTag", "contactGroup"):
        if isinstance(data.get(key), dict):
            return str(data[key].get("name", ""))
    if event_type.startswith("deal."):
        return str(data.get("name") or "")
    if event_type.startswith("email."):
        return str(data.get("url") or data.get("status") or "")
    if event_type == "contact.imported":
        return str(data.get("action", ""))
    return str(data.get("email") or "")


def _before(ctx: Console) -> int | None:
    value = ctx.request.query_params.get("before", "")
    return parse_id(value)


@router.get("/contacts/{contact_id}")
async def contact_page(ctx: ConsoleContext, contact_id: str) -> Response:
    db = _db(ctx)
    row = await contacts.get_row(db, ctx.principal, _contact_id(contact_id))
    contact = await contacts.present_row(db, ctx.principal, row)
    oid = int(row["id"])
    found = await activity_of(db, ctx.principal, oid, _before(ctx), ACTIVITY_PAGE + 1)
    activity = [_activity_view(r) for r in found[:ACTIVITY_PAGE]]
    more = f"/contacts/{oid}?before={activity[-1]['id']}" if len(found) > ACTIVITY_PAGE else None
    if ctx.htmx:
        return page(
            ctx,
            "contacts/contact.html",
            block="activity",
            contact=contact,
            activity=activity,
            more_url=more,
        )
    lists = {
        name: (
            await membership.list_for(
                db,
                ctx.principal,
                contact["id"],
                page=1,
                page_size=CHOICES,
                sort_by="name",
                sort_order="asc",
            )
        )["data"]
        for name, membership in MEMBERSHIPS.items()
    }
    contact_deals = await deals.list_rows(
        db,
        ctx.principal,
        page=1,
        page_size=50,
        sort_by="createdAt",
        sort_order="desc",
        filters={"contact": contact["id"]},
    )
    emails = await emails_of_contact(db, ctx.principal, oid, EMAILS_SHOWN)
    defs = await definitions(db, ctx.principal)
    return page(
        ctx,
        "contacts/contact.html",
        contact=contact,
        # The fields with a value, in the order they were made.
        custom=_shown_fields(defs, contact["fields"]),
        tags=lists["tags"],
        groups=lists["groups"],
        # "Add a tag" offers only the tags (groups) the contact does not have yet.
        all_tags=_others(await resources.options(ctx, contact_tags, CHOICES), lists["tags"]),
        all_groups=_others(await resources.options(ctx, contact_groups, CHOICES), lists["groups"]),
        deals=contact_deals["data"],
        emails=emails,
        consents=await consent.recent_consents(db, ctx.principal, oid, CONSENTS_SHOWN),
        activity=activity,
        more_url=more,
        first_activity=_before(ctx) is not None,
    )


def _shown_fields(defs: dict[str, FieldDef], stored: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The contact's custom field values as its page shows them, in the order the fields
    were made: by name, a date written out, a boolean Yes or No, a multiselect joined."""
    shown = []
    for key, field in defs.items():
        value = stored.get(key)
        if value is None:
            continue
        text = str(value)
        if field.type == "boolean":
            text = "Yes" if value else "No"
        elif field.type == "multiselect":
            text = ", ".join(value)
        elif field.type == "date":
            day = date.fromisoformat(value)
            text = f"{day.day} {day.strftime('%b')} {day.year}"
        elif field.type == "number":
            text = to_text(field, value)
        shown.append(
            {"key": key, "name": field.name, "type": field.type, "value": value, "text": text}
        )
    return shown


def _others(choices: list[tuple[str, str]], held: list[dict[str, Any]]) -> list[tuple[str, str]]:
    have = {str(item["id"]) for item in held}
    return [(target_id, name) for target_id, name in choices if str(target_id) not in have]


@router.post("/contacts/{contact_id}/{kind}")
async def add_membership(ctx: ConsoleContext, contact_id: str, kind: str) -> Response:
    membership = MEMBERSHIPS.get(kind)
    if membership is None:
        raise not_found("page")
    await contacts.get_row(_db(ctx), ctx.principal, contact_id)  # else a 404 page
    form = await form_of(ctx.request)
    here = f"/contacts/{contact_id}"
    try:
        async with _db(ctx).transaction() as conn:
            target = await _target(
                conn, ctx, membership, form.get("target", ""), form.get("name", "")
            )
            await membership.add(conn, ctx.principal, contact_id, target)
    except Problem as problem:
        return see_other(ctx, here, problem_text(problem), "error")
    return see_other(ctx, here, f"{membership.target.title.capitalize()} added.")


@router.post("/contacts/{contact_id}/{kind}/{target_id}/remove")
async def remove_membership(
    ctx: ConsoleContext, contact_id: str, kind: str, target_id: str
) -> Response:
    membership = MEMBERSHIPS.get(kind)
    if membership is None:
        raise not_found("page")
    async with _db(ctx).transaction() as conn:
        await membership.remove(conn, ctx.principal, _contact_id(contact_id), target_id)
    return see_other(
        ctx, f"/contacts/{contact_id}", f"{membership.target.title.capitalize()} removed."
    )
