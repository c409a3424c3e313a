from fastapi import Request
from starlette.responses import Response

from activecommerce.api.routes import COMMON_ERRORS, crud_router, json_response
from activecommerce.auth.deps import CurrentPrincipal
from activecommerce.automations import service
from activecommerce.automations.schemas import AutomationReportOut
from activecommerce.email.config import EmailConfig
from activecommerce.kit.problems import responses
from activecommerce.kit.services import services

router = crud_router(service.email_automations, "Email automations")


@router.get(
    "/{id}/report",
    response_model=AutomationReportOut,
    summary="An automation's counts: enrolled, sent, delivered, bounced, failed, opens, ...",
    operation_id="getEmailAutomationReport",
    description="How many contacts the automation enrolled, and the emails sent; what"
    " became of them (delivered, bounced: hardBounces and softBounces, failed, complaints,"
    " and the most frequent `reasons`); opens and clicks. `delivery` says whether the"
    " mail counted as sent was"
    " `captured` (not delivered: the sandbox, or live while no SMTP relay is configured)"
    " or went to the `smtp` relay.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def automation_report(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    found = services(request)
    return json_response(await service.report(found.db, principal, id, found.part(EmailConfig)))
