"""Assertions shared by the tests."""

from __future__ import annotations

from typing import Any

import httpx


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem with this status, and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["type"]
    return body


def field_errors(response: httpx.Response) -> set[str]:
    return {e["field"] for e in problem(response, 422)["errors"]}
