"""Secrets: API keys are random, shown once, and stored only as a keyed hash (HMAC)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

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
