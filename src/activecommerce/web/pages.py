"""What the console's pages share beyond the page shell (api/html.py): fragments for
htmx, cookies, and where a form may send the browser next."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from activecommerce.api.html import PAGE_HEADERS, templates
from activecommerce.kit.services import services


def render_block(name: str, block: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Only the block `block` of template `name` (a fragment for htmx to swap in)."""
    template = templates.get_template(name)
    html = "".join(template.blocks[block](template.new_context(context)))
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def secure_cookies(request: Request) -> bool:
    return (services(request).settings.public_url or "").startswith("https://")


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def safe_next(value: str | None, default: str = "/") -> str:
    """Only a path of this site (no scheme, no host, no `//`): never an open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(c in value for c in "\r\n\\") or len(value) > 4000:
        return default
    return value
