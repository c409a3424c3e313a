"""Timestamps as the database keeps them and the API returns them: RFC 3339 text in UTC
with a fixed width, so that text order is time order on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(FORMAT)


def now() -> str:
    return datetime.now(UTC).strftime(FORMAT)


def after(seconds: float) -> str:
    """The stamp `seconds` from now (negative: ago)."""
    return stamp(datetime.now(UTC) + timedelta(seconds=seconds))


def parse(text: str) -> datetime:
    return datetime.strptime(text, FORMAT).replace(tzinfo=UTC)
