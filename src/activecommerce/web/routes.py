"""The console's routers, in one list (web/README.md: "How to add a console page")."""

from __future__ import annotations

import inspect

from fastapi import APIRouter, FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from activecommerce.web import (
    account,
    automations,
    brands,
    campaigns,
    contact_imports,
    contacts,
    deals,
    fields,
    home,
    inbox,
    keys,
    pipelines,
    privacy,
    segments,
    sending_domains,
    signup_forms,
    suppressions,
    tags_groups,
    users,
    webhooks,
)
from activecommerce.web.console import not_found_page
from activecommerce.web.router import router as signin_router
from activecommerce.web.static_files import static_app

# A new page module adds its `router` (made by `console.console_router()`) here.
CONSOLE_ROUTERS: tuple[APIRouter, ...] = (
    home.router,
    account.router,
    users.router,
    contact_imports.router,
    tags_groups.router,  # before contacts: /contacts/tags is no contact's page
    fields.router,  # before contacts: /contacts/fields is no contact's page
    privacy.router,  # a contact's personal data: its download and erasure
    contacts.router,
    segments.router,
    signup_forms.router,
    suppressions.router,
    deals.router,
    pipelines.router,
    webhooks.router,
    keys.router,
    brands.router,  # before campaigns: /campaigns/brands is no campaign's page
    campaigns.router,
    sending_domains.router,
    automations.router,
    inbox.router,
)


# What API clients call: an unknown URL here stays a problem+json 404.
API_PREFIXES = ("/v3/", "/oauth/token", "/oauth/revoke")


def wants_page(request: Request) -> bool:
    """Whether a request no route takes is a person's (an HTML 404 page) rather than an
    API client's (problem+json): any path outside the API's, unless the client asks
    for JSON and not HTML."""
    path = request.url.path
    if path == "/v3" or path.startswith(API_PREFIXES):
        return False
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept or "json" not in accept


def install(app: FastAPI) -> None:
    """The sign-in pages, the console's pages and /static, on the app (after the API);
    an HTML 404 page for a person's unknown URL."""
    app.include_router(signin_router)
    for router in CONSOLE_ROUTERS:
        app.include_router(router)
    app.mount("/static", static_app(), name="static")
    api_answer = app.exception_handlers[HTTPException]  # problems.install's

    async def unrouted(request: Request, exc: Exception) -> Response:
        answer = api_answer(request, exc)  # counted (rate limits) as before
        response: Response = await answer if inspect.isawaitable(answer) else answer
        if response.status_code in (404, 405) and wants_page(request):
            # 405: a form's address opened as a page (GET of a POST-only path).
            page = await not_found_page(request, response.status_code)
            if "allow" in response.headers:
                page.headers["Allow"] = response.headers["allow"]
            return page
        return response

    app.add_exception_handler(HTTPException, unrouted)
