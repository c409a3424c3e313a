"""The console's home page: counts and recent activity."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from activecommerce.campaigns.service import count_sent_since
from activecommerce.contacts.service import count_all
from activecommerce.deals.service import totals_by_stage
from activecommerce.kit import events
from activecommerce.kit.clock import now
from activecommerce.kit.services import services
from activecommerce.web.console import ConsoleContext, console_router, page

router = console_router()

RECENT = 20


def _about(data: dict[str, Any]) -> str:
    """A few words naming what an event is about: its object's name, else email."""
    for source in (data, data.get("contact"), data.get("deal")):
        if not isinstance(source, dict):
            continue
        person = " ".join(str(source.get(k) or "") for k in ("firstName", "lastName")).strip()
        for value in (source.get("name"), person, source.get("email"), source.get("subject")):
            if isinstance(value, str) and value:
                return value
    return ""


@router.get("/")
async def home(ctx: ConsoleContext) -> Response:
    db = services(ctx.request).db
    principal = ctx.principal
    pipelines: dict[int, dict[str, Any]] = {}
    for row in await totals_by_stage(db, principal):
        pipeline = pipelines.setdefault(
            int(row["pipeline_id"]),
            {"name": row["pipeline"], "currency": row["currency"], "stages": []},
        )
        pipeline["stages"].append(
            {"name": row["stage"], "deals": int(row["deals"]), "value": int(row["value"])}
        )
    activity = []
    for row in await events.recent(db, principal, RECENT):
        data = orjson.loads(row["data"])
        activity.append({"type": row["type"], "at": row["created_at"], "about": _about(data)})
    return page(
        ctx,
        "home.html",
        contacts=await count_all(db, principal),
        pipelines=list(pipelines.values()),
        campaigns_sent=await count_sent_since(db, principal, now()[:7] + "-01T00:00:00.000000Z"),
        activity=activity,
    )
