"""The one way lists are paged (docs/guides/pagination.md): the `page`, `pageSize` and `cursor`
parameters, the offset a page means, the cursor's encoding, and the envelope
`{"data": [...], "meta": {...}}`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any, NotRequired, TypedDict

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


class Paging(TypedDict):
    """Which page of a list, in which order (`cursor`: after the row it names instead of
    by number)."""

    page: int
    page_size: int
    sort_by: str
    sort_order: str
    cursor: NotRequired[str | None]


class PageQuery(Paging):
    """A page of a collection's list and its filters (the list's query parameters by
    their API names; which ones apply is the collection's)."""

    filters: dict[str, Any]


class ListArgs(PageQuery, total=False):
    """A page query narrowed by a condition (a contact's tags): `base` with its
    `base_params`."""

    base: str | None
    base_params: Sequence[Any]


class PageMeta(TypedDict):
    """The meta of a list paged by number only."""

    page: int
    pageSize: int
    total: int
    totalPages: int


class CursorMeta(TypedDict):
    """The meta of a collection's list: `page` is None when the page was reached by
    cursor; `total` is exact only when `totalExact` is true."""

    page: int | None
    pageSize: int
    total: int
    totalPages: int
    totalExact: bool
    nextCursor: str | None


class Envelope(TypedDict):
    """A list paged by number: its items (already as JSON objects) and its meta."""

    data: list[Any]
    meta: PageMeta


class CursorEnvelope(TypedDict):
    """A collection's list: its serialized objects and its meta."""

    data: list[dict[str, Any]]
    meta: CursorMeta


def page_meta(page: int, page_size: int, total: int) -> PageMeta:
    """The meta of a list paged by number only (a webhook's deliveries, captured mail)."""
    return {
        "page": page,
        "pageSize": page_size,
        "total": total,
        "totalPages": (total + page_size - 1) // page_size,
    }


def cursor_meta(
    page: int | None, page_size: int, total: int, *, exact: bool, next_cursor: str | None
) -> CursorMeta:
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


def envelope(data: Sequence[Any], page: int, page_size: int, total: int) -> Envelope:
    return {"data": list(data), "meta": page_meta(page, page_size, total)}
