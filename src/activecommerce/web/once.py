"""A secret shown once (a webhook's signing secret, a new API key): the page that makes
it redirects (POST, then GET) and the page it lands on shows it a single time. It travels
in a short-lived cookie, encrypted with the server's secret box, and the cookie is
cleared by the response that shows it: a reload shows it no more."""

from __future__ import annotations

import orjson
from cryptography.fernet import InvalidToken
from starlette.responses import Response

from activecommerce.kit.services import services
from activecommerce.web.console import Console
from activecommerce.web.pages import set_cookie

ONCE_COOKIE = "ac_once"
ONCE_SECONDS = 300


def keep(ctx: Console, response: Response, about: str, secret: str) -> Response:
    """Hand `secret` to the next page that asks for `about` (e.g. "webhook:12")."""
    sealed = services(ctx.request).box.seal(orjson.dumps([about, secret]).decode())
    set_cookie(ctx.request, response, ONCE_COOKIE, sealed, ONCE_SECONDS)
    return response


def take(ctx: Console, about: str) -> str | None:
    """The secret kept for `about`, if this browser holds one (then `forget` it)."""
    sealed = ctx.request.cookies.get(ONCE_COOKIE)
    if not sealed:
        return None
    try:
        kept, secret = orjson.loads(services(ctx.request).box.open(sealed))
    except (InvalidToken, ValueError, TypeError):
        return None
    return str(secret) if kept == about else None


def forget(response: Response) -> Response:
    response.delete_cookie(ONCE_COOKIE, path="/")
    return response
