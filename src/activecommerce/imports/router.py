"""HTTP for imports and the export (docs/guides/imports-exports.md). The import's body
is streamed: the app's body limit does not apply to IMPORTS_PATH (it has
ACTIVECOMMERCE_MAX_IMPORT_BYTES)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ConfigDict, create_model
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from activecommerce.api.routes import COMMON_ERRORS, json_response, list_model
from activecommerce.auth.deps import CurrentPrincipal
from activecommerce.contacts.export import export_csv
from activecommerce.contacts.service import contacts
from activecommerce.imports import service
from activecommerce.imports.schemas import ContactImportOut
from activecommerce.kit.fields import ascii_digits
from activecommerce.kit.pagination import Page, PageSize
from activecommerce.kit.problems import Problem, responses
from activecommerce.kit.services import services

IMPORTS_PATH = "/v3/contactImports"
MEDIA_TYPES = {"text/csv": "csv", "application/x-ndjson": "ndjson"}

router = APIRouter(tags=["Contact imports"])

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": (
            "CSV with a header row (columns email, firstName, lastName, phone, status, tags,"
            " groups; tags and groups are names separated by ';'), or NDJSON: one contact"
            " object per line (tags and groups as lists of names). Streamed; at most"
            " ACTIVECOMMERCE_MAX_IMPORT_BYTES."
        ),
        "content": {media: {"schema": {"type": "string"}} for media in MEDIA_TYPES},
    }
}


def _format(content_type: str | None) -> str:
    main, _, params = (content_type or "").partition(";")
    fmt = MEDIA_TYPES.get(main.strip().lower())
    charset = params.strip().lower().removeprefix("charset=").strip('"')
    if fmt is None or (params.strip() and charset not in ("utf-8", "utf8", "us-ascii")):
        raise Problem(415, "Send the contacts as text/csv or application/x-ndjson, in UTF-8.")
    return fmt


@router.post(
    IMPORTS_PATH,
    status_code=202,
    response_model=ContactImportOut,
    summary="Import contacts (CSV or NDJSON), processed in the background",
    operation_id="createContactImport",
    description="Streams a CSV (`text/csv`, a header row; `email` required) or NDJSON"
    " (`application/x-ndjson`) body into a new import and answers 202 with it; the rows are"
    " processed in the background (follow `GET /v3/contactImports/{id}`). `update=false`"
    " skips existing emails.",
    responses=responses(*COMMON_ERRORS, 413, 415, 422),
    openapi_extra=_BODY_DOC,
)
async def create_import(
    request: Request,
    principal: CurrentPrincipal,
    update: Annotated[
        bool, Query(description="false: rows whose email exists are skipped, not applied")
    ] = True,
) -> Response:
    fmt = _format(request.headers.get("content-type"))
    state = services(request)
    limit = state.settings.max_import_bytes
    length = request.headers.get("content-length")
    if length is not None and (not ascii_digits(length) or int(length) > limit):
        raise Problem(413, f"The body is over the limit of {limit} bytes.")
    try:
        import_id, _job = await service.receive(
            state.db, principal, fmt, update, request.stream(), limit=limit
        )
    except ClientDisconnect:  # nobody is left to answer; the import is marked failed
        return Response(status_code=400)
    created = await service.get(state.db, principal, str(import_id))
    return json_response(created, 202, {"Location": f"{IMPORTS_PATH}/{import_id}"})


@router.get(
    f"{IMPORTS_PATH}/{{id}}",
    response_model=ContactImportOut,
    summary="Get an import and its progress",
    operation_id="getContactImport",
    description="An import's status and counts (processed, created, updated, skipped,"
    " failed) and its first 100 row errors.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def get_import(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    return json_response(await service.get(services(request).db, principal, id))


@router.get(
    IMPORTS_PATH,
    response_model=list_model("ContactImport", ContactImportOut),
    summary="List imports, newest first",
    operation_id="listContactImports",
    description="This environment's imports, newest first.",
    responses=responses(*COMMON_ERRORS, 422),
)
async def list_imports(
    request: Request,
    principal: CurrentPrincipal,
    page: Annotated[Page, Query(description="Page number, from 1")] = 1,
    pageSize: Annotated[PageSize, Query(description="Items per page")] = 20,
) -> Response:
    result = await service.list_imports(services(request).db, principal, page, pageSize)
    return json_response(result)


# The contacts list's filters, without its paging and sorting.
_filters: dict[str, Any] = {f.name: (f.annotation | None, None) for f in contacts.filters}
ExportQuery: Any = create_model(
    "ContactExportQuery", __config__=ConfigDict(extra="ignore"), **_filters
)


class CsvResponse(StreamingResponse):
    media_type = "text/csv"


@router.get(
    "/v3/contacts/export",
    response_class=CsvResponse,
    summary="Export contacts as CSV (the import's columns), with the list's filters",
    operation_id="exportContacts",
    description="Streams the contacts (with the same filters as the list) as CSV in the"
    " import's columns: email, firstName, lastName, phone, status, tags, groups.",
    tags=["Contacts"],
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **responses(*COMMON_ERRORS, 422),
    },
)
async def export_contacts(
    request: Request,
    principal: CurrentPrincipal,
    query: Annotated[ExportQuery, Query()],
) -> Response:
    filters = query.model_dump()
    return CsvResponse(
        export_csv(services(request).db, principal, filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
    )
