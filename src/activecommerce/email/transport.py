"""SMTP: a pool of connections kept open and reused, an optional rate cap shared by every
worker, and the classification of failures (docs/decisions/008-email-sending.md).

The pool lends a connection for one message *and its bookkeeping*: the sender gives it
back only after the "sent" mark is committed. So at any moment each connection has at
most one message that the relay accepted and the database does not know about yet, which
is what a `kill -9` can make go twice (with the same Message-ID).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from activecommerce.ratelimit.service import limits_redis

log = logging.getLogger("activecommerce.email")


class TemporaryFailure(Exception):
    """Try again later. `relay`: the relay itself failed (down, dropped the connection,
    timed out), not this recipient; such attempts do not count against the message."""

    def __init__(self, message: str, *, relay: bool) -> None:
        super().__init__(message)
        self.relay = relay


class PermanentFailure(Exception):
    """Never try again. `bounce`: the recipient's mailbox does not exist (a hard bounce,
    see `mailbox_gone`); otherwise the message alone fails (a policy refusal, content)."""

    def __init__(self, message: str, *, bounce: bool) -> None:
        super().__init__(message)
        self.bounce = bounce


class SenderRefused(PermanentFailure):
    """The relay refuses the sender or the connection, not a recipient (MAIL FROM refused,
    authentication required or refused, relaying denied, a 5xx greeting): no message can
    go through it as configured, so no recipient is to blame (SPEC §14)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, bounce=False)


# RFC 3463 enhanced status code at the start of a reply's text: "5.1.1 No such user".
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\S)")
# A 550/551/553 without an enhanced code is a hard bounce only when its text says so.
_UNKNOWN_USER = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient)|unknown recipient"
    r"|recipient unknown|mailbox (not found|does not exist)|address does not exist",
    re.IGNORECASE,
)
_RELAY_DENIED = re.compile(r"relay(ing)?( access)? (denied|not permitted)", re.IGNORECASE)


def enhanced_status(text: str) -> tuple[int, int, int] | None:
    """The enhanced status code (class, subject, detail) a reply's text begins with."""
    match = _ENHANCED.match(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


def status_code(failure: str) -> str | None:
    """The enhanced status code of a failure's text ("550 5.1.1 No such user" -> "5.1.1"),
    or None."""
    _, _, text = failure.partition(" ")
    status = enhanced_status(text)
    return None if status is None else ".".join(map(str, status))


def mailbox_gone(code: int, text: str) -> bool:
    """A permanent refusal that says the mailbox does not exist (a hard bounce): 5.1.x
    (but 5.1.7 and 5.1.8, which are about the sender's address), or, without an enhanced
    code, a 550/551/553 whose text says the user is unknown."""
    if not 500 <= code < 600:
        return False
    status = enhanced_status(text)
    if status is not None:
        return status[0] == 5 and status[1] == 1 and status[2] not in (7, 8)
    return code in (550, 551, 553) and _UNKNOWN_USER.search(text) is not None


def _about_the_sender(text: str) -> bool:
    """A recipient's 5xx that is the relay refusing us: relaying denied, or a 5.1.7/5.1.8
    (the sender's address)."""
    status = enhanced_status(text)
    sender_address = status is not None and status[:2] == (5, 1) and status[2] in (7, 8)
    return sender_address or _RELAY_DENIED.search(text) is not None


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    use_tls: bool
    start_tls: bool | None
    username: str | None
    password: str | None
    # `?verify=false`: accept a relay's certificate without checking it (a relay on the
    # same host or network with a self-signed certificate). On by default.
    verify: bool = True

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """smtp://user:pass@host:587?starttls=true, smtps://host:465, smtp://127.0.0.1:2525,
        with `&verify=false` for a self-signed certificate."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                "ACTIVECOMMERCE_SMTP_URL must look like smtp://host:port or smtps://..."
            )
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        tls = parts.scheme == "smtps"
        starttls = query.get("starttls")
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            use_tls=tls,
            # Unset: STARTTLS when the server offers it (aiosmtplib's default).
            start_tls=None if starttls is None else starttls in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            verify=query.get("verify", "true") not in ("0", "false", "no"),
        )


def classify(
    exc: BaseException, *, connecting: bool = False
) -> TemporaryFailure | PermanentFailure:
    """What a failure means (SPEC §14): a 5xx for the recipient's mailbox is a hard bounce,
    another 5xx about the message fails it alone, a 5xx about the sender or the connection
    (`connecting`: before the session was ready) is `SenderRefused`; a 4xx is temporary."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        refused = exc.recipients[0]
        text = f"{refused.code} {refused.message}"
        if 500 <= refused.code < 600:
            if _about_the_sender(refused.message):
                return SenderRefused(text)
            return PermanentFailure(text, bounce=mailbox_gone(refused.code, refused.message))
        return TemporaryFailure(text, relay=False)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            if (
                connecting
                or isinstance(
                    exc, aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPAuthenticationError
                )
                or _about_the_sender(exc.message)
            ):
                return SenderRefused(text)
            return PermanentFailure(text, bounce=mailbox_gone(exc.code, exc.message))
        # 421 (closing, throttled) and other 4xx: the relay asks to try later.
        return TemporaryFailure(text, relay=exc.code == 421)
    return TemporaryFailure(f"{type(exc).__name__}: {exc}", relay=True)


class RateCap:
    """At most `rate` messages per second across all workers (Redis when configured,
    else this process), for relays that cap what they accept."""

    def __init__(self, rate: float, redis_url: str | None, prefix: str) -> None:
        storage: Storage = limits_redis(redis_url, prefix) if redis_url else MemoryStorage()
        self.limiter = MovingWindowRateLimiter(storage)
        # limits counts whole messages per window: a rate below 1/s is a 1 s window of 1.
        self.item = RateLimitItemPerSecond(max(1, int(rate)))
        self.key = f"{prefix}:smtp"

    async def wait(self) -> None:
        while not await self.limiter.hit(self.item, self.key):
            stats = await self.limiter.get_window_stats(self.item, self.key)
            await asyncio.sleep(max(0.005, min(1.0, stats.reset_time - time.time())))


class Connection:
    """One SMTP session, opened on first use and again after it fails."""

    def __init__(self, target: SmtpTarget, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.client: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self.client is None or not self.client.is_connected:
            t = self.target
            client = aiosmtplib.SMTP(
                hostname=t.host,
                port=t.port,
                use_tls=t.use_tls,
                start_tls=t.start_tls,
                username=t.username,
                password=t.password,
                timeout=self.timeout,
                validate_certs=t.verify,
            )
            await client.connect()
            self.client = client
        return self.client

    async def send(self, sender: str, to: str, raw: bytes) -> None:
        """Hand one message to the relay. Raises TemporaryFailure or PermanentFailure.

        Whatever goes wrong, the session is left clean for the next message: reset
        (RSET) after a refusal the relay answered, closed after anything else (a drop, a
        timeout, an error of our own mid-transaction), never lent again half-way through
        a transaction (issue 23)."""
        utf8 = not (sender.isascii() and to.isascii())
        for attempt in (1, 2):
            connected = False
            try:
                client = await self._connected()
                connected = True
                options: list[str] = []
                if utf8:
                    # RFC 6531: only a relay that offers SMTPUTF8 takes a non-ASCII
                    # address; otherwise this message alone fails, before MAIL FROM.
                    if not client.supports_extension("smtputf8"):
                        raise PermanentFailure(
                            "the relay does not offer SMTPUTF8, needed for the non-ASCII"
                            f" address {to if not to.isascii() else sender}",
                            bounce=False,
                        )
                    options.append("SMTPUTF8")
                await client.sendmail(sender, [to], raw, mail_options=options)
                return
            except PermanentFailure:
                raise
            except aiosmtplib.SMTPConnectResponseError as exc:
                # The greeting: a 5xx refuses the connection (no second try), a 4xx as a drop.
                await self.close()
                if exc.code >= 500 or attempt == 2:
                    raise classify(exc, connecting=True) from exc
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
                # Relays close idle sessions: open a new one and try once more.
                await self.close()
                if attempt == 2:
                    failure = classify(exc)
                    if connected and isinstance(failure, TemporaryFailure):
                        # A session opened afresh for this message and dropped during it:
                        # the message counts it, so that it is given up in time.
                        failure.relay = False
                    raise failure from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                failure = classify(exc, connecting=not connected)
                if (isinstance(failure, TemporaryFailure) and failure.relay) or isinstance(
                    failure, SenderRefused
                ):
                    await self.close()
                else:
                    await self._reset()
                raise failure from exc
            except BaseException as exc:
                # Anything else (an address the client cannot encode, a cancellation)
                # may have struck mid-transaction: this session is not used again.
                if not isinstance(exc, Exception):
                    self._discard()
                    raise
                await self.close()
                raise TemporaryFailure(f"{type(exc).__name__}: {exc}", relay=False) from exc

    async def _reset(self) -> None:
        """After a refused message, clear the session's state for the next one."""
        if self.client is not None and self.client.is_connected:
            try:
                await self.client.rset()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                await self.close()

    def _discard(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                if client.is_connected:
                    await asyncio.wait_for(client.quit(), 2.0)
            client.close()


class SmtpPool:
    def __init__(
        self,
        url: str,
        *,
        connections: int,
        timeout: float,
        rate: float | None = None,
        redis_url: str | None = None,
        prefix: str = "activecommerce",
    ) -> None:
        target = SmtpTarget.parse(url)
        self.idle: asyncio.Queue[Connection] = asyncio.Queue()
        self.all = [Connection(target, timeout) for _ in range(connections)]
        for connection in self.all:
            self.idle.put_nowait(connection)
        self.cap = RateCap(rate, redis_url, prefix) if rate else None

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[Connection]:
        """A connection for one message and its bookkeeping (see the module docstring)."""
        connection = await self.idle.get()
        try:
            if self.cap is not None:
                await self.cap.wait()
            yield connection
        finally:
            self.idle.put_nowait(connection)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.all), return_exceptions=True)
