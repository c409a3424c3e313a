"""The keyed hash that finds an address on the suppression list.

The list is looked up by an HMAC of the lower-cased address, keyed by a key derived from
the server secret, so that an erased person's entry keeps nothing readable (a plain hash
of an email address is reversed by hashing a list of addresses) and is still found when
that address comes back. The key is the process's: `configure` sets it at start-up
(`activecommerce.worker.configure`), beside the other keys made from the server secret.
"""

from __future__ import annotations

import hashlib
import hmac

_key: bytes | None = None


def configure(server_secret: bytes) -> None:
    global _key
    _key = hmac.new(server_secret, b"activecommerce suppression list v1", "sha256").digest()


def address_hash(address: str) -> str:
    """The list's key for an address (compared case-insensitively)."""
    if _key is None:
        raise RuntimeError("consent.keys.configure() was not called")
    lowered = address.strip().lower().encode("utf-8", "surrogatepass")
    return hmac.new(_key, lowered, hashlib.sha256).hexdigest()
