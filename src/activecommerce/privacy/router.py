"""A contact's personal data over HTTP: its export and its erasure."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from activecommerce.api.routes import COMMON_ERRORS, json_response
from activecommerce.auth.deps import CurrentPrincipal
from activecommerce.kit.problems import responses
from activecommerce.kit.services import services
from activecommerce.privacy import service
from activecommerce.privacy.schemas import DataExportOut, ErasureOut

router = APIRouter(prefix="/v3/contacts", tags=["Contacts"])


@router.get(
    "/{id}/dataExport",
    response_model=DataExportOut,
    summary="Export everything held about a contact",
    operation_id="exportContactData",
    description="One JSON document with all that is held about the person (a data subject"
    " access request): the contact with its custom fields by key, its groups and tags, its"
    " consent records, deals, the emails sent to it with their opens and clicks, its"
    " activity and its form submissions. Each list holds at most 5,000 entries, the"
    " oldest first; `truncated` says whether one was cut.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def export_contact_data(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    document = await service.export(services(request).db, principal, id)
    return json_response(document)


@router.post(
    "/{id}/erase",
    status_code=202,
    response_model=ErasureOut,
    summary="Erase a contact and every personal trace of it",
    operation_id="eraseContact",
    description="Deletes the contact at once and, within seconds, every trace of the person"
    " (captured mail, event payloads, activity, tracking, form submissions). Only a keyed"
    " hash of the address is kept on the suppression list, so that it is never mailed"
    " again. Fires `contact.erased` with the id only. Answers 202.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def erase_contact(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    erased = await service.erase(services(request).db, principal, id)
    return json_response({"id": str(erased), "status": "erasing"}, 202)
