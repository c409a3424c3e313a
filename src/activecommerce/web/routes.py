"""The console's routers, in one list (web/README.md: "How to add a console page")."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from activecommerce.web import (
    account,
    automations,
    campaigns,
    contact_imports,
    contacts,
    deals,
    home,
    inbox,
    keys,
    pipelines,
    users,
    webhooks,
)
from activecommerce.web.router import router as signin_router
from activecommerce.web.static_files import static_app

# A new page module adds its `router` (made by `console.console_router()`) here.
CONSOLE_ROUTERS: tuple[APIRouter, ...] = (
    home.router,
    account.router,
    users.router,
    contact_imports.router,
    contacts.router,
    deals.router,
    pipelines.router,
    webhooks.router,
    keys.router,
    campaigns.router,
    automations.router,
    inbox.router,
)


def install(app: FastAPI) -> None:
    """The sign-in pages, the console's pages and /static, on the app (after the API)."""
    app.include_router(signin_router)
    for router in CONSOLE_ROUTERS:
        app.include_router(router)
    app.mount("/static", static_app(), name="static")
