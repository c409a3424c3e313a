"""The segments' own queries: a segment's tree, and the segments whose stored tree
mentions something (a prefilter on the JSON text)."""

from __future__ import annotations

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
