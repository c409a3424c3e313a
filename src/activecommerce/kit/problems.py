"""One error shape everywhere: RFC 9457 problem+json.

Every error the API returns is a `Problem` (or is turned into one by the handlers below),
so clients see one shape whether the router, the validation layer or a service refused.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from activecommerce.kit.db import (
    ConcurrentChange,
    DatabaseUnavailable,
    ForeignKeyViolation,
    UniqueViolation,
)

log = logging.getLogger("activecommerce")

PROBLEM_JSON = "application/problem+json"

# A body with 60,000 unknown keys must not get a 3.7 MB answer: list the first errors,
# each cut to a sane length (a field name is the client's own text).
MAX_FIELD_ERRORS = 50
MAX_ERROR_TEXT = 200

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class FieldError(BaseModel):
    field: str
    message: str


class ProblemDetails(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None


class Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail or TITLES.get(status, ""))
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.title = title or TITLES.get(status, "Error")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://activecommerce.dev/problems/{self.status}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body

    def response(self) -> Response:
        return Response(
            orjson.dumps(self.body()),
            status_code=self.status,
            media_type=PROBLEM_JSON,
            headers=self.headers,
        )


def not_found(what: str = "object") -> Problem:
    return Problem(404, f"No such {what}.")


def invalid(field: str, message: str) -> Problem:
    return Problem(
        422, "The request has invalid fields.", errors=[{"field": field, "message": message}]
    )


def conflict(detail: str) -> Problem:
    return Problem(409, detail)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc[1:]]
    # pydantic names union members after their type (e.g. "function-after[...]"), which
    # means nothing to a client: keep the path through the request only.
    cleaned = [p for p in parts if "[" not in p and "-" not in p] or parts
    return ".".join(cleaned) or str(loc[0])


def is_json_content_type(value: str | None) -> bool:
    if not value:
        return False
    main = value.split(";", 1)[0].strip().lower()
    return main == "application/json" or (
        main.startswith("application/") and main.endswith("+json")
    )


Gate = Callable[[Request], Awaitable[None]]
"""Authentication for a request that failed before its route authenticated it (raises a
Problem: 401, 429): given by the app to `install`, since kit knows no domain."""


async def _validation_handler(request: Request, exc: Exception, gate: Gate | None) -> Response:
    assert isinstance(exc, RequestValidationError)
    if gate is not None:
        try:
            await gate(request)
        except Problem as problem:
            return problem.response()
    errors = exc.errors()
    body_errors = [e for e in errors if e.get("loc", ("",))[0] == "body"]
    if body_errors and not is_json_content_type(request.headers.get("content-type")):
        return Problem(415, "Send the body as application/json.").response()
    if any(e.get("type") == "json_invalid" for e in body_errors):
        return Problem(400, "The body is not valid JSON.").response()
    if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
        return Problem(400, "A JSON body is required.").response()
    return _invalid_fields(errors).response()


def _invalid_fields(errors: Sequence[Any]) -> Problem:
    """The 422 for pydantic's errors, each `loc` starting with the part of the request."""
    fields: list[dict[str, str]] = []
    for e in errors[:MAX_FIELD_ERRORS]:
        message = str(e.get("msg", "invalid"))[:MAX_ERROR_TEXT]
        field = _field_name(tuple(e.get("loc", ())))[:MAX_ERROR_TEXT]
        fields.append({"field": field, "message": message})
    detail = "The request has invalid fields."
    if len(errors) > MAX_FIELD_ERRORS:
        detail += f" The first {MAX_FIELD_ERRORS} of {len(errors)} are listed."
    return Problem(422, detail, errors=fields)


def invalid_body(exc: ValidationError) -> Problem:
    """The same 422 as for a refused body, for a model validated after the request was
    read (a PATCH's fields merged with the object's)."""
    return _invalid_fields([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])


async def _problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def _http_handler(request: Request, exc: Exception, gate: Gate | None) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status in (404, 405) and gate is not None:
        # No route took the request, so no authentication counted it: count it here
        # (a Problem for a wrong key or an address over its budget).
        try:
            await gate(request)
        except Problem as problem:
            return problem.response()
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    if status == 404:
        detail = "No such resource."
    if status == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return Problem(status, detail, headers=headers).response()


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route offers for this path (Starlette names only the first)."""
    routes = request.app.router.routes
    return [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


async def _conflict_handler(request: Request, exc: Exception) -> Response:
    # A constraint refused a write that the rules had allowed: another request changed or
    # deleted a referenced object in between (two racing requests). Retrying is safe.
    return Problem(
        409, "The request conflicts with a concurrent change to a related object; retry it."
    ).response()


async def _concurrent_change_handler(request: Request, exc: Exception) -> Response:
    # PostgreSQL aborted the transaction for a concurrent one (deadlock, serialization
    # failure): nothing was written, and retrying is safe.
    return Problem(409, "The request conflicts with a concurrent change; retry it.").response()


def unavailable(exc: DatabaseUnavailable) -> Problem:
    return Problem(
        503,
        "The database is not answering; retry later.",
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _unavailable_handler(request: Request, exc: Exception) -> Response:
    # Logged once per outage by kit.db.Availability, not here once per request.
    assert isinstance(exc, DatabaseUnavailable)
    return unavailable(exc).response()


async def _unexpected_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Problem(500, "Something went wrong on our side.").response()


def install(
    app: FastAPI,
    *,
    authenticate_before_errors: Gate | None = None,
    count_unrouted: Gate | None = None,
) -> None:
    """The error handlers. `authenticate_before_errors` runs before a validation error is
    answered (401 and 429 come first); `count_unrouted` for requests no route matched."""

    async def validation(request: Request, exc: Exception) -> Response:
        return await _validation_handler(request, exc, authenticate_before_errors)

    async def http(request: Request, exc: Exception) -> Response:
        return await _http_handler(request, exc, count_unrouted)

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(Problem, _problem_handler)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(UniqueViolation, _conflict_handler)
    app.add_exception_handler(ForeignKeyViolation, _conflict_handler)
    app.add_exception_handler(ConcurrentChange, _concurrent_change_handler)
    app.add_exception_handler(DatabaseUnavailable, _unavailable_handler)
    app.add_exception_handler(Exception, _unexpected_handler)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error responses, all with the problem+json body."""
    return {
        status: {
            "description": TITLES.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
        for status in statuses
    }
