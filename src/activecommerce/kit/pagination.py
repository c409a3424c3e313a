"""The one way lists are paged (SPEC §2): the `page` and `pageSize` parameters, the
offset they mean, and the envelope `{"data": [...], "meta": {...}}`. A cursor (SPEC §10)
joins the parameters and `meta` here when it comes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

MAX_PAGE = 1_000_000_000
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


def _digits(value: Any) -> Any:
    # Query values arrive as text: only plain digits count ("1_0", "+1", "1.0" do not).
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a whole number written with digits only")
    return value


Page = Annotated[int, BeforeValidator(_digits), Field(ge=1, le=MAX_PAGE)]
PageSize = Annotated[int, BeforeValidator(_digits), Field(ge=1, le=MAX_PAGE_SIZE)]


def offset(page: int, page_size: int) -> int:
    return (page - 1) * page_size


def page_meta(page: int, page_size: int, total: int) -> dict[str, int]:
    return {
        "page": page,
        "pageSize": page_size,
        "total": total,
        "totalPages": (total + page_size - 1) // page_size,
    }


def envelope(data: Sequence[Any], page: int, page_size: int, total: int) -> dict[str, Any]:
    return {"data": list(data), "meta": page_meta(page, page_size, total)}
