"""What the sending services' delivery reports say, as our `Report`s: which of our
messages (by its Message-ID, `<id.env@host>`, or the copy of it we asked the service to
echo back) and what happened to it. Pure functions of payloads already authenticated
(`signatures`); what a report changes is `service.receive`'s.

A report that names no message of ours (another system's mail through the same service
account, another host's Message-ID) or says nothing we act on (an open, a deferral)
gives no `Report`: the webhook still answers 200, since services retry anything else.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from activecommerce.deliverability.verp import Verp
from activecommerce.deliverability.verp import parse as parse_return_path
from activecommerce.email.compose import RELAY_TAG

from .service import Kind, Report, Source, kind_of

# Our Message-ID, brackets optional: the message's id (at most 18 digits: a bigint), its
# environment, our public host.
_MESSAGE_ID = re.compile(r"\s*<?([0-9]{1,18})\.([a-z]{1,16})@([^<>@\s]{1,253})>?\s*")
# An enhanced status code inside a diagnostic ("smtp; 550 5.1.1 <a@b>: user unknown").
_STATUS_IN_TEXT = re.compile(r"(?<![0-9.])([245]\.[0-9]{1,3}\.[0-9]{1,3})(?![0-9.])")


def message_of(reference: object, host: str) -> tuple[int, str] | None:
    """The (message id, environment) a Message-ID names, when it is ours."""
    if not isinstance(reference, str):
        return None
    match = _MESSAGE_ID.fullmatch(reference)
    if match is None or match[3].lower() != host.lower():
        return None
    return int(match[1]), match[2]


def status_in(text: object) -> str | None:
    """The enhanced status code (RFC 3463) in a status or diagnostic text, if any."""
    if not isinstance(text, str):
        return None
    match = _STATUS_IN_TEXT.search(text)
    return None if match is None else match[1]


def _failure(status: str | None, *, permanent: bool) -> Kind:
    """A failure's kind by its status code (a success code in a failure report does not
    make it a delivery)."""
    kind = kind_of(status, permanent=permanent)
    if kind == "delivered":
        return "policy" if permanent else "soft"
    return kind


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _report(
    ref: tuple[int, str], kind: Kind, source: Source, status: str | None, reason: str | None
) -> Report:
    return Report(ref[0], kind, source, status_code=status, reason=reason, env=ref[1])


# ------------------------------------------------------------------ Amazon SES


def _ses_message(mail: dict[str, Any], host: str, verp: Verp | None) -> tuple[int, str] | None:
    # commonHeaders.messageId is the Message-ID header the message was sent with (SES's
    # own id is mail.messageId); mail.headers has it too when "include original headers"
    # is on.
    ref = message_of(_dict(mail.get("commonHeaders")).get("messageId"), host)
    if ref is not None:
        return ref
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        header = _dict(header)
        if str(header.get("name", "")).lower() == "message-id":
            return message_of(header.get("value"), host)
    # The envelope sender the message was sent with: our signed return path, when a
    # bounce domain is set.
    source = mail.get("source")
    if verp is not None and isinstance(source, str):
        return parse_return_path(verp, source)
    return None


# SES's permanent bounces that name the mailbox as gone even without a status code: it
# does not exist, or SES keeps it suppressed after an earlier hard bounce.
_SES_GONE = frozenset({"NoEmail", "Suppressed", "OnAccountSuppressionList"})


def ses_reports(message: str, host: str, verp: Verp | None = None) -> list[Report]:
    """The report in an SES notification (an SNS Notification's Message): Bounce,
    Complaint or Delivery, from a notification topic or a configuration set's events."""
    try:
        notification = _dict(orjson.loads(message))
    except orjson.JSONDecodeError:
        return []
    kind = notification.get("notificationType") or notification.get("eventType")
    ref = _ses_message(_dict(notification.get("mail")), host, verp)
    if ref is None:
        return []
    if kind == "Bounce":
        bounce = _dict(notification.get("bounce"))
        bounce_type, subtype = bounce.get("bounceType"), bounce.get("bounceSubType")
        recipients = bounce.get("bouncedRecipients")
        first = _dict(recipients[0]) if isinstance(recipients, list) and recipients else {}
        diagnostic = _text(first.get("diagnosticCode"))
        status = status_in(first.get("status")) or status_in(diagnostic)
        if bounce_type == "Permanent":
            failure = _failure(status, permanent=True)
            if status is None and subtype in _SES_GONE:
                failure = "hard"
        else:  # Transient, Undetermined
            failure = _failure(status, permanent=False)
        reason = diagnostic or f"{bounce_type} bounce ({subtype})"
        return [_report(ref, failure, "ses", status, reason)]
    if kind == "Complaint":
        complaint = _dict(notification.get("complaint"))
        feedback = _text(complaint.get("complaintFeedbackType"))
        if feedback == "not-spam":
            return []
        return [_report(ref, "complaint", "ses", None, feedback)]
    if kind == "Delivery":
        response = _text(_dict(notification.get("delivery")).get("smtpResponse"))
        return [_report(ref, "delivered", "ses", status_in(response), response)]
    return []


# ------------------------------------------------------------------ SendGrid

# Why SendGrid dropped a message without trying (its own suppression lists): these name
# the address as gone, or its owner as one who complained.
_SENDGRID_DROPPED: dict[str, Kind] = {
    "Bounced Address": "hard",
    "Invalid": "hard",
    "Spam Reporting Address": "complaint",
}


def sendgrid_reports(events: list[Any], host: str) -> list[Report]:
    """The reports in a SendGrid event batch: bounce (a bounce, or blocked), dropped,
    delivered, spamreport. Deferrals (SendGrid keeps trying), opens, clicks and the rest
    are not reports."""
    reports = []
    for event in events:
        event = _dict(event)
        # Our copy of the Message-ID (a unique argument, merged into the event), else
        # smtp-id: the Message-ID header the message was sent with.
        ref = message_of(event.get(RELAY_TAG), host) or message_of(event.get("smtp-id"), host)
        if ref is None:
            continue
        name = event.get("event")
        reason = _text(event.get("reason"))
        status = status_in(event.get("status")) or status_in(reason)
        if name == "bounce":
            reports.append(
                _report(ref, _failure(status, permanent=True), "sendgrid", status, reason)
            )
        elif name == "dropped":
            kind = _SENDGRID_DROPPED.get(reason or "", "policy")
            reports.append(_report(ref, kind, "sendgrid", status, f"dropped: {reason}"))
        elif name == "delivered":
            response = _text(event.get("response"))
            reports.append(_report(ref, "delivered", "sendgrid", status, response))
        elif name == "spamreport":
            reports.append(_report(ref, "complaint", "sendgrid", None, "spam report"))
    return reports


# ------------------------------------------------------------------ Postmark

# Postmark's bounce types (its "Type" field), as our kinds; None: not a report about the
# message's fate (an auto-reply, a delay Postmark keeps retrying, a subscribe request...).
# https://postmarkapp.com/developer/api/bounce-api#bounce-types
POSTMARK_BOUNCES: dict[str, Kind | None] = {
    "HardBounce": "hard",
    "BadEmailAddress": "hard",
    "SoftBounce": "soft",
    "DnsError": "soft",
    "Transient": None,  # delayed: Postmark keeps trying
    "SpamComplaint": "complaint",
    "SpamNotification": "policy",  # classified as spam or blocked by the recipient's server
    "Blocked": "policy",
    "VirusNotification": "policy",
    "ContentRelated": "policy",
    "DMARCPolicy": "policy",
    "TemplateRenderingFailed": "policy",
    "SMTPApiError": "policy",
    "ManuallyDeactivated": "policy",
    "InboundError": None,
    "Unsubscribe": None,
    "Subscribe": None,
    "AutoResponder": None,
    "AddressChange": None,
    "OpenRelayTest": None,
    "ChallengeVerification": None,
    "Unconfirmed": None,
    "Unknown": None,
}


def postmark_reports(payload: dict[str, Any], host: str) -> list[Report]:
    """The report in one Postmark webhook call: Bounce, SpamComplaint or Delivery.
    Postmark's MessageID is its own: the message is named by the metadata Postmark
    echoes back (the X-PM-Metadata header we add when Postmark is configured)."""
    ref = message_of(_dict(payload.get("Metadata")).get(RELAY_TAG), host)
    if ref is None:
        return []
    record = payload.get("RecordType")
    details = _text(payload.get("Details")) or _text(payload.get("Description"))
    if record == "Delivery":
        return [_report(ref, "delivered", "postmark", status_in(details), details)]
    if record == "SpamComplaint":
        return [_report(ref, "complaint", "postmark", None, "spam complaint")]
    if record != "Bounce":
        return []
    kind = POSTMARK_BOUNCES.get(str(payload.get("Type")))
    if kind is None:
        return []
    status = status_in(details)
    if kind == "hard" and status is not None:
        kind = _failure(status, permanent=True)  # the code, when given, decides (5.7.x)
    return [_report(ref, kind, "postmark", status, details)]
