"""The event types a webhook can subscribe to (docs/guides/webhooks.md lists them)."""

CRUD_COLLECTIONS = (
    "contactGroup",
    "contactTag",
    "contactField",
    "form",
    "segment",
    "pipeline",
    "dealStage",
    "dealStatus",
    "brand",
    "emailCampaign",
    "emailAutomation",
    "webhook",
)

EVENT_TYPES: frozenset[str] = frozenset(
    [
        *(
            f"contact.{action}"
            for action in (
                "created",
                "updated",
                "deleted",
                "tagged",
                "untagged",
                "added_to_group",
                "removed_from_group",
                "unsubscribed",
                "subscribed",
                "erased",
            )
        ),
        *(
            f"deal.{action}"
            for action in ("created", "updated", "deleted", "stage_changed", "status_changed")
        ),
        *(
            f"{name}.{action}"
            for name in CRUD_COLLECTIONS
            for action in ("created", "updated", "deleted")
        ),
        "emailCampaign.sent",
        "email.sent",
        "email.opened",
        "email.clicked",
        "email.bounced",
        "email.complained",
    ]
)

# A ping sent by hand to one webhook (POST /v3/webhooks/{id}/test): not subscribable, it
# reaches only the webhook it was sent to, once (no retries, no effect on its failure streak).
TEST_EVENT = "webhook.test"
