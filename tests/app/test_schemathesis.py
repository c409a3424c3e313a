"""Schemathesis over the OpenAPI document, against a real server: no input yields a 5xx,
and no response breaks the document (status codes, content types, bodies, headers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from servers import cli_account, cli_env, running_server

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    env = cli_env(
        ACTIVECOMMERCE_DATABASE_URL=database_url,
        ACTIVECOMMERCE_DATA_DIR=str(tmp),
        ACTIVECOMMERCE_SECRET_KEY="schemathesis-secret",
    )
    key = cli_account(env, "enterprise")["sandboxApiKey"]
    with running_server(env, Path(tmp) / "serve.log") as (base, _log):
        yield {"base": base, "key": key}


@pytest.fixture(scope="module")
def api_schema(server: dict[str, Any]) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{server['base']}/v3/openapi.json")
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15")),
    )
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_never_fails(case: schemathesis.Case[Any], server: dict[str, Any]) -> None:
    case.call_and_validate(
        base_url=server["base"], headers={"Api-Token": server["key"]}, checks=CHECKS, timeout=30
    )
