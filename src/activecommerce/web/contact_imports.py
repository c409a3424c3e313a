"""Contact imports in the console: upload a CSV, map its columns, then watch the
import's progress.

1. The upload (multipart) is copied to a temporary file on disk (never held in memory),
   named by a random token and the account and environment, and its header row read.
2. The mapping form names, for each column, one of the import's columns, one of the
   account's custom fields (`fields.<key>`) or "ignore" (filled in with
   `imports.mapping.suggest_all`'s guesses from the headers and the fields).
3. The file is streamed from disk into `imports.service.receive`, the API's own staging,
   with the mapping as the reader's columns (the header row itself is skipped); the
   temporary file is deleted; the import's job runs in the worker as for the API.
4. The progress page polls `GET /contacts/imports/{id}` with htmx every second.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.responses import Response

from activecommerce.contacts.bulk import CSV_COLUMNS
from activecommerce.fields.definitions import FieldDef, definitions
from activecommerce.imports import service
from activecommerce.imports.mapping import suggest_all
from activecommerce.imports.parsing import FIELD_PREFIX
from activecommerce.kit.problems import Problem
from activecommerce.kit.services import services
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.forms import FormErrors, checked, form_data, form_of

router = console_router()

# The upload's path: its body may be as large as an API import (app.BodyLimit).
UPLOAD_PATH = "/contacts/imports/upload"
UPLOADS = Path(tempfile.gettempdir()) / "activecommerce-uploads"
UPLOAD_TTL = 24 * 3600.0  # an upload never mapped is deleted after this
CHUNK = 64 * 1024
HEADER_BYTES = 64 * 1024  # the most of a file read to find its header row
TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")
IGNORE = "ignore"
TEMPLATE = "contacts/import.html"


def _path(ctx: Console, token: str) -> Path:
    if not TOKEN.match(token):
        raise Problem(404, "This upload is gone; upload the file again.")
    return UPLOADS / f"{ctx.account_id}-{ctx.env}-{token}.csv"


def _store(upload: UploadFile, target: Path) -> int:
    """Copy the spooled upload to `target` (in a thread: disk I/O); its size."""
    UPLOADS.mkdir(mode=0o700, exist_ok=True)
    cutoff = time.time() - UPLOAD_TTL
    for old in UPLOADS.glob("*.csv"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    size = 0
    upload.file.seek(0)
    with target.open("xb") as out:
        while chunk := upload.file.read(CHUNK):
            out.write(chunk)
            size += len(chunk)
    return size


def _header(target: Path) -> list[str]:
    with target.open("rb") as file:
        head = file.read(HEADER_BYTES)
    text = head.decode("utf-8-sig", errors="replace")
    for record in csv.reader(io.StringIO(text, newline="")):
        if any(cell.strip() for cell in record):
            return [cell.strip() for cell in record]
    return []


async def _chunks(target: Path) -> AsyncIterator[bytes]:
    file = await asyncio.to_thread(target.open, "rb")
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK):
            yield chunk
    finally:
        file.close()


@router.get("/contacts/imports/new")
async def new_import(ctx: ConsoleContext) -> Response:
    return page(ctx, TEMPLATE, step="upload", errors=FormErrors())


@router.post(UPLOAD_PATH)
async def upload(ctx: ConsoleContext) -> Response:
    form = await form_data(ctx.request)  # parsed once (by the CSRF check), spooled to disk
    file = form.get("file")
    update = checked(form, "update")
    if not isinstance(file, UploadFile) or not file.filename:
        errors = FormErrors({"file": "is required: choose a CSV file."}, "Choose a file.")
        return page(ctx, TEMPLATE, status=422, step="upload", errors=errors)
    token = secrets.token_urlsafe(16)
    target = _path(ctx, token)
    limit = services(ctx.request).settings.max_import_bytes
    size = await asyncio.to_thread(_store, file, target)
    header = await asyncio.to_thread(_header, target)
    problem = ""
    if size > limit:
        problem = f"The file is over the limit of {limit} bytes."
    elif not header:
        problem = "The file is empty: a CSV import starts with a header row naming its columns."
    if problem:
        target.unlink(missing_ok=True)
        errors = FormErrors({"file": problem}, problem)
        return page(ctx, TEMPLATE, status=422, step="upload", errors=errors)
    defs = await definitions(services(ctx.request).db, ctx.principal)
    return _mapping(
        ctx,
        token,
        header,
        [column or IGNORE for column in suggest_all(header, defs)],
        update,
        FormErrors(),
        defs,
    )


def _mapping(
    ctx: Console,
    token: str,
    header: list[str],
    chosen: list[str],
    update: bool,
    errors: FormErrors,
    defs: dict[str, FieldDef],
    status: int = 200,
) -> Response:
    return page(
        ctx,
        TEMPLATE,
        status=status,
        step="map",
        token=token,
        columns=list(zip(header, chosen, strict=True)),
        choices=[*CSV_COLUMNS, IGNORE],
        # The "Custom fields" group: (column, the field's name and key).
        field_choices=_field_choices(defs),
        update=update,
        errors=errors,
    )


def _field_choices(defs: dict[str, FieldDef]) -> list[tuple[str, str]]:
    return [(FIELD_PREFIX + key, f"{field.name} ({key})") for key, field in defs.items()]


@router.post("/contacts/imports/start")
async def start(ctx: ConsoleContext) -> Response:
    form = await form_of(ctx.request)
    token = form.get("token", "")
    target = _path(ctx, token)
    if not target.exists():
        return see_other(
            ctx, "/contacts/imports/new", "This upload is gone; upload the file again.", "error"
        )
    header = await asyncio.to_thread(_header, target)
    chosen = [form.get(f"column-{i}", IGNORE) for i in range(len(header))]
    update = checked(form, "update")
    columns = [None if name == IGNORE else name for name in chosen]
    state = services(ctx.request)
    defs = await definitions(state.db, ctx.principal)
    allowed = {*CSV_COLUMNS, *(FIELD_PREFIX + key for key in defs), None}
    try:
        if any(name not in allowed for name in columns):
            raise Problem(422, "Choose an import column or ignore for each column.")
        import_id, _job = await service.receive(
            state.db,
            ctx.principal,
            "csv",
            update,
            _chunks(target),
            limit=state.settings.max_import_bytes,
            columns=columns,
        )
    except Problem as problem:
        errors = FormErrors(message=problem.detail or problem.title)
        return _mapping(ctx, token, header, chosen, update, errors, defs, problem.status)
    await asyncio.to_thread(target.unlink, True)
    return see_other(ctx, f"/contacts/imports/{import_id}", "The import has started.")


@router.get("/contacts/imports/{import_id}")
async def progress(ctx: ConsoleContext, import_id: str) -> Response:
    found = await service.get(services(ctx.request).db, ctx.principal, import_id)
    return page(
        ctx,
        TEMPLATE,
        block="progress",
        step="progress",
        imp=found,
        done=found["status"] in ("completed", "failed"),
    )
