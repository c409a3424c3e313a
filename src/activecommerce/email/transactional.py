"""One-off emails that are not a campaign's or an automation's: a signup form's
confirmation. Composed like every email (the same MIME as `compose`), then captured (the
sandbox, or live without an SMTP relay: readable at `GET /v3/sandbox/emails`) or handed
to the relay through the sending worker's SMTP connections.

Such an email goes to whoever the caller names: the caller decides that the address may
get it (a confirmation is the only mail an `unconfirmed` or suppressed contact may get),
and nothing here reads the contact's status.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr
from urllib.parse import urlsplit

from activecommerce.email import repository
from activecommerce.email.compose import Composed, _header, _one_line, _part, text_of
from activecommerce.email.transport import SmtpPool
from activecommerce.kit.db import Connection
from activecommerce.kit.principal import Principal


@dataclass(frozen=True)
class OneOff:
    """What a one-off email says (its HTML already rendered)."""

    from_email: str
    from_name: str | None
    to: str
    subject: str
    html: str
    reference: str  # unique: the Message-ID's local part (e.g. "confirm-12")


def compose_one_off(mail: OneOff, *, env: str, public_url: str) -> Composed:
    """The message as bytes to send and as parts to capture (text derived from the
    HTML). CPU: about as much as one campaign message; large bodies belong off the loop."""
    text = text_of(mail.html)
    subject = _one_line(mail.subject)
    name = _one_line(mail.from_name or "")
    from_header = formataddr((name, mail.from_email), charset="utf-8") if name else mail.from_email
    host = urlsplit(public_url).hostname or "activecommerce.local"
    headers = {
        "From": from_header,
        "To": mail.to,
        "Subject": subject,
        "Date": format_datetime(datetime.now(UTC)),
        "Message-ID": f"<{mail.reference}.{env}@{host}>",
        "Auto-Submitted": "auto-generated",
        "MIME-Version": "1.0",
    }
    raw = b"".join(_header(key, value) for key, value in headers.items())
    boundary = f"=_ac_{mail.reference}_{secrets.token_hex(8)}"
    raw += f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode()
    for part in (_part("plain", text), _part("html", mail.html)):
        raw += f"--{boundary}\r\n".encode() + part + b"\r\n"
    raw += f"--{boundary}--\r\n".encode()
    return Composed(
        to=mail.to,
        from_header=from_header,
        subject=subject,
        html=mail.html,
        text=text,
        headers={k: v for k, v in headers.items() if k != "MIME-Version"},
        raw=raw,
    )


async def capture_one_off(
    conn: Connection, principal: Principal, contact_id: int | None, composed: Composed
) -> None:
    """Keep the message instead of sending it (the capture transport): a one-off email
    has no message row, campaign or automation."""
    one_off = {
        "account_id": principal.account_id,
        "env": principal.env,
        "id": None,
        "campaign_id": None,
        "automation_id": None,
        "contact_id": contact_id,
    }
    await repository.capture(conn, one_off, composed)


async def send_one_off(pool: SmtpPool, from_email: str, composed: Composed) -> None:
    """Hand the message to the relay (raises the transport's Temporary/PermanentFailure)."""
    async with pool.lease() as smtp:
        await smtp.send(from_email, composed.to, composed.raw)
