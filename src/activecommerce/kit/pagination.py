"""The one way lists are paged (docs/guides/pagination.md): the `page`, `pageSize` and `cursor`
parameters, the offset a page means, the cursor's encoding, and the envelope
`{"data": [...], "meta": {...}}`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from pydantic import BeforeValidator, Field, StringConstraints

from activecommerce.kit.fields import ascii_digits

MAX_PAGE = 1_000_000_000
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


def _digits(value: Any) -> Any:
    # Query values arrive as text: only plain digits count ("1_0", "+1", "1.0" do not).
    if isinstance(value, str) and not ascii_digits(value):
        raise ValueError("must be a whole number written with digits only")
    return value


Page = Annotated[int, BeforeValidator(_digits), Field(ge=1, le=MAX_PAGE)]
PageSize = Annotated[int, BeforeValidator(_digits), Field(ge=1, le=MAX_PAGE_SIZE)]


def offset(page: int, page_size: int) -> int:
    return (page - 1) * page_size


Cursor = Annotated[str, StringConstraints(max_length=4096, pattern=r"^[A-Za-z0-9_-]+$")]


def encode_cursor(sort_by: str, sort_order: str, value: Any, last_id: int) -> str:
    """Where the next page starts: after the row (value, id) in this ordering. Opaque to
    clients; tampering with one only moves the caller within its own data."""
    raw = orjson.dumps([sort_by, sort_order, value, last_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(text: str) -> tuple[str, str, Any, int] | None:
    """(sortBy, sortOrder, value, id) of a cursor, or None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        sort_by, sort_order, value, last_id = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        return None
    if not isinstance(sort_by, str) or sort_order not in ("asc", "desc"):
        return None
    if not isinstance(last_id, int) or isinstance(last_id, bool):
        return None
    if (value is not None and not isinstance(value, str | int)) or isinstance(value, bool):
        return None
    return sort_by, sort_order, value, last_id


def page_meta(page: int, page_size: int, total: int) -> dict[str, Any]:
    """The meta of a list paged by number only (a webhook's deliveries, captured mail)."""
    return {
        "page": page,
        "pageSize": page_size,
        "total": total,
        "totalPages": (total + page_size - 1) // page_size,
    }


def cursor_meta(
    page: int | None, page_size: int, total: int, *, exact: bool, next_cursor: str | None
) -> dict[str, Any]:
    """The meta of a collection's list, which pages by cursor too. `page` is
    None when the page was reached by cursor."""
    return {
        "page": page,
        "pageSize": page_size,
        "total": total,
        "totalPages": (total + page_size - 1) // page_size,
        "totalExact": exact,
        "nextCursor": next_cursor,
    }


def envelope(data: Sequence[Any], page: int, page_size: int, total: int) -> dict[str, Any]:
    return {"data": list(data), "meta": page_meta(page, page_size, total)}
