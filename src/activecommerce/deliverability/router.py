"""The sending services' delivery-report webhooks (`/hooks/...`: no API key, not in the
API's document): Amazon SES through SNS, SendGrid's signed event webhook, Postmark.

Each is off (404) until its settings are given. A request that is unsigned, badly signed,
stale, of another topic or without the right credentials is refused (401/403, logged
without any secret, counted against the client address's budget for failed requests like
a wrong API key) and changes nothing; a malformed body is a 400. A report about a message
we do not know, or nothing we act on, is still answered 200: the services retry anything
else for days. Everything a report changes goes through `service.receive`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from activecommerce.auth.deps import client_address_of
from activecommerce.config import Settings
from activecommerce.email.compose import message_host
from activecommerce.email.config import EmailConfig
from activecommerce.kit.problems import Problem
from activecommerce.kit.services import services

from . import providers, signatures
from .service import Report, receive

log = logging.getLogger("activecommerce")

# A report batch is small (SendGrid's are up to a few hundred KB); the app's body limit
# applies first, this one whatever that is set to.
MAX_REPORT_BYTES = 1024 * 1024


class Hooks:
    """The webhooks' configuration, made once from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.host = message_host(settings.links_base)
        self.sns = signatures.Sns(
            settings.ses_topics, settings.ses_sns_url_pattern, settings.ses_timeout_seconds
        )
        key = settings.sendgrid_webhook_public_key
        self.sendgrid = None if not key else signatures.sendgrid_key(key)
        self.postmark = settings.postmark_credentials


async def _body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REPORT_BYTES:
            raise Problem(413, f"The body is over the limit of {MAX_REPORT_BYTES} bytes.")
    return body


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Problem(400, "The body is not JSON.") from None


async def _handle(
    request: Request, source: str, read: Callable[[bytes], Awaitable[list[Report]]]
) -> Response:
    """Read, authenticate and apply one webhook call; log and count refusals."""
    address = client_address_of(request)
    try:
        reports = await read(await _body(request))
    except Problem as problem:
        if problem.status in (401, 403):
            log.warning("refused a %s delivery report from %s: %s", source, address, problem.detail)
            decision = await services(request).limiter.hit_address(address)
            if decision is not None and not decision.allowed:
                raise Problem(
                    429,
                    "Too many refused requests from this address; retry later.",
                    headers={"Retry-After": str(decision.retry_after)},
                ) from None
        elif problem.status == 400:
            log.warning("a malformed %s delivery report from %s", source, address)
        raise
    db = services(request).db
    applied = 0
    for report in reports:
        applied += await receive(db, report)
    if reports:
        log.info("%s: %d delivery report(s), %d applied", source, len(reports), applied)
    return JSONResponse({"received": len(reports), "applied": applied})


def _off() -> Problem:
    return Problem(404, "Not Found")


def build_router(settings: Settings) -> APIRouter:
    hooks = Hooks(settings)
    router = APIRouter(prefix="/hooks", include_in_schema=False)

    @router.post("/ses")
    async def ses(request: Request) -> Response:
        """Amazon SNS messages of the configured topics: SES notifications, and the
        subscription's confirmation (confirmed at once, by fetching its SubscribeURL)."""
        if not hooks.sns.enabled:
            raise _off()

        async def read(body: bytes) -> list[Report]:
            message = _json(body)
            if not isinstance(message, dict):
                raise Problem(400, "Not an Amazon SNS message.")
            await hooks.sns.verify(message)
            kind = message["Type"]
            if kind == "Notification":
                verp = services(request).part(EmailConfig).verp
                return providers.ses_reports(str(message["Message"]), hooks.host, verp)
            topic = message["TopicArn"]
            if kind == "SubscriptionConfirmation":
                if await hooks.sns.confirm(message["SubscribeURL"]):
                    log.warning("confirmed the Amazon SNS subscription to %s", topic)
                else:
                    log.warning(
                        "could not confirm the Amazon SNS subscription to %s: open its"
                        " SubscribeURL yourself: %s",
                        topic,
                        message["SubscribeURL"],
                    )
            else:
                log.warning("Amazon SNS unsubscribed this server from %s", topic)
            return []

        return await _handle(request, "ses", read)

    @router.post("/sendgrid")
    async def sendgrid(request: Request) -> Response:
        """A batch of SendGrid events, signed (ECDSA) with the key in the settings."""
        key = hooks.sendgrid
        if key is None:
            raise _off()

        async def read(body: bytes) -> list[Report]:
            signatures.sendgrid_verify(
                key,
                request.headers.get(signatures.SENDGRID_SIGNATURE),
                request.headers.get(signatures.SENDGRID_TIMESTAMP),
                body,
            )
            events = _json(body)
            if not isinstance(events, list):
                raise Problem(400, "Not a list of SendGrid events.")
            return providers.sendgrid_reports(events, hooks.host)

        return await _handle(request, "sendgrid", read)

    @router.post("/postmark")
    async def postmark(request: Request) -> Response:
        """One Postmark webhook call, with the basic auth credentials in the settings."""
        credentials = hooks.postmark
        if credentials is None:
            raise _off()

        async def read(body: bytes) -> list[Report]:
            header = request.headers.get("authorization")
            if not signatures.basic_auth_matches(header, *credentials):
                raise Problem(
                    401,
                    "Send the webhook's user and password (HTTP basic auth).",
                    headers={"WWW-Authenticate": 'Basic realm="activecommerce"'},
                )
            payload = _json(body)
            if not isinstance(payload, dict):
                raise Problem(400, "Not a Postmark webhook payload.")
            return providers.postmark_reports(payload, hooks.host)

        return await _handle(request, "postmark", read)

    return router
