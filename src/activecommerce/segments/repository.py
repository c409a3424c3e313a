"""The segments' own queries: a segment's tree, and the segments whose stored tree
mentions something (a prefilter on the JSON text)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped


async def conditions_of(
    db: Connection | Database, principal: Principal, segment_id: int
) -> str | None:
    """The stored tree (JSON text) of the caller's segment, or None when it has none
    such."""
    row = await Scoped(db, principal).fetchone(
        "SELECT conditions FROM segments WHERE @tenant AND id = ?", [segment_id]
    )
    return None if row is None else str(row["conditions"])


async def conditions_by_id(
    db: Connection | Database, principal: Principal, segment_ids: Sequence[int]
) -> dict[int, str]:
    """The stored trees (JSON text) of the caller's segments among `segment_ids`, by id
    (another account's, or a deleted one, is missing)."""
    if not segment_ids:
        return {}
    marks = ", ".join("?" for _ in segment_ids)
    rows = await Scoped(db, principal).fetchall(
        f"SELECT id, conditions FROM segments WHERE @tenant AND id IN ({marks})",
        list(segment_ids),
    )
    return {int(row["id"]): str(row["conditions"]) for row in rows}


async def mentioning(scoped: Scoped, fragments: list[str]) -> list[Row]:
    """The segments whose stored tree contains every one of `fragments` (exact text of
    the compact JSON it is stored as), by id."""
    where = " AND ".join("conditions LIKE ? ESCAPE '\\'" for _ in fragments)
    params: list[Any] = [f"%{_escaped(fragment)}%" for fragment in fragments]
    return await scoped.fetchall(
        f"SELECT id, name, conditions FROM segments WHERE @tenant AND {where} ORDER BY id",
        params,
    )


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
