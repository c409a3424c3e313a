"""Signed per-message return paths (VERP) on the bounce domain.

The envelope sender (MAIL FROM) of each message is `b-<message id>-<env>-<signature>@<bounce
domain>`: a bounce or an abuse report comes back to that address, and names the message by
it. The `mailto:` of List-Unsubscribe is `u-<message id>-<env>-<signature>@<bounce domain>`.

- The signature is an HMAC-SHA256 (key derived from the server secret, its own purpose)
  of the kind, the message id and the environment, cut to 80 bits and written in
  lower-case base32: some relays lower-case local parts, so the address is read the same
  whatever the case it comes back in (it is compared lower-cased, in constant time).
- `<env>` is `l` (live) or `s` (sandbox): a report of one never changes the other.
- The local part stays short and ASCII (under 40 characters for ids below 10^12).

Whoever can make this address has the server secret: a report to an address whose
signature does not verify is refused before its content is read, and a report names its
message by the address it was sent to, never by a Message-ID it quotes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

Purpose = Literal["b", "u"]  # b: bounces and reports; u: unsubscribe by mail

_ENV_CODES = {"live": "l", "sandbox": "s"}
_ENVS = {code: env for env, code in _ENV_CODES.items()}
_SIG_BYTES = 10  # 80 bits: 16 base32 characters
_LOCAL = re.compile(r"([bu])-([0-9]{1,19})-([ls])-([a-z2-7]{16})")


@dataclass(frozen=True)
class Address:
    """What a verified VERP address names."""

    purpose: Purpose
    message_id: int
    env: str


class Verp:
    def __init__(self, server_secret: bytes, domain: str) -> None:
        self._key = hmac.new(server_secret, b"activecommerce return path v1", "sha256").digest()
        self.domain = domain.strip().rstrip(".").lower()

    def _sign(self, purpose: str, message_id: int, env_code: str) -> str:
        text = f"{purpose}:{message_id}:{env_code}".encode()
        digest = hmac.new(self._key, text, hashlib.sha256).digest()[:_SIG_BYTES]
        return base64.b32encode(digest).decode().lower()

    def address(self, purpose: Purpose, message_id: int, env: str) -> str:
        code = _ENV_CODES[env]
        return (
            f"{purpose}-{message_id}-{code}-{self._sign(purpose, message_id, code)}@{self.domain}"
        )

    def return_path(self, message_id: int, env: str) -> str:
        """The envelope sender of the message."""
        return self.address("b", message_id, env)

    def unsubscribe_address(self, message_id: int, env: str) -> str:
        """The address of List-Unsubscribe's `mailto:`."""
        return self.address("u", message_id, env)

    def parse(self, address: str) -> Address | None:
        """What the address names, if it is one of ours with a valid signature (any case;
        angle brackets allowed); None otherwise."""
        text = address.strip().strip("<>").strip().lower()
        local, at, domain = text.rpartition("@")
        if not at or domain.rstrip(".") != self.domain:
            return None
        match = _LOCAL.fullmatch(local)
        if match is None:
            return None
        purpose, number, code, sig = match.groups()
        expected = self._sign(purpose, int(number), code)
        if not hmac.compare_digest(expected, sig):
            return None
        return Address("b" if purpose == "b" else "u", int(number), _ENVS[code])


def parse(verp: Verp, address: str) -> tuple[int, str] | None:
    """(message id, environment) of a return path that verifies; None otherwise."""
    found = verp.parse(address)
    if found is None or found.purpose != "b":
        return None
    return found.message_id, found.env
