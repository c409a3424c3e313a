from typing import Any

from fastapi import Request
from starlette.responses import Response

from activecommerce.api.routes import (
    COMMON_ERRORS,
    JSON_BODY,
    IdempotencyKey,
    crud_router,
    idempotent_post,
    json_response,
)
from activecommerce.auth.deps import CurrentPrincipal
from activecommerce.campaigns import sending, state
from activecommerce.campaigns.schemas import (
    AudienceCountIn,
    AudienceCountOut,
    CampaignReportOut,
    CampaignSendIn,
    CampaignTestIn,
    EmailCampaignOut,
    TestSentOut,
)
from activecommerce.campaigns.service import email_campaigns
from activecommerce.email.config import EmailConfig
from activecommerce.kit.db import Connection
from activecommerce.kit.problems import responses
from activecommerce.kit.services import services

router = crud_router(email_campaigns, "Email campaigns")

Work = tuple[int, dict[str, Any], str | None]


@router.post(
    "/{id}/send",
    dependencies=JSON_BODY,
    status_code=202,
    response_model=EmailCampaignOut,
    summary="Send a campaign now or at scheduledAt",
    operation_id="sendEmailCampaign",
    description="Sends a draft campaign to every active contact of the audience, once each,"
    ' now or at `scheduledAt` (202 with the campaign). The audience is `{"all": true}`'
    " (every active contact) or any of `groupIds`, `tagIds` and `segmentIds` (their union),"
    " less the contacts in any of `exclude`'s groups, tags and segments; `all` with groups,"
    " tags or segments is a 422, and so is an id the account does not have (naming it:"
    " `audience.groupIds.0`). The recipients are fixed when sending starts: contacts created"
    " or matching later are not added, and one that is no longer active when its email goes"
    " gets nothing. A campaign that is not a draft: 409. A live campaign needs a postal"
    " address, its brand's or the account's default (`PATCH /v3/account`): 422 without.",
    responses=responses(*COMMON_ERRORS, 400, 404, 409, 413, 415, 422),
)
async def send_campaign(
    id: str,
    body: CampaignSendIn,
    request: Request,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(conn: Connection) -> Work:
        return 202, await sending.send(conn, principal, id, body), None

    return await idempotent_post(request, principal, idempotency_key, body, work)


@router.post(
    "/{id}/audienceCount",
    dependencies=JSON_BODY,
    response_model=AudienceCountOut,
    summary="How many active contacts an audience reaches now",
    operation_id="countEmailCampaignAudience",
    description="The number of active contacts the audience (as `send` takes it) reaches"
    " now, exactly; nothing is saved. 422s as `send`'s.",
    responses=responses(*COMMON_ERRORS, 400, 404, 413, 415, 422),
)
async def audience_count(
    id: str, body: AudienceCountIn, request: Request, principal: CurrentPrincipal
) -> Response:
    db = services(request).db
    return json_response(await sending.audience_count(db, principal, id, body))


@router.post(
    "/{id}/cancel",
    response_model=EmailCampaignOut,
    summary="Cancel a scheduled or sending campaign: nothing more goes out",
    operation_id="cancelEmailCampaign",
    description="Cancels a scheduled or sending campaign: nothing more goes out. Another"
    " status: 409.",
    responses=responses(*COMMON_ERRORS, 404, 409),
)
async def cancel_campaign(
    id: str, request: Request, principal: CurrentPrincipal, idempotency_key: IdempotencyKey = None
) -> Response:
    async def work(conn: Connection) -> Work:
        return 200, await state.cancel(conn, principal, id), None

    return await idempotent_post(request, principal, idempotency_key, None, work)


@router.post(
    "/{id}/resume",
    response_model=EmailCampaignOut,
    summary="Resume a paused campaign: what was left queued goes out",
    operation_id="resumeEmailCampaign",
    description="A campaign is paused when the relay refuses the sender or the connection"
    " (the report's `pausedReason`). Once that is put right, resuming sets it sending"
    " again and its messages still queued go out, each once. Another status: 409; a live"
    " campaign without a postal address (its brand's or the account's): 422.",
    responses=responses(*COMMON_ERRORS, 404, 409, 422),
)
async def resume_campaign(
    id: str, request: Request, principal: CurrentPrincipal, idempotency_key: IdempotencyKey = None
) -> Response:
    async def work(conn: Connection) -> Work:
        return 200, await state.resume(conn, principal, id), None

    return await idempotent_post(request, principal, idempotency_key, None, work)


@router.post(
    "/{id}/test",
    dependencies=JSON_BODY,
    status_code=202,
    response_model=TestSentOut,
    summary="Send a test copy to up to 10 addresses",
    operation_id="testEmailCampaign",
    description="Sends a test copy now to up to 10 addresses, rendered for the first matching"
    " contact or with empty fields. An address on the suppression list is a 409 (nothing is"
    " sent).",
    responses=responses(*COMMON_ERRORS, 400, 404, 409, 413, 415, 422),
)
async def send_test_copy(
    id: str,
    body: CampaignTestIn,
    request: Request,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(conn: Connection) -> Work:
        return 202, await sending.send_test(conn, principal, id, body), None

    return await idempotent_post(request, principal, idempotency_key, body, work)


@router.get(
    "/{id}/report",
    response_model=CampaignReportOut,
    summary="A campaign's counts: recipients, sent, failed, opens, clicks, ...",
    operation_id="getEmailCampaignReport",
    description="The campaign's counts: recipients (the active contacts targeted), sent;"
    " what became of them: delivered, bounced (hardBounces, softBounces), failed,"
    " complaints, and `reasons` (the most frequent reasons of bounces and failures);"
    " opens, unique opens, clicks, unique clicks, unsubscribes; and"
    " `delivery`: `captured` when the mail counted as sent was captured, not delivered"
    " (the sandbox, or live while no SMTP relay is configured), `smtp` when it went to"
    " the relay.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def campaign_report(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    found = services(request)
    return json_response(await sending.report(found.db, principal, id, found.part(EmailConfig)))
