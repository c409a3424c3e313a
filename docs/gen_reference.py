"""The API reference, rendered from the app's own OpenAPI document.

As a MkDocs hook (mkdocs.yml `hooks:`), at every build: builds the app, takes
`app.openapi()`, and adds to the site, in memory (nothing is written into docs/, so
`mkdocs serve` does not rebuild in a loop):

- `reference/openapi.json`, the document itself;
- `reference/index.md`, an overview, and one page per tag (collection) with each
  operation: method, path, operationId, summary, description, parameters, and examples
  of the request and response bodies (the document's own, else made from the schema).

The nav entry `API reference` is replaced by those pages.

As a script, `python docs/gen_reference.py OUTDIR` writes the same files to OUTDIR.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
REFERENCE = "reference"

_document: dict[str, Any] | None = None


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the app as it is configured by default (no database is
    opened: the app is only built)."""
    from activecommerce.app import create_app
    from activecommerce.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=f"sqlite:///{tmp}/docs.db",
            secret_key="docs",  # noqa: S106 (never used: no database is opened)
        )
        return dict(create_app(settings).openapi())


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def anchor(method: str, path: str, op: dict[str, Any]) -> str:
    return slug(op.get("operationId") or f"{method} {path}")


def operations(doc: dict[str, Any]) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """Operations grouped by their first tag, in the document's order."""
    groups: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            tag = (op.get("tags") or ["Other"])[0]
            groups.setdefault(tag, []).append((method, path, op))
    return groups


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def example_of(doc: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """An example value for a schema: its own example, else one made from its shape."""
    schema = resolve(doc, schema)
    for key in ("example", "default", "const"):
        if key in schema and schema[key] is not None:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if resolve(doc, s).get("type") != "null"]
            return example_of(doc, options[0], depth) if options else None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if depth > 6:
        return None
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        # Every required field, then the optional ones (a readable whole object).
        ordered = [n for n in props if n in required] + [n for n in props if n not in required]
        return {name: example_of(doc, props[name], depth + 1) for name in ordered}
    if kind == "array":
        item = example_of(doc, schema.get("items", {}), depth + 1)
        return [] if item is None else [item]
    fmt = schema.get("format", "")
    if kind == "string":
        return {
            "email": "ann@example.com",
            "date-time": "2026-01-01T09:00:00Z",
            "uri": "https://example.com/hook",
        }.get(fmt, "string")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    return None


def media_example(doc: dict[str, Any], media: dict[str, Any]) -> Any:
    if "example" in media:
        return media["example"]
    if media.get("examples"):
        first = next(iter(media["examples"].values()))
        return first.get("value")
    return example_of(doc, media.get("schema", {}))


def code(value: Any, lang: str = "json") -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return f"```{lang}\n{text}\n```\n"


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_operation(doc: dict[str, Any], method: str, path: str, op: dict[str, Any]) -> str:
    title = op.get("summary") or f"{method.upper()} {path}"
    out = [f"### {title} {{ #{anchor(method, path, op)} }}\n", f"`{method.upper()} {path}`\n"]
    if op.get("operationId"):
        out.append(f"Operation id: `{op['operationId']}`\n")
    if op.get("description"):
        out.append(op["description"].strip() + "\n")
    params = op.get("parameters", [])
    if params:
        out.append("| parameter | in | type | required | description |")
        out.append("|---|---|---|---|---|")
        for param in params:
            param = resolve(doc, param)
            schema = resolve(doc, param.get("schema", {}))
            kind = schema.get("type") or " or ".join(
                str(resolve(doc, s).get("type")) for s in schema.get("anyOf", [])
            )
            out.append(
                f"| `{param['name']}` | {param.get('in', '')} | {cell(str(kind))} | "
                f"{'yes' if param.get('required') else 'no'} | "
                f"{cell(param.get('description') or schema.get('description') or '')} |"
            )
        out.append("")
    body = op.get("requestBody")
    if body:
        body = resolve(doc, body)
        for media_type, media in body.get("content", {}).items():
            out.append(f"**Request body** (`{media_type}`)\n")
            if media_type.endswith("json"):
                out.append(code(media_example(doc, media)))
            elif "example" in media:
                out.append(code(media["example"], "text"))
    examples = []
    out.append("| response | |\n|---|---|")
    for status, response in op.get("responses", {}).items():
        response = resolve(doc, response)
        content = response.get("content", {})
        types = ", ".join(f"`{t}`" for t in content)
        out.append(f"| **{status}** | {cell(response.get('description', ''))} {types} |")
        json_media = next((m for t, m in content.items() if t.endswith("json")), None)
        if json_media is not None and str(status).startswith("2"):
            example = media_example(doc, json_media)
            if example is not None:
                examples.append(f"**Response {status}**\n\n" + code(example))
    out.append("")
    out.extend(examples)
    return "\n".join(out) + "\n"


def render_pages(doc: dict[str, Any]) -> dict[str, str]:
    """`reference/<tag>.md` for each tag, and `reference/index.md`: path -> Markdown."""
    groups = operations(doc)
    pages: dict[str, str] = {}
    info = doc.get("info", {})
    index = [
        "# API reference\n",
        f"{info.get('title', 'The API')} {info.get('version', '')}, generated from the "
        "server's OpenAPI document at every build of this site. The document itself: "
        "[openapi.json](openapi.json) (a running server also serves it at "
        "`/v3/openapi.json`, and interactive docs at `/docs`).\n",
        "Every request needs an API key (`Api-Token: ac_test_...`) or an OAuth access "
        "token (`Authorization: Bearer ...`); see "
        "[Authentication](../guides/authentication.md). Errors are "
        "`application/problem+json` ([Errors](../guides/errors.md)).\n",
        "| collection | operations |",
        "|---|---|",
    ]
    for tag, ops in groups.items():
        name = f"{slug(tag)}.md"
        lines = [f"# {tag}\n"]
        description = next(
            (t.get("description") for t in doc.get("tags", []) if t.get("name") == tag), None
        )
        if description:
            lines.append(description + "\n")
        lines.append("| operation | |\n|---|---|")
        for method, path, op in ops:
            link = f"[`{method.upper()} {path}`](#{anchor(method, path, op)})"
            lines.append(f"| {link} | {cell(op.get('summary', ''))} |")
        lines.append("")
        lines.extend(render_operation(doc, method, path, op) for method, path, op in ops)
        pages[f"{REFERENCE}/{name}"] = "\n".join(lines)
        index.append(f"| [{tag}]({name}) | {len(ops)} |")
    pages[f"{REFERENCE}/index.md"] = "\n".join(index) + "\n"
    pages[f"{REFERENCE}/openapi.json"] = json.dumps(doc, indent=2) + "\n"
    return pages


def _pages() -> dict[str, str]:
    global _document
    if _document is None:
        _document = openapi_document()
    return render_pages(_document)


# --- the MkDocs hook -------------------------------------------------------------------


def on_config(config: Any) -> Any:
    """Replace the nav's `API reference` entry by the overview and one page per tag."""
    pages = _pages()
    children: list[Any] = [{"Overview": f"{REFERENCE}/index.md"}]
    for path, text in pages.items():
        if path.endswith(".md") and not path.endswith("index.md"):
            children.append({text.splitlines()[0].lstrip("# "): path})
    nav = config.get("nav") or []
    for i, entry in enumerate(nav):
        if isinstance(entry, dict) and "API reference" in entry:
            nav[i] = {"API reference": children}
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for path, text in _pages().items():
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=text))
    return files


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "site-reference")
    for rel, text in _pages().items():
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(out)
