"""The shell of every server-rendered page (OAuth's sign-in and consent pages, and the
console after them): Jinja2 templates (in web/templates), the headers every page carries
(CSP, no framing, no caching), who is signed in (the session cookie), CSRF, and reading a
form. OAuth's pages use it without depending on the console (web/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from activecommerce.kit.services import services
from activecommerce.kit.timezones import DEFAULT_ZONE, instant, rfc3339, shown
from activecommerce.users.service import Sessions, SignedIn

SESSION_COOKIE = "ac_session"
CSRF_COOKIE = "ac_csrf"  # before sign-in: what the sign-in form's token is bound to
MAX_FORM_BYTES = 64 * 1024

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "web" / "templates"),
    autoescape=select_autoescape(["html"]),
)


@pass_context
def local_time(context: Context, value: Any, style: str = "minutes") -> Markup:
    """`{{ row.createdAt|local_time }}`: an instant (RFC 3339 text or a datetime) in the
    signed-in user's time zone (`ctx.user.time_zone`, else UTC), in a <time> element whose
    `datetime` keeps the exact instant. `style`: "minutes" (default), "seconds", "date".
    The one way every console page (and report) shows a time."""
    if value is None or value == "":
        return Markup("—")
    ctx = context.get("ctx")
    zone = getattr(getattr(ctx, "user", None), "time_zone", None) or DEFAULT_ZONE
    moment = instant(value)
    if moment is None:
        return escape(str(value))
    return Markup('<time datetime="{}">{}</time>').format(
        rfc3339(moment), shown(moment, zone, style)
    )


templates.filters["local_time"] = local_time

# Pages are never framed (clickjacking of the consent page) nor cached, and run only
# this site's own scripts and styles (no inline ones: web/README.md).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " font-src 'self'; connect-src 'self'; frame-src 'self'; frame-ancestors 'none';"
    " form-action 'self'; base-uri 'none'; object-src 'none'"
)
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on
    # form posts, and the console checks the Origin (web/console.py)
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.?")


def form_target_source(uri: str) -> str | None:
    """A CSP source that matches `uri` and nothing wider than CSP can tell apart (the
    query is not part of a source; after a redirect browsers compare only the origin);
    None when CSP cannot express it. Never a source that could end the directive: `;` and
    `,` are percent-encoded, a host is letters, digits, dots and hyphens."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return None  # a source `com.example.app:` would match the whole scheme
    host = parts.hostname or ""
    if not _HOST.fullmatch(host):
        return None
    path = quote(parts.path, safe="/-._~!$&()*+=:@%")
    return f"{scheme}://{host}{'' if port is None else f':{port}'}{path}"


def allow_form_target(response: Response, uri: str | None) -> Response:
    """Let the forms of this page lead to `uri` as well as to this site. A browser applies
    `form-action` to the redirects that follow a submission too: the OAuth consent page
    names the one redirect URI its answer goes to."""
    source = form_target_source(uri) if uri else None
    if source is not None:
        response.headers["Content-Security-Policy"] = CSP.replace(
            "form-action 'self'", f"form-action 'self' {source}"
        )
    return response


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def error_page(status: int, title: str, message: str) -> HTMLResponse:
    return render("error.html", status, title=title, message=message)


def sessions(request: Request) -> Sessions:
    return services(request).part(Sessions)


async def signed_in(request: Request) -> SignedIn | None:
    return await sessions(request).current(request.cookies.get(SESSION_COOKIE))


def csrf_binding(request: Request) -> str | None:
    """What this browser's CSRF token is bound to: its session, else its CSRF cookie."""
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(CSRF_COOKIE)


async def read_form(request: Request) -> dict[str, str] | None:
    """An urlencoded form (the first value of each name); None if it is not one."""
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form
