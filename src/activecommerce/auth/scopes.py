"""OAuth scopes: which area each collection belongs to, and what a request
needs. One table, read by the authentication of every request made with an OAuth token
and by the OpenAPI document (each operation's scopes).

A collection under /v3 that is not listed here is refused to OAuth tokens (403), as
`apiKeys` and `oauthClients` are on purpose: a new endpoint is closed to third-party apps
until it is given an area here."""

from __future__ import annotations

AREAS = ("contacts", "deals", "campaigns", "automations", "webhooks")

SCOPES: dict[str, str] = {
    f"{area}:{access}": f"{'Read' if access == 'read' else 'Create, change and delete'} "
    f"{area}"
    + {
        "contacts": " (contacts, groups, tags, segments, memberships, imports and exports,"
        " the suppression list, signup forms, personal data)",
        "deals": " (pipelines, stages, statuses and deals)",
        "campaigns": " (brands, sending domains, campaigns, captured mail and the account's"
        " default postal address)",
        "automations": "",
        "webhooks": " (webhooks and their deliveries)",
    }[area]
    for area in AREAS
    for access in ("read", "write")
}

# The first path segment after /v3/ -> its area.
COLLECTION_AREAS: dict[str, str] = {
    "contacts": "contacts",
    "contactGroups": "contacts",
    "contactTags": "contacts",
    "contactFields": "contacts",
    "contactImports": "contacts",
    "contactExports": "contacts",
    "segments": "contacts",
    "suppressions": "contacts",
    "forms": "contacts",
    "imports": "contacts",
    "exports": "contacts",
    "pipelines": "deals",
    "dealStages": "deals",
    "dealStatuses": "deals",
    "deals": "deals",
    "brands": "campaigns",
    "sendingDomains": "campaigns",
    # The account's settings: its default postal address is the brands' fallback.
    "account": "campaigns",
    "emailCampaigns": "campaigns",
    "sandbox": "campaigns",  # captured mail: /v3/sandbox/emails
    "emailAutomations": "automations",
    "webhooks": "webhooks",
}

READ_METHODS = frozenset({"GET", "HEAD"})
# POSTs that only read (a question too large for a query string).
READING_POSTS = frozenset({"/v3/segments/preview"})


def collection_of(path: str) -> str:
    """`/v3/contacts/12/tags` -> `contacts`."""
    rest = path[4:] if path.startswith("/v3/") else path.lstrip("/")
    return rest.split("/", 1)[0]


def required_scope(path: str, method: str) -> str | None:
    """The scope a request needs, or None when OAuth tokens may not make it at all."""
    area = COLLECTION_AREAS.get(collection_of(path))
    if area is None:
        return None
    reading = method in READ_METHODS or (method == "POST" and path in READING_POSTS)
    return f"{area}:{'read' if reading else 'write'}"


def parse_scopes(text: str | None) -> list[str]:
    return [s for s in (text or "").split(" ") if s]
