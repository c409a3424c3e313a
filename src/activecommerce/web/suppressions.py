"""The suppression list's page: search by address, filter by reason, add and remove
manual entries (the API's own rules: `consent.service`), a page at a time."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from activecommerce.consent import service as consent
from activecommerce.consent.schemas import SuppressionIn
from activecommerce.kit.pagination import CursorEnvelope
from activecommerce.kit.problems import Problem, invalid_body
from activecommerce.kit.services import services
from activecommerce.web import resources
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.forms import FormErrors, form_of

router = console_router()

REASONS = [("", "Any reason"), *((r, r.capitalize()) for r in consent.REASONS)]


async def _list(
    ctx: Console, *, status: int = 200, errors: FormErrors | None = None, form: Any = None
) -> Response:
    params = ctx.request.query_params
    q = (params.get("q") or "").strip()
    reason = params.get("reason") or ""
    after = params.get("after") or None
    filters: dict[str, Any] = {}
    if q:
        filters["email"] = q
    if reason in consent.REASONS:
        filters["reason"] = reason

    async def page_after(cursor: str | None) -> CursorEnvelope:
        return await consent.list_suppressions(
            services(ctx.request).db,
            ctx.principal,
            filters,
            page=1,
            page_size=resources.PAGE_SIZE,
            sort_by="createdAt",
            sort_order="desc",
            cursor=cursor,
        )

    try:
        listed = await page_after(after)
    except Problem:  # a cursor that is not one of ours: the first page
        listed = await page_after(None)
    kept = {k: v for k, v in (("q", q), ("reason", reason)) if v}
    next_cursor = listed["meta"]["nextCursor"]
    return page(
        ctx,
        "suppressions/list.html",
        block="results" if ctx.htmx and form is None else None,
        status=status,
        rows=listed["data"],
        total=listed["meta"]["total"],
        q=q,
        reason=reason,
        reasons=REASONS,
        next_url=f"/suppressions?{urlencode({**kept, 'after': next_cursor})}"
        if next_cursor
        else None,
        first_url=f"/suppressions?{urlencode(kept)}" if after else None,
        errors=errors or FormErrors(),
        form=form or {},
    )


@router.get("/suppressions")
async def suppression_list(ctx: ConsoleContext) -> Response:
    return await _list(ctx)


@router.post("/suppressions")
async def add_suppression(ctx: ConsoleContext) -> Response:
    form = await form_of(ctx.request)
    try:
        try:
            body = SuppressionIn.model_validate({"email": (form.get("email") or "").strip()})
        except ValueError as exc:
            raise invalid_body(exc) from None  # type: ignore[arg-type]
        async with services(ctx.request).db.transaction() as conn:
            with consent.writing_from("console"):
                entry, new = await consent.add_manual(conn, ctx.principal, body.email)
    except Problem as problem:
        return await _list(ctx, status=problem.status, errors=FormErrors.of(problem), form=form)
    if new:
        return see_other(ctx, "/suppressions", f"{entry['email']} added to the suppression list.")
    return see_other(
        ctx, "/suppressions", f"{entry['email']} is already on the list ({entry['reason']})."
    )


@router.post("/suppressions/{suppression_id}/delete")
async def remove_suppression(ctx: ConsoleContext, suppression_id: str) -> Response:
    try:
        async with services(ctx.request).db.transaction() as conn:
            await consent.remove_manual(conn, ctx.principal, suppression_id)
    except Problem as problem:
        if problem.status == 404:
            raise
        return await _list(ctx, status=problem.status, errors=FormErrors.of(problem), form={})
    return see_other(ctx, "/suppressions", "Entry removed: the address may be mailed again.")
