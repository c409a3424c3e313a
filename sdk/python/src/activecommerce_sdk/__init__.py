"""A typed Python client for the ActiveCommerce REST API, sync (`Client`) and async
(`AsyncClient`). It depends on httpx alone."""

from activecommerce_sdk import types
from activecommerce_sdk._async import AsyncClient
from activecommerce_sdk._core import Options
from activecommerce_sdk._sync import Client
from activecommerce_sdk.errors import (
    ApiError,
    AuthenticationFailed,
    BadRequest,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationFailed,
)
from activecommerce_sdk.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "ApiError",
    "AsyncClient",
    "AuthenticationFailed",
    "BadRequest",
    "Client",
    "Conflict",
    "NotFound",
    "Options",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "ValidationFailed",
    "WebhookVerificationError",
    "types",
    "verify_webhook",
]
