"""Examples for the OpenAPI document: every JSON request body and 2xx JSON response gets
one, made from its schema, so that a new collection is documented with no extra work.

A field's own `examples` (pydantic `Field(examples=[...])`) or `default` wins; otherwise
the value follows the field's name and format (an email for `email`, an id for `...Id`),
so that the examples read like real objects rather than `"string"`.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"

# By field name, for the names whose type says too little.
BY_NAME: dict[str, Any] = {
    "id": "1042",
    "email": "ann@example.com",
    "eventId": "evt_17",
    "fromEmail": "news@example.com",
    "replyToEmail": "support@example.com",
    "to": ["ann@example.com"],
    "from": "news@example.com",
    "firstName": "Ann",
    "lastName": "Lee",
    "fromName": "Example News",
    "phone": "+1 555 0100",
    "name": "Spring sale",
    "subject": "Hello {{ contact.firstName }}",
    "htmlContent": '<p>Hi {{ contact.firstName }}</p><a href="{{ unsubscribe_url }}">Stop</a>',
    "plaintextContent": "Hi {{ contact.firstName }}",
    "html": "<p>Hi Ann</p>",
    "text": "Hi Ann",
    "currency": "USD",
    "color": "#3366FF",
    "url": "https://example.com/webhooks",
    "events": ["contact.created"],
    "emails": ["ann@example.com"],
    "postalAddress": "1 Main St, Springfield",
    "description": "CRM sync",
    "closeDate": "2026-06-30",
    "value": 125000,
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "nextCursor": "eyJrIjpbIjIwMjYiLCIxMDQyIl19",
    "disabledReason": "The receiver kept failing",
    "pageSize": 20,
    "delaySeconds": 3600,
    "scope": "contacts:read contacts:write",
    "scopes": ["contacts:read", "contacts:write"],
    "redirectUris": ["https://app.example.com/callback"],
    "eventType": "contact.created",
    "trigger": {"type": "tag_added", "tagId": "17"},
    "audience": {"groupIds": ["7"], "segmentIds": ["12"], "exclude": {"tagIds": ["3"]}},
    "headers": {"Message-ID": "<1042@example.com>"},
}
TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "array": list,
    "object": dict,
    "integer": int,
    "number": (int, float),
}
BY_FORMAT = {
    "date-time": "2026-03-01T09:30:00Z",
    "date": "2026-06-30",
    "email": "ann@example.com",
    "uri": "https://example.com/webhooks",
}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _resolve(components[ref.rsplit("/", 1)[1]], components)
    return schema


def example_of(
    schema: dict[str, Any], components: dict[str, Any], name: str = "", depth: int = 0
) -> Any:
    """A value that fits `schema` (the first of a choice, one item of a list)."""
    schema = _resolve(schema, components)
    if schema.get("examples"):
        return schema["examples"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for choice in ("anyOf", "oneOf"):
        if choice in schema:
            options = [s for s in schema[choice] if _resolve(s, components).get("type") != "null"]
            return example_of(options[0], components, name, depth) if options else None
    if "allOf" in schema:
        return example_of(schema["allOf"][0], components, name, depth)
    kind = schema.get("type")
    hint = BY_NAME.get(name)
    if hint is not None and isinstance(hint, TYPES.get(kind or "", object)):
        return hint
    if name.endswith("Id") and kind in ("string", None):
        return "17"
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        return {
            field: example_of(sub, components, field, depth + 1)
            for field, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [example_of(schema.get("items", {}), components, name, depth + 1)]
    if kind == "string":
        return BY_FORMAT.get(schema.get("format", ""), name or "text")
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1) if name != "page" else 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return None


def add_examples(document: dict[str, Any]) -> None:
    """Give every JSON request body and 2xx JSON response without one an example."""
    components = document.get("components", {}).get("schemas", {})
    for path in document.get("paths", {}).values():
        for operation in path.values():
            bodies = [operation.get("requestBody", {}).get("content", {}).get(JSON)]
            for status, response in operation.get("responses", {}).items():
                if status.startswith("2"):
                    bodies.append(response.get("content", {}).get(JSON))
            for media in bodies:
                if media and "schema" in media and "example" not in media:
                    media["example"] = example_of(media["schema"], components)
