"""Who sent a delivery report: the checks of the sending services' webhooks, before
anything in a report is believed.

- Amazon SNS (SES's notifications): an RSA signature (SignatureVersion 1: SHA1withRSA,
  2: SHA256withRSA) over the message's canonical string to sign, checked with the
  certificate at its SigningCertURL, fetched over https from Amazon SNS's own hosts only
  (`ACTIVECOMMERCE_SES_SNS_URL_PATTERN`; the TLS certificate of that host is what vouches
  for it), and only for the topics configured.
- SendGrid: an ECDSA P-256 / SHA-256 signature over the timestamp header and the raw body,
  with the verification key SendGrid shows; a timestamp more than ten minutes away is
  refused, so that a request captured once cannot be replayed later.
- Postmark: HTTP basic auth, compared in constant time.

Every refusal is a `Problem` (4xx) whose detail says why without repeating any secret.
An RSA or ECDSA verification costs ~0.05-0.2 ms: done inline.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from activecommerce.kit.problems import Problem

# ------------------------------------------------------------------ Amazon SNS

# The fields signed, in this order, as "Name\nvalue\n" each (Subject only when present).
SNS_SIGNED: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SNS_SIGNED["UnsubscribeConfirmation"] = SNS_SIGNED["SubscriptionConfirmation"]
SNS_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_CERTIFICATE_BYTES = 64 * 1024
CACHED_CERTIFICATES = 32  # SNS signs with one certificate per region, rotated rarely


def sns_string_to_sign(message: dict[str, Any]) -> bytes:
    """The canonical string Amazon SNS signs for this message (400: not an SNS message)."""
    fields = SNS_SIGNED.get(str(message.get("Type")))
    if fields is None:
        raise Problem(400, "Not an Amazon SNS message: unknown or missing Type.")
    parts = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise Problem(400, f"The Amazon SNS message has no {name}.")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


class Sns:
    """Checks Amazon SNS messages: the topic, the signature, the certificate's origin.
    Certificates are cached per URL (a URL names one certificate for good)."""

    def __init__(self, topics: frozenset[str], url_pattern: str, timeout: float) -> None:
        self.topics = topics
        self.url_pattern = re.compile(url_pattern)
        self.timeout = timeout
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return bool(self.topics)

    def trusted_url(self, url: object) -> bool:
        """Whether `url` is on Amazon SNS's own hosts (the configured pattern, matched at
        the start of the URL)."""
        return isinstance(url, str) and self.url_pattern.match(url) is not None

    async def verify(self, message: dict[str, Any]) -> None:
        """Refuse (403) a message of another topic or without a valid signature (400:
        not an SNS message)."""
        data = sns_string_to_sign(message)
        if message.get("TopicArn") not in self.topics:
            raise Problem(403, "This topic is not one whose messages are accepted here.")
        algorithm = SNS_HASHES.get(str(message.get("SignatureVersion")))
        if algorithm is None:
            raise Problem(403, "Unknown SignatureVersion (1 or 2 are accepted).")
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError):
            raise Problem(403, "The Signature is not base64.") from None
        url = message.get("SigningCertURL")
        if not self.trusted_url(url):
            raise Problem(403, "The SigningCertURL is not an Amazon SNS https URL.")
        key = await self._key(str(url))
        try:
            key.verify(signature, data, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise Problem(403, "The message's signature does not verify.") from None

    async def _key(self, url: str) -> rsa.RSAPublicKey:
        key = self._keys.get(url)
        if key is not None:
            self._keys.move_to_end(url)
            return key
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                response = await client.get(url)
        except httpx.HTTPError:
            # Amazon's side, not the request's: SNS retries a 5xx later.
            raise Problem(
                503,
                "The signing certificate could not be fetched; retry later.",
                headers={"Retry-After": "60"},
            ) from None
        if response.status_code >= 500:
            raise Problem(
                503,
                "The signing certificate is not available; retry later.",
                headers={"Retry-After": "60"},
            )
        if response.status_code != 200 or len(response.content) > MAX_CERTIFICATE_BYTES:
            raise Problem(403, "The SigningCertURL names no certificate.")
        try:
            certificate = x509.load_pem_x509_certificate(response.content)
        except ValueError:
            raise Problem(403, "The SigningCertURL names no certificate.") from None
        now = datetime.now(UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise Problem(403, "The signing certificate is expired or not yet valid.")
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise Problem(403, "The signing certificate's key is not an RSA key.")
        self._keys[url] = public
        while len(self._keys) > CACHED_CERTIFICATES:
            self._keys.popitem(last=False)
        return public

    async def confirm(self, url: object) -> bool:
        """Confirm a subscription by fetching its SubscribeURL (Amazon SNS's own hosts
        only); whether SNS answered 200."""
        if not self.trusted_url(url):
            return False
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                response = await client.get(str(url))
        except httpx.HTTPError:
            return False
        return response.status_code == 200


# ------------------------------------------------------------------ SendGrid

SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
# SendGrid signs each POST when it makes it (its retries included): a timestamp further
# than this from our clock is a captured request played again (or a clock badly off).
SENDGRID_MAX_AGE_SECONDS = 600


def sendgrid_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key (base64 DER SubjectPublicKeyInfo, as its settings page
    shows it; PEM armour is tolerated). ValueError when it is not a P-256 public key."""
    body = "".join(line for line in text.strip().splitlines() if not line.startswith("-----"))
    try:
        key = load_der_public_key(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a base64 DER public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECDSA P-256 public key")
    return key


def sendgrid_verify(
    key: ec.EllipticCurvePublicKey,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: float | None = None,
) -> None:
    """Refuse (401 unsigned, 403 badly signed or stale) a SendGrid event POST."""
    if not signature or not timestamp:
        raise Problem(401, f"Unsigned: send {SENDGRID_SIGNATURE} and {SENDGRID_TIMESTAMP}.")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise Problem(403, "The timestamp is not a Unix time.")
    if abs((time.time() if now is None else now) - int(timestamp)) > SENDGRID_MAX_AGE_SECONDS:
        raise Problem(403, "The timestamp is more than 10 minutes away: stale or replayed.")
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise Problem(403, "The signature does not verify.") from None


# ------------------------------------------------------------------ Postmark


def basic_auth_matches(header: str | None, user: str, password: str) -> bool:
    """Whether an Authorization header carries this user and password (both compared in
    constant time, whichever differs)."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    given_user, _, given_password = given.partition(b":")
    user_ok = hmac.compare_digest(given_user, user.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    return user_ok and password_ok
