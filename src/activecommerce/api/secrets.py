"""A collection whose objects carry a secret shown once (API keys, OAuth clients): listed
without their secrets, created with the secret in that one response (a replay of the same
Idempotency-Key returns it as null), deleted or revoked at once. The routers keep their
own documentation and bodies and hand the work to one `ShownOnce`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from starlette.responses import Response

from activecommerce.api.routes import idempotent_post, json_response
from activecommerce.kit.db import Connection, Database
from activecommerce.kit.fields import parse_id
from activecommerce.kit.pagination import envelope, offset
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import not_found
from activecommerce.kit.repository import Scoped
from activecommerce.kit.services import services

# (scope, limit, offset) -> how many in all, and a page of views without their secrets
Read = Callable[[Scoped, int, int], Awaitable[tuple[int, list[dict[str, Any]]]]]
# (connection, the server's HMAC key) -> the created object's view, with its secret
Make = Callable[[Connection, bytes], Awaitable[dict[str, Any]]]
# (database, principal, id) -> whether there was one to delete or revoke
Remove = Callable[[Database, Principal, int], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class ShownOnce:
    title: str  # what one is called in a 404 ("API key")
    path: str  # the collection's path, for the Location of a created one
    field: str  # the secret's field in the created view

    async def list(
        self, request: Request, principal: Principal, page: int, page_size: int, read: Read
    ) -> Response:
        scope = Scoped(services(request).db, principal)
        total, views = await read(scope, page_size, offset(page, page_size))
        return json_response(envelope(views, page, page_size, total))

    async def create(
        self,
        request: Request,
        principal: Principal,
        idempotency_key: str | None,
        body: BaseModel,
        make: Make,
    ) -> Response:
        secret = services(request).authenticator.secret

        async def work(conn: Connection) -> tuple[int, dict[str, Any], str | None]:
            created = await make(conn, secret)
            return 201, created, f"{self.path}/{created['id']}"

        return await idempotent_post(
            request, principal, idempotency_key, body, work, shown_once=(self.field,)
        )

    async def delete(
        self, id: str, request: Request, principal: Principal, remove: Remove
    ) -> Response:
        object_id = parse_id(id)
        if object_id is None or not await remove(services(request).db, principal, object_id):
            raise not_found(self.title)
        return Response(status_code=204)
