"""Segments: the list (each with a link to its contacts), and the builder that makes
and edits one: rules (a field, a tag, a group, email activity, a deal) in a top-level
all/any and in groups of their own (all/any, each rule or group negatable), with the live
count and ten contacts of the preview as one edits. Through the services the API uses
(`segments.service`: the preview, the collection's writes).

The builder is a form (no script of its own): its rules are named `i<n>.<part>` (the
n-th item of the top level) and `i<n>.r<m>.<part>` (the m-th rule of group n). Adding,
removing or changing what a rule compares posts the form to `/segments/builder`, which
renders the builder again (the whole page without htmx); every change posts it to
`/segments/preview` for the count."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

from activecommerce.campaigns.service import email_campaigns
from activecommerce.fields.definitions import definitions
from activecommerce.groups.service import contact_groups
from activecommerce.kit.problems import Problem
from activecommerce.kit.services import services
from activecommerce.pipelines.service import deal_stages, deal_statuses, pipelines
from activecommerce.segments import service
from activecommerce.segments.conditions import COLUMNS, OPS_OF_KIND, STATUSES
from activecommerce.segments.service import segments
from activecommerce.tags.service import contact_tags
from activecommerce.web import resources
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.forms import FormErrors, form_of

router = console_router()

WHATS = (
    ("field", "A field"),
    ("tag", "A tag"),
    ("group", "A group"),
    ("email", "Email activity"),
    ("deal", "A deal"),
)
MODES = (("all", "all of"), ("any", "any of"))
COLUMN_LABELS = {
    "email": "Email",
    "firstName": "First name",
    "lastName": "Last name",
    "phone": "Phone",
    "status": "Status",
    "createdAt": "Created",
    "updatedAt": "Updated",
}
OP_LABELS = {
    "eq": "is",
    "ne": "is not",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "in": "is one of",
    "is_set": "is set",
    "is_not_set": "is not set",
    "within_last_days": "within the last (days)",
    "more_than_days_ago": "more than (days) ago",
}
ACTIVITIES = (("received", "received"), ("opened", "opened"), ("clicked", "clicked"))
MAX_ITEMS = 50  # rules and groups the form reads (the tree allows 50 leaves)
_ITEM = re.compile(r"i(\d{1,2})\.kind")
_RULE = re.compile(r"i(\d{1,2})\.r(\d{1,2})\.what")


# ---------------------------------------------------------------- the builder's model


@dataclass
class Rule:
    """One condition as the form holds it (text, as typed)."""

    prefix: str
    what: str = "field"
    field: str = "email"
    op: str = "contains"
    value: str = ""
    target: str = ""  # the tag or group
    yes: str = "yes"  # has / is in / did (no: the opposite)
    activity: str = "opened"
    campaign: str = ""
    days: str = ""
    pipeline: str = ""
    stage: str = ""
    status: str = ""
    negate: bool = False
    error: str = ""


@dataclass
class Block:
    """A group of rules: all or any of them (negatable)."""

    prefix: str
    mode: str = "all"
    negate: bool = False
    rules: list[Rule] = field(default_factory=list)
    error: str = ""


@dataclass
class Builder:
    mode: str = "all"
    items: list[Rule | Block] = field(default_factory=list)
    # A tree the builder cannot show (made through the API): edited as JSON.
    json: str | None = None


def _rule(form: dict[str, str], prefix: str) -> Rule:
    def get(name: str, default: str = "") -> str:
        return form.get(f"{prefix}.{name}", default).strip()

    return Rule(
        prefix,
        what=get("what", "field"),
        field=get("field", "email"),
        op=get("op", "contains"),
        value=get("value"),
        target=get("target"),
        yes=get("yes", "yes"),
        activity=get("activity", "opened"),
        campaign=get("campaign"),
        days=get("days"),
        pipeline=get("pipeline"),
        stage=get("stage"),
        status=get("status"),
        negate=form.get(f"{prefix}.negate") == "on",
    )


def read_builder(form: dict[str, str]) -> Builder:
    """The builder as the form sent it, items in the order of their numbers."""
    if "conditions_json" in form:
        return Builder(json=form["conditions_json"])
    items: list[Rule | Block] = []
    numbers = sorted({int(m[1]) for key in form if (m := _ITEM.fullmatch(key))})
    for n in numbers[:MAX_ITEMS]:
        prefix = f"i{n}"
        if form.get(f"{prefix}.kind") == "group":
            rules = sorted(
                {int(m[2]) for key in form if (m := _RULE.fullmatch(key)) and int(m[1]) == n}
            )
            items.append(
                Block(
                    prefix,
                    mode="any" if form.get(f"{prefix}.mode") == "any" else "all",
                    negate=form.get(f"{prefix}.negate") == "on",
                    rules=[_rule(form, f"{prefix}.r{m}") for m in rules[:MAX_ITEMS]],
                )
            )
        else:
            items.append(_rule(form, prefix))
    return Builder(mode="any" if form.get("mode") == "any" else "all", items=items)


def renumbered(builder: Builder) -> Builder:
    """The same builder with its items numbered from 0 in order (after a removal)."""
    items: list[Rule | Block] = []
    for n, item in enumerate(builder.items):
        if isinstance(item, Block):
            item.prefix = f"i{n}"
            for m, rule in enumerate(item.rules):
                rule.prefix = f"i{n}.r{m}"
        else:
            item.prefix = f"i{n}"
        items.append(item)
    builder.items = items
    return builder


def apply_action(builder: Builder, action: str) -> Builder:
    """An add or remove button's change: `add-rule`, `add-group`, `add-rule:i<n>` (in
    group n), `remove:i<n>` or `remove:i<n>.r<m>`."""
    if builder.json is not None:
        return builder
    verb, _, where = action.partition(":")
    if verb == "add-rule" and not where:
        builder.items.append(Rule(f"i{len(builder.items)}"))
    elif verb == "add-group":
        builder.items.append(Block("", rules=[Rule("")]))
    elif verb == "add-rule":
        for item in builder.items:
            if isinstance(item, Block) and item.prefix == where:
                item.rules.append(Rule(""))
    elif verb == "remove":
        kept: list[Rule | Block] = []
        for item in builder.items:
            if item.prefix == where:
                continue
            if isinstance(item, Block):
                item.rules = [rule for rule in item.rules if rule.prefix != where]
                if not item.rules:
                    continue
            kept.append(item)
        builder.items = kept
    return renumbered(builder)


# ---------------------------------------------------------------- the tree


def settle(builder: Builder, ops_of: dict[str, list[str]]) -> Builder:
    """Each field rule's operator one its field takes (the first, after the field
    changed)."""
    for item in builder.items:
        for rule in item.rules if isinstance(item, Block) else [item]:
            ops = ops_of.get(rule.field)
            if rule.what == "field" and ops and rule.op not in ops:
                rule.op = ops[0]
    return builder


@dataclass
class Fields:
    """What a field rule may name: (value, label) options and each one's kind."""

    options: list[tuple[str, str]]
    kinds: dict[str, str]
    choices: dict[str, list[tuple[str, str]]]  # a status's, dropdown's or multiselect's


async def _fields(ctx: Console) -> Fields:
    options = [(name, COLUMN_LABELS.get(name, name)) for name in COLUMNS]
    kinds = {name: kind for name, (_, kind) in COLUMNS.items()}
    choices = {"status": [(s, s) for s in STATUSES]}
    for key, definition in (await definitions(services(ctx.request).db, ctx.principal)).items():
        name = f"fields.{key}"
        options.append((name, definition.name))
        kinds[name] = definition.type
        choices[name] = [(option, option) for option in definition.options]
    return Fields(options, kinds, choices)


def _typed(kind: str, op: str, text: str) -> Any:
    """A value as typed, made the JSON the tree takes (left as text when it does not
    parse: the check names it)."""
    if op in ("within_last_days", "more_than_days_ago"):
        return int(text) if text.isascii() and text.isdigit() else text
    if op == "in":
        return [_typed(kind, "eq", part.strip()) for part in text.split(",") if part.strip()]
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text else number
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def _leaf(rule: Rule, fields: Fields) -> dict[str, Any]:
    yes = rule.yes != "no"
    if rule.what == "tag":
        return {"tag": rule.target, "has": yes}
    if rule.what == "group":
        return {"group": rule.target, "in": yes}
    if rule.what == "email":
        email: dict[str, Any] = {"email": rule.activity, "negate": not yes}
        if rule.campaign:
            email["campaignId"] = rule.campaign
        if rule.days:
            email["withinDays"] = _typed("number", "eq", rule.days)
        return email
    if rule.what == "deal":
        deal = {
            key: value
            for key, value in (
                ("pipelineId", rule.pipeline),
                ("stageId", rule.stage),
                ("statusId", rule.status),
            )
            if value
        }
        return {"deal": deal, "has": yes}
    leaf: dict[str, Any] = {"field": rule.field, "op": rule.op}
    if rule.op not in ("is_set", "is_not_set"):
        leaf["value"] = _typed(fields.kinds.get(rule.field, "text"), rule.op, rule.value)
    return leaf


def tree_of(builder: Builder, fields: Fields) -> tuple[Any, dict[str, Rule | Block]]:
    """The condition tree the builder means, and where each rule and group is in it (a
    422's field, e.g. `conditions.all.1.any.0.value`, back to its rule)."""
    if builder.json is not None:
        try:
            return orjson.loads(builder.json), {}
        except orjson.JSONDecodeError:
            raise Problem(
                422,
                "The request has invalid fields.",
                errors=[{"field": "conditions", "message": "is not JSON"}],
            ) from None
    places: dict[str, Rule | Block] = {}

    def negated(node: dict[str, Any], negate: bool, at: str) -> tuple[dict[str, Any], str]:
        return ({"not": node}, f"{at}.not") if negate else (node, at)

    children = []
    for i, item in enumerate(builder.items):
        at = f"conditions.{builder.mode}.{i}"
        places[at] = item
        if isinstance(item, Block):
            inner_at = f"{at}.not" if item.negate else at
            inner = []
            for j, rule in enumerate(item.rules):
                node, where = negated(
                    _leaf(rule, fields), rule.negate, f"{inner_at}.{item.mode}.{j}"
                )
                places[f"{inner_at}.{item.mode}.{j}"] = rule
                places[where] = rule
                inner.append(node)
            node, _ = negated({item.mode: inner}, item.negate, at)
        else:
            node, where = negated(_leaf(item, fields), item.negate, at)
            places[where] = item
        children.append(node)
    return {builder.mode: children}, places


def _as_rule(node: Any, prefix: str) -> Rule | None:
    """A tree's leaf (or a negated one) as a rule, if the builder can show it."""
    negate = False
    if isinstance(node, dict) and set(node) == {"not"}:
        negate, node = True, node["not"]
    if not isinstance(node, dict):
        return None
    rule = Rule(prefix, negate=negate)
    if "field" in node:
        value = node.get("value", "")
        text = ", ".join(_text(v) for v in value) if isinstance(value, list) else _text(value)
        rule.what, rule.field, rule.op, rule.value = (
            "field",
            str(node["field"]),
            str(node.get("op")),
            text,
        )
    elif "tag" in node:
        rule.what, rule.target, rule.yes = (
            "tag",
            str(node["tag"]),
            "yes" if node.get("has") else "no",
        )
    elif "group" in node:
        rule.what, rule.target, rule.yes = (
            "group",
            str(node["group"]),
            "yes" if node.get("in") else "no",
        )
    elif "email" in node:
        rule.what, rule.activity = "email", str(node["email"])
        rule.campaign = str(node.get("campaignId") or "")
        rule.days = "" if node.get("withinDays") is None else str(node["withinDays"])
        rule.yes = "no" if node.get("negate") else "yes"
    elif "deal" in node and isinstance(node["deal"], dict):
        deal = node["deal"]
        rule.what, rule.yes = "deal", "yes" if node.get("has") else "no"
        rule.pipeline = str(deal.get("pipelineId") or "")
        rule.stage = str(deal.get("stageId") or "")
        rule.status = str(deal.get("statusId") or "")
    else:
        return None
    return rule


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def builder_of(tree: Any) -> Builder:
    """A stored tree as the builder shows it: a top-level all/any of rules and groups of
    rules (each negatable); any other tree is edited as JSON."""
    fallback = Builder(json=orjson.dumps(tree, option=orjson.OPT_INDENT_2).decode())
    if not isinstance(tree, dict) or not ({"all", "any"} & set(tree)):
        tree = {"all": [tree]}
    mode = "all" if "all" in tree else "any"
    builder = Builder(mode=mode)
    for n, child in enumerate(tree[mode] if isinstance(tree[mode], list) else []):
        rule = _as_rule(child, f"i{n}")
        if rule is not None:
            builder.items.append(rule)
            continue
        negate = isinstance(child, dict) and set(child) == {"not"}
        group = child["not"] if negate else child
        inner_mode = next(
            (m for m in ("all", "any") if isinstance(group, dict) and m in group), None
        )
        if inner_mode is None or len(group) != 1 or not isinstance(group[inner_mode], list):
            return fallback
        rules = [_as_rule(c, f"i{n}.r{m}") for m, c in enumerate(group[inner_mode])]
        if any(r is None for r in rules):
            return fallback
        builder.items.append(
            Block(f"i{n}", mode=inner_mode, negate=negate, rules=[r for r in rules if r])
        )
    return builder


def _mark(errors: FormErrors, places: dict[str, Rule | Block], problem: Problem) -> None:
    """A refusal's field errors beside their rules (the closest enclosing one)."""
    for error in problem.errors or []:
        where = str(error.get("field", ""))
        message = str(error.get("message", "is invalid"))
        if where == "name":
            errors.fields["name"] = message
            continue
        found = max(
            (at for at in places if where == at or where.startswith(at + ".")),
            key=len,
            default=None,
        )
        if found is None:
            errors.fields["conditions"] = (
                f"{where.removeprefix('conditions').lstrip('.')} {message}".strip()
            )
        else:
            part = where[len(found) :].lstrip(".")
            places[found].error = f"{part} {message}".strip() if part else message
    if not errors.message:
        errors.message = (
            "Check the conditions marked below."
            if problem.errors
            else problem.detail or problem.title
        )


# ---------------------------------------------------------------- pages


async def _pickers(ctx: Console, fields: Fields) -> dict[str, Any]:
    pipeline_names = {p["id"]: p["name"] for p in await resources.first_rows(ctx, pipelines)}

    def in_pipeline(row: dict[str, Any]) -> tuple[str, str]:
        return row[
            "id"
        ], f"{pipeline_names.get(row['pipelineId'], row['pipelineId'])}: {row['name']}"

    return {
        "fields": fields,
        "whats": WHATS,
        "modes": MODES,
        "op_choices": {
            name: [
                (op, OP_LABELS[op]) for op in sorted(OPS_OF_KIND[kind], key=list(OP_LABELS).index)
            ]
            for name, kind in fields.kinds.items()
        },
        "ops_of": {
            name: sorted(OPS_OF_KIND[kind], key=list(OP_LABELS).index)
            for name, kind in fields.kinds.items()
        },
        "activities": ACTIVITIES,
        "tags": await resources.options(ctx, contact_tags),
        "groups": await resources.options(ctx, contact_groups),
        "campaigns": await resources.options(ctx, email_campaigns),
        "pipelines": list(pipeline_names.items()),
        "stages": [in_pipeline(s) for s in await resources.first_rows(ctx, deal_stages)],
        "statuses": [in_pipeline(s) for s in await resources.first_rows(ctx, deal_statuses)],
    }


async def _editor(
    ctx: Console,
    *,
    name: str,
    builder: Builder,
    segment: dict[str, Any] | None,
    errors: FormErrors | None = None,
    status: int = 200,
    block: str | None = None,
) -> Response:
    fields = await _fields(ctx)
    pickers = await _pickers(ctx, fields)
    return page(
        ctx,
        "segments/edit.html",
        status=status,
        block=block,
        segment_name=name,
        builder=settle(builder, pickers["ops_of"]),
        segment=segment,
        errors=errors or FormErrors(),
        action=f"/segments/{segment['id']}/edit" if segment else "/segments/new",
        **pickers,
    )


@router.get("/segments")
async def segment_list(ctx: ConsoleContext) -> Response:
    rows, next_cursor = await resources.list_page(
        ctx, segments, ctx.request.query_params.get("after")
    )
    return page(
        ctx,
        "segments/list.html",
        block="results",
        rows=rows,
        next_url=f"/segments?after={next_cursor}" if next_cursor else None,
    )


@router.get("/segments/new")
async def new_segment(ctx: ConsoleContext) -> Response:
    return await _editor(ctx, name="", builder=Builder(items=[Rule("i0")]), segment=None)


@router.get("/segments/{segment_id}/edit")
async def edit_segment(ctx: ConsoleContext, segment_id: str) -> Response:
    segment = await resources.one(ctx, segments, segment_id)
    return await _editor(
        ctx, name=segment["name"], builder=builder_of(segment["conditions"]), segment=segment
    )


@router.post("/segments/builder")
async def rebuild(ctx: ConsoleContext) -> Response:
    """The builder again after a change of its shape (a rule or group added or removed,
    what a rule compares changed): the builder alone for htmx, else the whole page."""
    form = await form_of(ctx.request)
    builder = apply_action(read_builder(form), form.get("action", ""))
    segment = None
    if form.get("segment_id"):
        segment = await resources.one(ctx, segments, form["segment_id"])
    response = await _editor(
        ctx, name=form.get("name", ""), builder=builder, segment=segment, block="builder"
    )
    response.headers["HX-Trigger"] = "segment-changed"
    return response


@router.post("/segments/preview")
async def preview(ctx: ConsoleContext) -> Response:
    """The count and ten contacts of the form's conditions, with the API's preview."""
    form = await form_of(ctx.request)
    fields = await _fields(ctx)
    result: dict[str, Any] | None = None
    error = ""
    places: dict[str, Rule | Block] = {}
    try:
        tree, places = tree_of(read_builder(form), fields)
        result = await service.preview(services(ctx.request).db, ctx.principal, tree)
    except Problem as problem:
        errors = FormErrors()
        _mark(errors, places, problem)
        marked = [item.error for item in places.values() if item.error]
        error = "; ".join([*dict.fromkeys(marked), *errors.fields.values()]) or errors.message
    return page(ctx, "segments/edit.html", block="preview", result=result, error=error)


async def _save(ctx: Console, segment: dict[str, Any] | None) -> Response:
    form = await form_of(ctx.request)
    builder = read_builder(form)
    name = form.get("name", "").strip()
    fields = await _fields(ctx)
    places: dict[str, Rule | Block] = {}
    try:
        tree, places = tree_of(builder, fields)
        values = {"name": name, "conditions": tree}
        if segment is None:
            saved = await resources.create(ctx, segments, values)
        else:
            saved = await resources.replace(ctx, segments, segment["id"], values)
    except Problem as problem:
        if problem.status == 404:
            raise
        errors = FormErrors()
        _mark(errors, places, problem)
        if builder.json is not None and "conditions" not in errors.fields:
            errors.fields["conditions"] = "; ".join(
                f"{e.get('field')} {e.get('message')}"
                for e in problem.errors or []
                if e.get("field") != "name"
            )
        return await _editor(
            ctx, name=name, builder=builder, segment=segment, errors=errors, status=problem.status
        )
    return see_other(ctx, f"/segments?saved={saved['id']}", "Segment saved.")


@router.post("/segments/new")
async def create_segment(ctx: ConsoleContext) -> Response:
    return await _save(ctx, None)


@router.post("/segments/{segment_id}/edit")
async def save_segment(ctx: ConsoleContext, segment_id: str) -> Response:
    return await _save(ctx, await resources.one(ctx, segments, segment_id))


@router.get("/segments/{segment_id}/delete")
async def confirm_delete(ctx: ConsoleContext, segment_id: str) -> Response:
    segment = await resources.one(ctx, segments, segment_id)
    return page(ctx, "segments/delete.html", segment=segment)


@router.post("/segments/{segment_id}/delete")
async def delete_segment(ctx: ConsoleContext, segment_id: str) -> Response:
    try:
        await resources.delete(ctx, segments, segment_id)
    except Problem as problem:
        if problem.status == 404:
            raise
        return see_other(ctx, "/segments", problem.detail or problem.title, "error")
    return see_other(ctx, "/segments", "Segment deleted.")
