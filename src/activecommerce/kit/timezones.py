"""Times shown to a person: an instant (RFC 3339 text in UTC, as stored and as the API
returns it, or a datetime) in their IANA time zone (users.time_zone, default UTC). The
console's `local_time` filter (api/html.py) is made of these; reports use them too."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DEFAULT_ZONE = "UTC"
MAX_ZONE_LENGTH = 64


@lru_cache(maxsize=256)
def zone_of(name: str) -> ZoneInfo | None:
    """The zone of this IANA name (e.g. "Europe/Paris"), or None if it names none."""
    if not name or len(name) > MAX_ZONE_LENGTH or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name this system knows, sorted (what a person may choose)."""
    return tuple(sorted(available_timezones() | {DEFAULT_ZONE}))


def instant(value: str | datetime) -> datetime | None:
    """The aware instant of an RFC 3339 text or a datetime (a naive one is UTC); None for
    text that is not a time."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def in_zone(value: str | datetime, zone_name: str) -> datetime | None:
    """The instant as a wall-clock time in the zone named (UTC if it names none); in its
    own offset when that time is outside the years 1-9999 (9999-12-31T23:00Z east of UTC)."""
    moment = instant(value)
    if moment is None:
        return None
    try:
        return moment.astimezone(zone_of(zone_name) or UTC)
    except OverflowError:
        return moment


STYLES = {"date": "%Y-%m-%d", "minutes": "%Y-%m-%d %H:%M", "seconds": "%Y-%m-%d %H:%M:%S"}


def shown(value: str | datetime, zone_name: str, style: str = "minutes") -> str | None:
    """How a person reads the instant in their zone: "2026-12-07 14:05 CET" (`style`
    "minutes", "seconds", or "date" without the zone); None for text that is no time."""
    moment = in_zone(value, zone_name)
    if moment is None:
        return None
    text = moment.strftime(STYLES.get(style, STYLES["minutes"]))
    return text if style == "date" else f"{text} {moment.tzname()}"


def wall_clock(value: str, zone_name: str) -> datetime:
    """A date and time without a zone (an <input type="datetime-local">) read in the zone
    named (UTC if it names none); ValueError if it is not one."""
    return datetime.fromisoformat(value).replace(tzinfo=zone_of(zone_name) or UTC)


def rfc3339(moment: datetime) -> str:
    """The exact instant, in UTC (what a <time datetime="..."> carries)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
