"""Every response the test clients get is checked against the OpenAPI document the app
serves: the operation and the status must be declared, and a JSON body must match the
schema declared for that status and content type (problems: ProblemDetails). A schema
drift then fails a test here before an SDK user finds it.

The document's schemas are JSON Schema 2020-12 (OpenAPI 3.1); `$ref`s point into the
document's components, so each schema is validated with the components beside it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema_rs
import orjson
from fastapi import FastAPI

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}

# Paths kept out of the document on purpose (tests/app/test_probes.py checks the probes
# are not in it): the probes, the document itself and its viewer. Not validated.
UNDOCUMENTED = {"/healthz", "/readyz", "/docs", "/v3/openapi.json"}

# Responses the product gives that its document does not declare: real drift, reported,
# and allowed here only until the document (src/, not the tests) declares them.
# Each entry: (method or "*", path template or "*", status).
KNOWN_DRIFT: set[tuple[str, str, int]] = set()  # none now: 503 and 409 are declared


class ContractViolation(AssertionError):
    pass


@dataclass
class Contract:
    document: dict[str, Any]
    _routes: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    _validators: dict[str, Any] = field(default_factory=dict)
    checked: int = 0  # how many responses were validated (the hook runs: see the tests)

    def __post_init__(self) -> None:
        for template in self.document["paths"]:
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            self._routes.append((re.compile(f"^{pattern}$"), template))
        # Literal segments before parameters, as the router matches them.
        self._routes.sort(key=lambda route: route[1].count("{"))

    def template(self, path: str) -> str | None:
        return next((t for pattern, t in self._routes if pattern.match(path)), None)

    def validator(self, schema: dict[str, Any]) -> Any:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode()
        if key not in self._validators:
            rooted = {**schema, "components": self.document.get("components", {})}
            self._validators[key] = jsonschema_rs.Draft202012Validator(rooted)
        return self._validators[key]

    def check(
        self, method: str, path: str, status: int, headers: httpx.Headers, body: bytes
    ) -> None:
        """Raise ContractViolation if this response is not what the document declares."""
        if path in UNDOCUMENTED:
            return
        where = f"{method} {path} -> {status}"
        template = self.template(path)
        operation = (self.document["paths"].get(template) or {}).get(method.lower())
        if operation is None:
            # No such operation (an unknown path, or a method the path does not take): the
            # answer is a refusal, which must still be a well-formed problem.
            self._validate(PROBLEM_REF, headers, body, where, PROBLEM_JSON)
            return
        declared = operation.get("responses", {})
        response = declared.get(str(status)) or declared.get(f"{status // 100}XX")
        response = response or declared.get("default")
        if response is None:
            if _known(method, template, status):
                self._validate(PROBLEM_REF, headers, body, where, PROBLEM_JSON)
                return
            raise ContractViolation(
                f"{where}: status {status} is not declared for {method} {template} "
                f"(declared: {sorted(declared)}); body: {body[:300]!r}"
            )
        content = response.get("content") or {}
        media = headers.get("content-type", "").split(";")[0].strip()
        if not content:
            if body:
                raise ContractViolation(f"{where}: declared without a body, got {body[:300]!r}")
            return
        if media not in content:
            raise ContractViolation(
                f"{where}: content type {media!r} is not declared (declared: {list(content)})"
            )
        schema = content[media].get("schema")
        if schema is not None and media.endswith("json"):
            self._validate(schema, headers, body, where, media)

    def _validate(
        self, schema: dict[str, Any], headers: httpx.Headers, body: bytes, where: str, media: str
    ) -> None:
        got = headers.get("content-type", "").split(";")[0].strip()
        if got != media:
            raise ContractViolation(f"{where}: content type {got!r}, expected {media!r}")
        try:
            instance = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise ContractViolation(f"{where}: not JSON ({e}): {body[:300]!r}") from None
        errors = [
            f"{'/'.join(map(str, error.instance_path)) or '(root)'}: {error.message}"
            for error in self.validator(schema).iter_errors(instance)
        ]
        self.checked += 1
        if errors:
            raise ContractViolation(f"{where}: the body breaks {schema}: " + "; ".join(errors[:5]))


def _known(method: str, template: str | None, status: int) -> bool:
    return any(
        m in ("*", method) and t in ("*", template) and s == status for m, t, s in KNOWN_DRIFT
    )


_contracts: dict[int, Contract] = {}


def contract_for(app: FastAPI) -> Contract:
    key = id(app)
    if key not in _contracts:
        _contracts[key] = Contract(app.openapi())
    return _contracts[key]


def asgi_client(
    app: FastAPI,
    headers: dict[str, str] | None = None,
    client: tuple[str, int] = ("127.0.0.1", 123),
) -> httpx.AsyncClient:
    """An httpx client over the app's ASGI interface whose every response is checked
    against the app's OpenAPI document."""
    contract = contract_for(app)

    async def check(response: httpx.Response) -> None:
        await response.aread()  # streamed lists arrive in chunks: read them whole first
        request = response.request
        contract.check(
            request.method,
            request.url.path,
            response.status_code,
            response.headers,
            response.content,
        )

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=client),
        base_url="http://test",
        headers=headers or {},
        event_hooks={"response": [check]},
    )
