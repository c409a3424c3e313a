"""A contact's personal data in the console: download everything held about the person
(the API's dataExport, as a JSON file) and erase it, behind a confirmation that names
the address. The contact's page shows both through its own partial
(templates/privacy/_contact_actions.html)."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from activecommerce.contacts.service import contacts
from activecommerce.kit.services import services
from activecommerce.privacy import service
from activecommerce.web import resources
from activecommerce.web.console import ConsoleContext, console_router, page, see_other

router = console_router()


@router.get("/contacts/{contact_id:int}/personal-data")
async def download(ctx: ConsoleContext, contact_id: int) -> Response:
    document = await service.export(services(ctx.request).db, ctx.principal, str(contact_id))
    return Response(
        orjson.dumps(document, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="contact-{contact_id}-data.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/contacts/{contact_id:int}/erase")
async def confirm_erase(ctx: ConsoleContext, contact_id: int) -> Response:
    contact = await resources.one(ctx, contacts, str(contact_id))
    return page(ctx, "privacy/erase.html", contact=contact)


@router.post("/contacts/{contact_id:int}/erase")
async def erase(ctx: ConsoleContext, contact_id: int) -> Response:
    await service.erase(services(ctx.request).db, ctx.principal, str(contact_id))
    return see_other(
        ctx, "/contacts", "Contact erased: its personal data is being removed everywhere."
    )
