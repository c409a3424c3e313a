"""The OpenAPI document as a client generator reads it (SPEC §9): every operation has a
unique camelCase operationId, a summary, a description, and an example for each JSON
request body and 2xx JSON response; the examples fit their schemas."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema_rs

CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
METHODS = {"get", "put", "post", "patch", "delete"}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


async def test_every_operation_is_named_summarised_described_and_exemplified(
    anon: httpx.AsyncClient,
) -> None:
    document = (await anon.get("/v3/openapi.json")).json()
    components = document["components"]
    ids: dict[str, str] = {}
    for method, path, operation in operations(document):
        where = f"{method.upper()} {path}"
        operation_id = operation.get("operationId", "")
        assert CAMEL.match(operation_id), (where, operation_id)
        assert operation_id not in ids, (where, ids.get(operation_id))
        ids[operation_id] = where
        assert operation.get("summary"), where
        assert operation.get("description"), where
        media = [operation.get("requestBody", {}).get("content", {}).get("application/json")]
        media += [
            answer.get("content", {}).get("application/json")
            for status, answer in operation["responses"].items()
            if status.startswith("2")
        ]
        for content in filter(None, media):
            assert "example" in content, where
            validator = jsonschema_rs.Draft202012Validator(
                {**content["schema"], "components": components}
            )
            errors = [e.message for e in validator.iter_errors(content["example"])]
            assert not errors, (where, content["example"], errors)
    # The names a generated client and the SDKs' readers expect.
    for name in (
        "listContacts",
        "getContact",
        "createContact",
        "replaceContact",
        "updateContact",
        "deleteContact",
        "addContactTag",
        "removeContactTag",
        "addContactToGroup",
        "removeContactFromGroup",
        "listTagsOfContact",
        "listContactGroups",
        "createDealStage",
        "listDealStatuses",
        "sendEmailCampaign",
        "cancelEmailCampaign",
        "testEmailCampaign",
        "getEmailCampaignReport",
        "getEmailAutomationReport",
        "listSandboxEmails",
        "getSandboxEmail",
        "createContactImport",
        "getContactImport",
        "listContactImports",
        "exportContacts",
        "listSegments",
        "createSegment",
        "previewSegment",
        "listSegmentContacts",
        "listWebhookDeliveries",
        "retryWebhookDelivery",
        "rotateWebhookSecret",
        "createApiKey",
        "deleteApiKey",
        "createOauthClient",
    ):
        assert name in ids, name
