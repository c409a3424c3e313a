"""Signup forms over HTTP: the collection (`/v3/forms`, with its embed snippet, its
submissions and its figures), and the public pages (`/f/...`: no key, no cookie, no
session), the hosted form and the confirmation link's page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from activecommerce.api.html import allow_form_target, render
from activecommerce.api.routes import COMMON_ERRORS, crud_router, json_response, list_model
from activecommerce.auth.deps import CurrentPrincipal, client_address_of
from activecommerce.consent.keys import address_hash
from activecommerce.email.config import EmailConfig
from activecommerce.fields.definitions import definitions
from activecommerce.forms import service
from activecommerce.forms.schemas import FormEmbedOut, FormStatsOut, FormSubmissionOut
from activecommerce.kit.db import Row
from activecommerce.kit.pagination import DEFAULT_PAGE_SIZE, Page, PageSize
from activecommerce.kit.problems import Problem, responses
from activecommerce.kit.services import services

router = crud_router(service.forms, "Forms")


@router.get(
    "/{id}/embed",
    response_model=FormEmbedOut,
    summary="A form's hosted page and HTML snippet",
    operation_id="getFormEmbed",
    description="`url`: the hosted page (works without JavaScript); `html`: a plain HTML"
    " form that posts to it, to paste into any site (no script, no style sheet).",
    responses=responses(*COMMON_ERRORS, 404),
)
async def form_embed(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    state = services(request)
    base = state.settings.links_base
    return json_response(await service.embed(state.db, principal, id, base))


@router.get(
    "/{id}/stats",
    response_model=FormStatsOut,
    summary="A form's submissions and confirmations",
    operation_id="getFormStats",
    description="How many submissions the form had, how many were confirmed (or needed no"
    " confirmation), and their ratio.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def form_stats(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    return json_response(await service.stats(services(request).db, principal, id))


@router.get(
    "/{id}/submissions",
    response_model=list_model("FormSubmission", FormSubmissionOut),
    summary="List a form's submissions",
    operation_id="listFormSubmissions",
    description="The form's submissions, the newest first: the answers as sent, the"
    " contact, and whether it was confirmed.",
    responses=responses(*COMMON_ERRORS, 404, 422),
)
async def form_submissions(
    id: str,
    request: Request,
    principal: CurrentPrincipal,
    page: Annotated[Page, Query(description="Page number, from 1")] = 1,
    pageSize: Annotated[PageSize, Query(description="Items per page")] = DEFAULT_PAGE_SIZE,
) -> Response:
    db = services(request).db
    return json_response(await service.submissions(db, principal, id, page, pageSize))


# ------------------------------------------------------------------ public pages

public_router = APIRouter(prefix="/f", include_in_schema=False)

MAX_SUBMISSION_BYTES = 16 * 1024
# Per form and minute, from every address together: a flood from many addresses fills
# one form's budget, not the database (the per-address limit is ACTIVECOMMERCE_FORM_RATE).
PER_FORM_MINUTE = 1200
# Confirmation emails per address and hour: a form cannot be used to flood a mailbox.
MAILS_PER_ADDRESS_HOUR = 5
PUBLIC_HEADERS = {"Referrer-Policy": "no-referrer"}


def _page(name: str, status: int = 200, **context: Any) -> Response:
    response = render(name, status, **context)
    response.headers.update(PUBLIC_HEADERS)
    return response


def _not_found() -> Response:
    return _page(
        "forms/public_message.html", 404, title="Not found", message="This page does not exist."
    )


async def _form_context(form: Row, request: Request) -> dict[str, Any]:
    db = services(request).db
    principal = service.principal_of(form)
    mail = orjson.loads(form["confirmation_email"]) if form["confirmation_email"] else None
    brand_name = None
    if mail and mail.get("brandId"):
        from activecommerce.brands.service import brands

        try:
            brand_name = (await brands.get_row(db, principal, str(mail["brandId"])))["name"]
        except Problem:
            brand_name = None
    defs = await definitions(db, principal)
    asked = []
    for item in service.asked_of(form):
        key = str(item["key"])
        definition = defs.get(key[7:]) if key.startswith("fields.") else None
        if key.startswith("fields.") and definition is None:
            continue
        asked.append(
            {
                "key": key,
                "required": bool(item["required"]),
                "label": definition.name if definition else service.LABELS.get(key, key),
                "type": definition.type if definition else ("email" if key == "email" else "text"),
                "options": definition.options if definition else (),
            }
        )
    return {
        "form": form,
        "brand_name": brand_name or form["name"],
        "asked": asked,
        "honeypot": service.HONEYPOT,
        "action": f"/f/{form['public_id']}",
    }


@public_router.get("/{public_id}")
async def hosted_form(public_id: str, request: Request) -> Response:
    form = await service.by_public_id(services(request).db, public_id)
    if form is None:
        return _not_found()
    return _page("forms/hosted.html", **await _form_context(form, request), sent={}, errors={})


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is over MAX_SUBMISSION_BYTES."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_SUBMISSION_BYTES):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_SUBMISSION_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _kind(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";")[0].strip().lower()


@public_router.post("/{public_id}")
async def submit_form(public_id: str, request: Request) -> Response:
    state = services(request)
    settings = state.settings
    kind = _kind(request)
    as_json = kind == "application/json"
    if as_json:
        origin = request.headers.get("origin")
        if origin is None or origin not in settings.cors_origin_list:
            raise Problem(403, "JSON submissions are taken only from the allowed origins.")
    form = await service.by_public_id(state.db, public_id)
    if form is None:
        if as_json:
            raise Problem(404, "There is no such form.")
        return _not_found()
    address = client_address_of(request)
    limiter = state.limiter
    if settings.form_rate > 0 and not await limiter.spend(
        "form-address", settings.form_rate, 60, address
    ):
        return _too_many(as_json)
    if not await limiter.spend("form", PER_FORM_MINUTE, 60, str(form["id"])):
        return _too_many(as_json)
    body = await _read_body(request)
    if body is None:
        if as_json:
            raise Problem(413, f"The body is over the limit of {MAX_SUBMISSION_BYTES} bytes.")
        return _page(
            "forms/public_message.html",
            413,
            title="Too large",
            message="The form sent is too large.",
        )
    raw = _parse(body, kind)
    if raw is None:
        if as_json:
            raise Problem(422, "Send a JSON object of the form's fields.")
        return _page(
            "forms/public_message.html",
            400,
            title="Bad request",
            message="Send the form as a web form (application/x-www-form-urlencoded).",
        )
    if any(v not in (None, "") for v in raw.get(service.HONEYPOT, [])):
        return _done(form, as_json)  # a bot: answered as a success, nothing stored
    principal = service.principal_of(form)
    custom = any(str(a["key"]).startswith("fields.") for a in service.asked_of(form))
    defs = await definitions(state.db, principal) if custom else {}
    answers = service.read_answers(form, raw, defs)
    if not answers.errors:
        mail = await limiter.spend(
            "form-mail", MAILS_PER_ADDRESS_HOUR, 3600, address_hash(answers.email)
        )
        try:
            await service.submit(
                state.db,
                form,
                answers,
                ip=address,
                user_agent=request.headers.get("user-agent"),
                mail=mail,
            )
        except Problem as problem:
            if problem.status != 422:
                raise
            answers.errors = [
                {"field": _asked_field(e.get("field", "")), "message": e.get("message", "")}
                for e in (problem.errors or [{"field": "email", "message": str(problem.detail)}])
            ]
    if answers.errors:
        if as_json:
            raise Problem(422, "The submission has invalid fields.", errors=answers.errors)
        errors = {e["field"]: e["message"] for e in answers.errors}
        context = await _form_context(form, request)
        return _page("forms/hosted.html", 422, **context, sent=answers.sent, errors=errors)
    return _done(form, as_json)


def _asked_field(field: str) -> str:
    return field.removeprefix("body.")


def _parse(body: bytes, kind: str) -> dict[str, list[Any]] | None:
    """name -> every value sent; None when the body is not a form or a JSON object."""
    if kind == "application/json":
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        out: dict[str, list[Any]] = {}
        for key, value in data.items():
            if key == "fields" and isinstance(value, dict):
                for name, inner in value.items():
                    out[f"fields.{name}"] = inner if isinstance(inner, list) else [inner]
            else:
                out[str(key)] = value if isinstance(value, list) else [value]
        return out
    if kind != "application/x-www-form-urlencoded":
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        return dict(parse_qs(text, keep_blank_values=True, max_num_fields=200))
    except ValueError:  # too many fields
        return None


def _done(form: Row, as_json: bool) -> Response:
    confirming = bool(form["double_opt_in"])
    if as_json:
        return json_response({"status": "pending" if confirming else "subscribed"}, 202)
    target = form["redirect_url"]
    if target:
        response = RedirectResponse(target, status_code=303, headers=PUBLIC_HEADERS)
        return allow_form_target(response, target)
    message = form["success_message"] or (
        "Thank you! Check your inbox: we sent you an email to confirm your subscription."
        if confirming
        else "Thank you for subscribing!"
    )
    return _page("forms/public_message.html", title="Thank you", message=message)


def _too_many(as_json: bool) -> Response:
    if as_json:
        raise Problem(429, "Too many submissions; wait a minute.", headers={"Retry-After": "60"})
    response = _page(
        "forms/public_message.html",
        429,
        title="Too many submissions",
        message="Too many submissions from your address; wait a minute and try again.",
    )
    response.headers["Retry-After"] = "60"
    return response


# ------------------------------------------------------------------ the confirmation link


def _submission_of(request: Request, sid: str, sig: str) -> int | None:
    return services(request).part(EmailConfig).links().confirming(sid, sig)


@public_router.get("/confirm/{sid}/{sig}")
async def confirmation_page(sid: str, sig: str, request: Request) -> Response:
    """Shows a confirm button: mail scanners open links, and a GET never confirms."""
    submission_id = _submission_of(request, sid, sig)
    if submission_id is None:
        return _not_found()
    state = services(request)
    try:
        found = await service.confirmation(
            state.db, submission_id, state.settings.unconfirmed_retention_days
        )
    except Problem:
        return _not_found()
    return _confirmation_response(found, str(request.url.path))


@public_router.post("/confirm/{sid}/{sig}")
async def confirm(sid: str, sig: str, request: Request) -> Response:
    submission_id = _submission_of(request, sid, sig)
    if submission_id is None:
        return _not_found()
    state = services(request)
    try:
        found = await service.confirm(
            state.db,
            submission_id,
            ip=client_address_of(request),
            user_agent=request.headers.get("user-agent"),
            retention_days=state.settings.unconfirmed_retention_days,
        )
    except Problem as problem:
        if problem.status == 404:
            return _not_found()
        if problem.status != 422:
            raise
        return _page(  # the account's fields changed since: the answers no longer fit
            "forms/public_message.html",
            422,
            title="This subscription cannot be confirmed",
            message="The form has changed since you filled it in: please sign up again.",
        )
    return _confirmation_response(found, str(request.url.path))


def _confirmation_response(found: service.Confirmation, action: str) -> Response:
    row = found.submission
    return _page(
        "forms/confirm.html",
        state=found.state,
        action=action,
        form_name=row["form_name"],
        message=row["success_message"],
    )
