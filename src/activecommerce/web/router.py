"""Sign-in and sign-out pages: HTML forms, outside the API's document."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from activecommerce.api.html import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    csrf_binding,
    error_page,
    read_form,
    render,
    sessions,
    signed_in,
)
from activecommerce.auth.deps import client_address_of
from activecommerce.kit.services import services
from activecommerce.users.passwords import Busy
from activecommerce.web.pages import safe_next, set_cookie
from activecommerce.web.static_files import STATIC_DIR

router = APIRouter(include_in_schema=False)

WRONG = "Wrong email or password."
FAILURE_WINDOW = 15 * 60


def _form_page(
    request: Request,
    *,
    status: int = 200,
    message: str = "",
    email: str = "",
    next_path: str = "/",
) -> Response:
    """The sign-in form, its CSRF token bound to a pre-session cookie (set if missing)."""
    binding = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        "signin.html",
        status,
        user=None,
        message=message,
        email=email,
        next=next_path,
        csrf_token=sessions(request).csrf_token(binding),
    )
    if request.cookies.get(CSRF_COOKIE) != binding:
        set_cookie(request, response, CSRF_COOKIE, binding, 24 * 3600)
    return response


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Where browsers look for the icon when a page names none (the pages name
    /static/favicon.svg and this one)."""
    return FileResponse(
        STATIC_DIR / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    asked = request.query_params.get("next")
    next_path = safe_next(asked)  # after signing in: where asked, else the console
    user = await signed_in(request)
    if user is not None:
        if asked:
            return RedirectResponse(next_path, status_code=303)
        binding = csrf_binding(request) or ""
        return render("signin.html", user=user, csrf_token=sessions(request).csrf_token(binding))
    return _form_page(request, next_path=next_path)


@router.post("/signin")
async def signin(request: Request) -> Response:
    built = services(request)
    settings = built.settings
    address = client_address_of(request)
    decision = await built.limiter.hit_budget("signin", settings.signin_rate, 60, address)
    response: Response
    if decision is not None and not decision.allowed:
        response = error_page(429, "Too many attempts", "Too many sign-in attempts; wait a minute.")
        response.headers["Retry-After"] = str(decision.retry_after)
        return response
    form = await read_form(request)
    if form is None:
        return error_page(400, "Bad request", "Send the sign-in form.")
    next_path = safe_next(form.get("next"))
    if not sessions(request).csrf_ok(request.cookies.get(CSRF_COOKIE), form.get("csrf_token")):
        return _form_page(
            request, status=403, message="The form expired; try again.", next_path=next_path
        )
    email, password = form.get("email", ""), form.get("password", "")
    key = email.lower()[:254]
    wait = await built.limiter.over_budget(
        "signin-email", settings.signin_failures_per_email, FAILURE_WINDOW, key
    )
    if wait:
        response = _form_page(
            request,
            status=429,
            message="Too many failed sign-ins for this email; try again later.",
            email=email,
            next_path=next_path,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        token = await sessions(request).sign_in(email, password)
    except Busy:
        response = error_page(503, "Busy", "Too many sign-ins at once; retry in a moment.")
        response.headers["Retry-After"] = "1"
        return response
    if token is None:
        await built.limiter.hit_budget(
            "signin-email", settings.signin_failures_per_email, FAILURE_WINDOW, key
        )
        return _form_page(request, status=401, message=WRONG, email=email, next_path=next_path)
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token, settings.session_seconds)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await read_form(request) or {}
    if not sessions(request).csrf_ok(csrf_binding(request), form.get("csrf_token")):
        return error_page(403, "Forbidden", "The form expired; reload the page and try again.")
    await sessions(request).sign_out(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
