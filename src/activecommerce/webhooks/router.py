from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from activecommerce.api.routes import (
    COMMON_ERRORS,
    IdempotencyKey,
    crud_router,
    idempotent_post,
    json_response,
    list_model,
)
from activecommerce.auth.deps import CurrentPrincipal
from activecommerce.kit.db import Connection
from activecommerce.kit.pagination import Page, PageSize
from activecommerce.kit.problems import responses
from activecommerce.kit.services import services
from activecommerce.webhooks import service
from activecommerce.webhooks.schemas import DeliveryOut, RetryOut, WebhookWithSecret


def build_router(webhooks: service.WebhookService) -> APIRouter:
    """The webhooks endpoints of one process (its configuration is in `webhooks`)."""
    router = crud_router(webhooks.resource, "Webhooks")

    @router.get(
        "/{id}/deliveries",
        response_model=list_model("Delivery", DeliveryOut),
        summary="List a webhook's delivery attempts, newest first",
        operation_id="listWebhookDeliveries",
        description="Every delivery attempt of this webhook, newest first: the event, the"
        " attempt number, the receiver's status code, the duration and any error.",
        responses=responses(*COMMON_ERRORS, 404, 422),
    )
    async def list_deliveries(
        id: str,
        request: Request,
        principal: CurrentPrincipal,
        page: Annotated[Page, Query()] = 1,
        pageSize: Annotated[PageSize, Query()] = 20,
    ) -> Response:
        result = await webhooks.list_deliveries(services(request).db, principal, id, page, pageSize)
        return json_response(result)

    @router.post(
        "/{id}/deliveries/{deliveryId}/retry",
        status_code=202,
        response_model=RetryOut,
        summary="Send a delivery's event again",
        operation_id="retryWebhookDelivery",
        description="Queues the delivery's event for this webhook again, now (202).",
        responses=responses(*COMMON_ERRORS, 404, 409),
    )
    async def retry_delivery(
        id: str,
        delivery_id: Annotated[str, Path(alias="deliveryId")],
        request: Request,
        principal: CurrentPrincipal,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async def work(conn: Connection) -> tuple[int, dict[str, Any], str | None]:
            return 202, await webhooks.retry_delivery(conn, principal, id, delivery_id), None

        return await idempotent_post(request, principal, idempotency_key, None, work)

    @router.post(
        "/{id}/test",
        status_code=202,
        response_model=RetryOut,
        summary="Send a test event to this webhook",
        operation_id="testWebhook",
        description="Queues a `webhook.test` event for this webhook only (on or off), now"
        " (202). It is signed and delivered like any event, tried once, listed in the"
        " webhook's deliveries, and leaves the webhook's failure streak as it was.",
        responses=responses(*COMMON_ERRORS, 404),
    )
    async def send_test(
        id: str,
        request: Request,
        principal: CurrentPrincipal,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async def work(conn: Connection) -> tuple[int, dict[str, Any], str | None]:
            return 202, await webhooks.send_test(conn, principal, id), None

        return await idempotent_post(request, principal, idempotency_key, None, work)

    @router.post(
        "/{id}/rotateSecret",
        response_model=WebhookWithSecret,
        summary="Replace the signing secret (the new one is shown only here)",
        operation_id="rotateWebhookSecret",
        description="Makes a new signing secret, shown only in this response; deliveries are"
        " signed with it from now on.",
        responses=responses(*COMMON_ERRORS, 404),
    )
    async def rotate_secret(
        id: str,
        request: Request,
        principal: CurrentPrincipal,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async def work(conn: Connection) -> tuple[int, dict[str, Any], str | None]:
            return 200, await webhooks.rotate_secret(conn, principal, id), None

        return await idempotent_post(
            request, principal, idempotency_key, None, work, shown_once=("secret",)
        )

    return router
