import ipaddress
import re
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from activecommerce.kit.fields import Input, LongText, Output
from activecommerce.webhooks.events import EVENT_TYPES


def _event(value: str) -> str:
    if value != "*" and value not in EVENT_TYPES:
        raise ValueError(f"unknown event type {value!r}")
    return value


def _url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL with a host")
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValueError("must not contain spaces or control characters")
    reason = _host_problem(parts.hostname)
    if reason:
        raise ValueError(f"has a bad host: {reason}")
    return value


_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?")


def _host_problem(host: str) -> str | None:
    """Why the URL's host cannot be a host name or an IP literal, if it cannot."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host  # "example.com." is absolute
    if not name:
        return "it is empty"
    try:
        encoded = name.encode("idna").decode("ascii")
    except UnicodeError:
        return "it is not a valid (IDNA) host name: labels must be 1 to 63 characters"
    if len(encoded) > 253:
        return "it is longer than 253 characters"
    for label in encoded.split("."):
        if not 1 <= len(label) <= 63:
            return "a label must be 1 to 63 characters"
        if not _LABEL.fullmatch(label.lower()):
            return f"the label {label!r} has a bad character or starts or ends with '-'"
    return None


EventType = Annotated[str, Field(max_length=64), AfterValidator(_event)]
WebhookUrl = Annotated[str, Field(min_length=8, max_length=2048), AfterValidator(_url)]


class WebhookIn(Input):
    url: WebhookUrl
    events: Annotated[list[EventType], Field(min_length=1, max_length=100)]
    description: LongText | None = None
    active: Annotated[bool, Field(strict=True)] = True


class WebhookOut(Output):
    id: str
    url: str
    events: list[str]
    description: str | None
    active: bool
    disabledReason: str | None = Field(description="Why the webhook was turned off, if it was")
    consecutiveFailures: int
    failingSince: datetime | None = Field(
        description="When the current streak of failed deliveries began (null: none)"
    )
    createdAt: datetime
    updatedAt: datetime


class WebhookWithSecret(WebhookOut):
    secret: str | None = Field(
        description="The signing secret (whsec_...), shown only here: null when this "
        "response is an idempotent replay (Idempotent-Replayed: true)"
    )


EventId = Annotated[
    str, Field(description="The event's id: its deliveries' webhook-id header (evt_...)")
]


class DeliveryOut(Output):
    id: str
    eventId: EventId
    eventType: str
    attempt: int
    statusCode: int | None
    durationMs: int
    error: str | None
    outcome: Literal["delivered", "failed", "skipped"] = Field(
        description="delivered (2xx), failed, or skipped (the webhook was off; retry by hand)"
    )
    createdAt: datetime


class RetryOut(Output):
    webhookId: str
    eventId: EventId
    status: str
