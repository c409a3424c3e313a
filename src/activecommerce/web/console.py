"""The console's frame: who is signed in and where they work, CSRF, flash messages,
partial rendering (its forms: web/forms.py). Every console page goes through here; the
conventions are written up in web/README.md."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from activecommerce.accounts.plans import has_live
from activecommerce.api.html import (
    PAGE_HEADERS,
    SESSION_COOKIE,
    error_page,
    read_form,
    render,
    sessions,
    signed_in,
)
from activecommerce.email.config import EmailConfig
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem
from activecommerce.kit.services import services
from activecommerce.users.service import Membership, SignedIn, may
from activecommerce.web.pages import render_block, safe_next, set_cookie

ENV_COOKIE = "ac_env"  # "<account id>:<live|sandbox>": where the console works
FLASH_COOKIE = "ac_flash"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ENVIRONMENTS = ("live", "sandbox")


class PageExit(Exception):
    """Raised anywhere in a console request to answer with `response` instead (a
    redirect to the sign-in page, a 403 page)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# ---------------------------------------------------------------- flash messages


@dataclass(frozen=True, slots=True)
class Flash:
    kind: str  # "success" | "error"
    text: str


def _flash_value(request: Request, flash: Flash) -> str:
    body = base64.urlsafe_b64encode(orjson.dumps([flash.kind, flash.text])).decode()
    return f"{body}.{sessions(request).mac(body)}"


def _read_flash(request: Request) -> Flash | None:
    value = request.cookies.get(FLASH_COOKIE)
    if not value or len(value) > 4000:
        return None
    body, _, mac = value.rpartition(".")
    if not secrets.compare_digest(sessions(request).mac(body), mac):
        return None
    try:
        kind, text = orjson.loads(base64.urlsafe_b64decode(body))
    except (ValueError, TypeError):
        return None
    return Flash("error" if kind == "error" else "success", str(text))


# ---------------------------------------------------------------- the context


@dataclass(frozen=True, slots=True)
class Console:
    """Who is working, in which account and environment: what every console page gets
    from `ConsoleContext`. `principal` is the API's kind (an API key's full access to one
    account and environment), so pages call the same services as the API."""

    request: Request
    user: SignedIn
    accounts: list[Membership]  # every account the user belongs to
    membership: Membership  # the one the console works in
    env: str  # "live" | "sandbox"
    csrf_token: str
    principal: Principal
    flashes: list[Flash] = field(default_factory=list)

    @property
    def account_id(self) -> int:
        return self.membership.account_id

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def is_owner(self) -> bool:
        return self.membership.role == "owner"

    @property
    def has_live(self) -> bool:
        return has_live(self.membership.plan)

    @property
    def sandbox(self) -> bool:
        return self.env == "sandbox"

    @property
    def live_mail_captured(self) -> bool:
        """Live, without an SMTP relay: mail is captured, not delivered (pages say so)."""
        return not self.sandbox and services(self.request).part(EmailConfig).captures(self.env)

    @property
    def htmx(self) -> bool:
        """An htmx request for a fragment (not a boosted whole page)."""
        return is_fragment(self.request)

    def may(self, what: str) -> bool:
        """Whether this role may manage `what` ("apiKeys", "webhooks", "users")."""
        return may(self.role, what)


def default_env(membership: Membership) -> str:
    """A production account opens in live, a developer account in the sandbox."""
    return "live" if has_live(membership.plan) else "sandbox"


def _env_of(request: Request, membership: Membership) -> str:
    account, _, env = (request.cookies.get(ENV_COOKIE) or "").partition(":")
    if account != str(membership.account_id) or env not in ENVIRONMENTS:
        return default_env(membership)
    if env == "live" and not has_live(membership.plan):
        return "sandbox"
    return env


def is_fragment(request: Request) -> bool:
    """An htmx request for a fragment (not a boosted whole page)."""
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-boosted") != "true"


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def signed_in_user(request: Request) -> tuple[SignedIn, list[Membership]]:
    """The signed-in user and their accounts; else off to the sign-in page."""
    user = await signed_in(request)
    if user is None:
        raise PageExit(RedirectResponse(f"/signin?next={quote(_here(request))}", 303))
    accounts = await sessions(request).memberships(user.user_id)
    if not accounts:
        raise PageExit(error_page(403, "No account", "You are not a member of any account."))
    return user, accounts


async def console_context(request: Request) -> Console:
    """The FastAPI dependency of every console page (use the `ConsoleContext` alias)."""
    user, accounts = await signed_in_user(request)
    chosen = next((m for m in accounts if m.account_id == user.account_id), None)
    if chosen is None:
        if len(accounts) > 1:  # with several accounts, the console asks which
            raise PageExit(RedirectResponse(f"/account?next={quote(_here(request))}", 303))
        chosen = accounts[0]
    env = _env_of(request, chosen)
    flash = _read_flash(request)
    ctx = Console(
        request=request,
        user=user,
        accounts=accounts,
        membership=chosen,
        env=env,
        csrf_token=sessions(request).csrf_token(request.cookies.get(SESSION_COOKIE) or ""),
        principal=Principal.acting_for(chosen.account_id, env, chosen.plan),
        flashes=[flash] if flash else [],
    )
    request.state.console = ctx  # for an error page with the console's navigation
    return ctx


ConsoleContext = Annotated[Console, Depends(console_context)]


def require_owner(ctx: Console, what: str = "users") -> None:
    """A 403 page for members on owner-only pages."""
    if not ctx.may(what):
        raise PageExit(
            page(
                ctx,
                "console_error.html",
                status=403,
                title="Owners only",
                message="Only an owner of this account can manage this.",
            )
        )


# ---------------------------------------------------------------- answering


def page(
    ctx: Console, template: str, *, status: int = 200, block: str | None = None, **values: Any
) -> Response:
    """A console page: `template` (which extends console.html) with `ctx` and `values`.
    With `block`, an htmx request gets only that block of the template (a fragment to
    swap in); a plain request always gets the whole page."""
    if block is not None and ctx.htmx:
        return render_block(template, block, status, ctx=ctx, **values)
    return render(template, status, ctx=ctx, nav=nav(ctx), **values)


def see_other(ctx: Console, url: str, flash: str | None = None, kind: str = "success") -> Response:
    """After a change: redirect (303) to `url`, with a flash message shown there once.
    An htmx request is told to load `url` as a whole page (HX-Redirect)."""
    target = safe_next(url, "/")
    response: Response
    if ctx.htmx:
        response = Response(status_code=204, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if flash:
        value = _flash_value(ctx.request, Flash(kind, flash))
        set_cookie(ctx.request, response, FLASH_COOKIE, value, 120)
    return response


# ---------------------------------------------------------------- CSRF and the routes


def _same_origin(request: Request) -> bool:
    """A browser's cross-site request is refused before its token is even read."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    netloc = urlsplit(origin).netloc
    allowed = {request.headers.get("host", "")}
    public = services(request).settings.public_url
    if public:
        allowed.add(urlsplit(public).netloc)
    return netloc in allowed


async def _sent_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await read_form(request)
    if form is not None:
        return form.get(CSRF_FIELD)
    kind = (request.headers.get("content-type") or "").lower()
    if kind.startswith("multipart/form-data"):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def csrf_protect(request: Request) -> None:
    """Every console router's dependency: a POST, PUT, PATCH or DELETE must come from this
    site and carry the session's CSRF token (form field `csrf_token` or header
    X-CSRF-Token, which htmx sends from <body hx-headers>)."""
    if request.method not in UNSAFE:
        return
    binding = request.cookies.get(SESSION_COOKIE)
    if not _same_origin(request) or not sessions(request).csrf_ok(
        binding, await _sent_token(request)
    ):
        raise PageExit(
            error_page(403, "Forbidden", "The form expired; reload the page and try again.")
        )


class ConsoleRoute(APIRoute):
    """The route class of every console router: answers a `PageExit` with its response,
    a service's `Problem` with an HTML error page (never problem+json), and puts the
    pages' security headers (CSP, no framing, no caching) on every answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except PageExit as exit_:
                response = exit_.response
            except Problem as problem:
                response = problem_page(request, problem)
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
            shown = response.status_code < 300 or response.status_code >= 400
            if FLASH_COOKIE in request.cookies and shown and not is_fragment(request):
                response.delete_cookie(FLASH_COOKIE, path="/")
            return response

        return run


def problem_page(request: Request, problem: Problem) -> Response:
    """A refusal (another account's contact: 404) as a page: in the console's layout, with
    its navigation, once the request is signed in; else a plain page."""
    ctx: Console | None = getattr(request.state, "console", None)
    if ctx is None:
        return error_page(problem.status, problem.title, problem.detail or "")
    return page(
        ctx,
        "console_error.html",
        status=problem.status,
        title=problem.title,
        message=problem.detail or problem.title,
    )


async def not_found_page(request: Request, status: int = 404) -> Response:
    """The page for a URL no route takes (404; 405 for a form's address opened as a
    page): with the console's navigation for a signed-in user, else a plain page with a
    link to sign in."""
    try:
        ctx = await console_context(request)
    except PageExit:
        ctx = None
    message = "There is no page at this address."
    if ctx is None:
        response: Response = render(
            "error.html", status, title="Page not found", message=message, signin=True
        )
    else:
        response = page(
            ctx, "console_error.html", status=status, title="Page not found", message=message
        )
    return response


def console_router() -> APIRouter:
    """The router a console page module makes: CSRF-checked, with `ConsoleRoute`."""
    return APIRouter(
        include_in_schema=False, route_class=ConsoleRoute, dependencies=[Depends(csrf_protect)]
    )


# ---------------------------------------------------------------- navigation


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    path: str
    sandbox_only: bool = False


# The console's sections; their pages are web/<domain>.py modules (web/routes.py).
NAV = (
    NavLink("Contacts", "/contacts"),
    NavLink("Segments", "/segments"),
    NavLink("Suppressions", "/suppressions"),
    NavLink("Forms", "/forms"),
    NavLink("Deals", "/deals"),
    NavLink("Campaigns", "/campaigns"),
    NavLink("Sending domains", "/sending-domains"),
    NavLink("Automations", "/automations"),
    NavLink("Webhooks", "/webhooks"),
    NavLink("API keys", "/keys"),
    NavLink("Sandbox inbox", "/inbox", sandbox_only=True),
)


def nav(ctx: Console) -> list[tuple[NavLink, bool]]:
    """The links this context shows, each with whether it is the current section."""
    path = ctx.request.url.path
    return [
        (link, path == link.path or path.startswith(link.path + "/"))
        for link in NAV
        if ctx.sandbox or not link.sandbox_only
    ]


def remember_env(request: Request, response: Response, account_id: int, env: str) -> None:
    set_cookie(request, response, ENV_COOKIE, f"{account_id}:{env}", 400 * 24 * 3600)
