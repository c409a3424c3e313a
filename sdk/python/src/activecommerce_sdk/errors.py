"""Typed exceptions carrying the API's problem details (RFC 9457)."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """Any answer of 400 or above. `problem` is the problem+json body (or an OAuth error
    body, or {} when the body was not JSON); `errors` the field errors of a validation
    failure, `[{"field": ..., "message": ...}]`."""

    def __init__(self, response: httpx.Response, problem: dict[str, Any]) -> None:
        self.response = response
        self.status: int = response.status_code
        self.problem = problem
        self.type: str | None = problem.get("type")
        self.title: str = problem.get("title") or response.reason_phrase
        self.detail: str | None = problem.get("detail") or problem.get("error_description")
        self.errors: list[dict[str, str]] = list(problem.get("errors") or [])
        super().__init__(f"{self.status} {self.title}: {self.detail or ''}".rstrip(": "))


class BadRequest(ApiError):
    """400: the request could not be read (malformed JSON, a bad OAuth request)."""


class AuthenticationFailed(ApiError):
    """401: missing, unknown, revoked or expired credentials."""


class PermissionDenied(ApiError):
    """403: an OAuth token without the needed scope, or the wrong environment."""


class NotFound(ApiError):
    """404: no such object in this account and environment."""


class Conflict(ApiError):
    """409: a unique value taken, or a state that forbids the change."""


class ValidationFailed(ApiError):
    """422: `errors` names the fields and what is wrong with each."""


class RateLimited(ApiError):
    """429 after the retries allowed: `retry_after` is the server's wait in seconds."""

    def __init__(self, response: httpx.Response, problem: dict[str, Any]) -> None:
        super().__init__(response, problem)
        self.retry_after: float | None = retry_after(response)


class ServerError(ApiError):
    """500 and above (503 after the retries allowed)."""


BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: ValidationFailed,
    429: RateLimited,
}


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (the API sends whole seconds), None when absent or a date."""
    value = response.headers.get("retry-after", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def error_for(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    problem = body if isinstance(body, dict) else {}
    status = response.status_code
    kind = BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return kind(response, problem)
