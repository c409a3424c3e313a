"""Standard Webhooks signature verification (https://www.standardwebhooks.com), by hand:
HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<body>` with the secret's base64 bytes
after `whsec_`, compared in constant time, the timestamp within a tolerance."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

DEFAULT_TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """The payload is not signed by this secret, or is too old or too new."""


def sign(secret: str, msg_id: str, timestamp: int, payload: bytes) -> str:
    """The `v1,<base64>` signature of a payload (what the server sends)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + payload
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a delivery's signature and return its event (`type`, `timestamp`, `data`).

    `payload` is the raw request body, exactly as received (before any JSON parsing);
    `headers` its headers (any case). Raises WebhookVerificationError."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    body = payload.encode() if isinstance(payload, str) else payload
    try:
        expected = sign(secret, msg_id, timestamp, body).encode()
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the secret is not a whsec_ base64 secret") from None
    # Several signatures may be sent (space-separated) while a secret is rotated.
    if not any(
        hmac.compare_digest(expected, candidate.encode())
        for candidate in signatures.split()
        if candidate.startswith("v1,")
    ):
        raise WebhookVerificationError("no signature matches")
    event: dict[str, Any] = json.loads(body)
    return event
