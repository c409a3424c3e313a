"""The two SDKs speak one vocabulary: each namespace is named after its collection's path
in the API (`/v3/contactGroups`: Python `contact_groups`, TypeScript `contactGroups`;
`/v3/sandbox/emails`: `sandbox_emails`, `sandboxEmails`), and both cover every
collection and sub-list of the OpenAPI document. The Python clients are read as built
(their attributes), the TypeScript client from its source (sdk/typescript/src/client.ts),
so no Node is needed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from activecommerce_sdk import AsyncClient, Client, _async, _sync

from activecommerce.app import create_app

CLIENT_TS = Path(__file__).resolve().parents[2] / "sdk" / "typescript" / "src" / "client.ts"


def camel(path: str) -> str:
    """`/v3/sandbox/emails` -> `sandboxEmails`: the rule for TypeScript names."""
    first, *rest = path.removeprefix("/v3/").split("/")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    """`sandboxEmails` -> `sandbox_emails`: the same name, in Python's case."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def typescript_client(source: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """From client.ts: the client's namespaces {name: collection path}, and each
    namespace's sub-lists {namespace: {name: path}} (`readonly tags = new Membership(...)`)."""
    body = re.search(r"export class ActiveCommerce \{(.*?)\n\}", source, re.DOTALL)
    assert body is not None, "no `export class ActiveCommerce` in client.ts"
    declared = set(re.findall(r"^  readonly (\w+)\b", body.group(1), re.MULTILINE)) - {"http"}
    made = [  # `this.deals = new Collection(http, "/v3/deals")`, or nested in an object
        (name + (f".{inner}" if inner else ""), kind, path)
        for name, inner, kind, path in re.findall(
            r'this\.(\w+) = (?:\{ *(\w+): *)?new (\w+)(?:<[^>]*>)?\(http, "([^"]+)"\)',
            body.group(1),
        )
    ]
    made_names = {name.partition(".")[0] for name, _, _ in made}
    assert made_names == declared, "a namespace declared but not made"
    classes = dict(re.findall(r"^(?:export )?class (\w+)[^{]*\{(.*?)^\}", source, re.M | re.S))
    subs: dict[str, dict[str, str]] = {}
    for name, kind, _ in made:
        sub_list = r'readonly (\w+) = new \w+\(this\.http, "([^"]+)"\)'
        subs[name] = dict(re.findall(sub_list, classes.get(kind, "")))
    return {name: path for name, _, path in made}, subs


def python_client(client: object, listing: type[Any]) -> dict[str, str]:
    """A built client's namespaces: {attribute: collection path}."""
    return {
        name: value._path  # the path each namespace was made with
        for name, value in vars(client).items()
        if isinstance(value, listing)
    }


def _collections() -> tuple[set[str], set[str]]:
    """The OpenAPI document's lists: collections (`/v3/contacts`) and sub-lists
    (`/v3/contacts/{id}/tags`)."""
    paths = create_app().openapi()["paths"]
    lists = {
        path
        for path, operations in paths.items()
        if operations.get("get", {}).get("operationId", "").startswith("list")
    }
    return {p for p in lists if "{" not in p}, {p for p in lists if "{" in p}


async def test_both_sdks_name_each_namespace_after_its_collection() -> None:
    ts, _ = typescript_client(CLIENT_TS.read_text())
    with Client("http://127.0.0.1:1", api_key="ac_test_x") as sync_client:
        py = python_client(sync_client, _sync.Listing)
    async with AsyncClient("http://127.0.0.1:1", api_key="ac_test_x") as async_client:
        assert python_client(async_client, _async.Listing) == py  # one vocabulary in Python

    wrong_ts = {name: path for name, path in ts.items() if name != camel(path)}
    wrong_py = {name: path for name, path in py.items() if name != snake(camel(path))}
    assert not wrong_ts, f"TypeScript names not after their paths: {wrong_ts}"
    assert not wrong_py, f"Python names not after their paths: {wrong_py}"
    # The same namespaces, one to one: a name in one SDK is the other's in its case.
    assert sorted(snake(name) for name in ts) == sorted(py)
    assert {snake(name): path for name, path in ts.items()} == py


def test_both_sdks_cover_every_collection_and_sub_list() -> None:
    collections, sub_lists = _collections()
    ts, ts_subs = typescript_client(CLIENT_TS.read_text())
    with Client("http://127.0.0.1:1", api_key="ac_test_x") as client:
        py = python_client(client, _sync.Listing)
        assert set(ts.values()) == collections
        assert set(py.values()) == collections
        by_path = {path: name for name, path in ts.items()}
        for path in sorted(sub_lists):
            parent, _, sub = path.rpartition("/{id}/")
            # TypeScript: client.contacts.tags.list(id); Python: client.contacts.tags(id).
            assert ts_subs[by_path[parent]].get(sub) == path, path
            assert callable(getattr(getattr(client, snake(by_path[parent])), snake(sub))), path


def test_the_rule_and_the_parser() -> None:
    """The case rule, and that the parser sees a renamed namespace (the checks above
    would pass on a client.ts that it could not read)."""
    assert camel("/v3/contactGroups") == "contactGroups"
    assert camel("/v3/sandbox/emails") == "sandboxEmails"
    assert snake("emailCampaigns") == "email_campaigns"
    assert snake("oauthClients") == "oauth_clients"
    source = CLIENT_TS.read_text()
    ts, subs = typescript_client(source)
    assert len(ts) >= 15
    assert subs["contacts"]["tags"] == "/v3/contacts/{id}/tags"
    drifted = source.replace("this.contactGroups = ", "this.groups = ").replace(
        "readonly contactGroups:", "readonly groups:"
    )
    names, _ = typescript_client(drifted)
    assert names["groups"] == "/v3/contactGroups"
    assert camel(names["groups"]) != "groups"
