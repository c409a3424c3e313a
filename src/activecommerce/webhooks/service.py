"""Webhooks: stored here; signing and delivery come with the webhooks issue."""

from activecommerce.kit.resource import Field, Resource
from activecommerce.kit.routes import patch_model_of
from activecommerce.webhooks.schemas import WebhookIn, WebhookOut

webhooks = Resource(
    collection="webhooks",
    table="webhooks",
    title="webhook",
    fields=[
        Field("url", "url", required=True, nullable=False),
        Field("events", "events", kind="json", required=True, nullable=False),
        Field("description", "description"),
        Field("active", "active", kind="bool", nullable=False),
    ],
    create_model=WebhookIn,
    patch_model=patch_model_of(WebhookIn),
    out_model=WebhookOut,
    sortable={"createdAt": "created_at", "updatedAt": "updated_at"},
)
