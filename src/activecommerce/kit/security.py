"""Secrets: API keys are random, shown once, and stored only as a keyed hash (HMAC)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet

KEY_PREFIX = {"live": "ac_live_", "sandbox": "ac_test_"}


def new_api_key(env: str) -> str:
    return KEY_PREFIX[env] + secrets.token_urlsafe(30)


def key_hash(secret_key: bytes, api_key: str) -> str:
    return hmac.new(
        secret_key, api_key.encode("utf-8", "surrogatepass"), hashlib.sha256
    ).hexdigest()


def display_prefix(api_key: str) -> str:
    return api_key[: len("ac_live_") + 6]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class SecretBox:
    """Encrypts secrets that must be used again (webhook signing secrets) with a key
    derived from the server secret (Fernet: AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, server_secret: bytes) -> None:
        derived = hashlib.sha256(b"activecommerce/secret-box/" + server_secret).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()
