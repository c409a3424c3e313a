"""A segment as the API shows it, and its condition tree as the OpenAPI document
describes it.

The tree's models below only document it (a JSON Schema with a choice of node kinds):
the body takes any JSON there, and `segments.conditions.check` is what checks it, so that
a mistake is a 422 naming where it is (`conditions.all.2.value`) rather than a list of
every union member that did not fit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from activecommerce.contacts.schemas import ContactOut
from activecommerce.kit.fields import Input, Name, Output

EXAMPLE = {
    "all": [
        {"field": "fields.city", "op": "eq", "value": "Berlin"},
        {"tag": "17", "has": True},
        {"any": [{"email": "opened", "withinDays": 30}, {"group": "7", "in": True}]},
    ]
}
AnId = Annotated[str | int, Field(description="An id: a string (or an integer)")]


class FieldCondition(Input):
    """Compares a contact's field. Text comparisons ignore case; a comparison on a field
    the contact has not set is false (`ne` and `not_contains` too): `is_not_set` finds
    those contacts."""

    field: str = Field(
        description="`email`, `firstName`, `lastName`, `phone`, `status`, `createdAt`,"
        " `updatedAt`, or `fields.<key>` (a custom field)",
        examples=["fields.city"],
    )
    op: Literal[
        "eq",
        "ne",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "gt",
        "gte",
        "lt",
        "lte",
        "in",
        "is_set",
        "is_not_set",
        "within_last_days",
        "more_than_days_ago",
    ]
    value: Any = Field(
        None,
        description="Typed by the field (text, number, `YYYY-MM-DD`, true/false, an option);"
        " a list for `in`; a whole number of days for `within_last_days` and"
        " `more_than_days_ago`; left out for `is_set` and `is_not_set`",
        examples=["Berlin"],
    )


class TagCondition(Input):
    """The contact has (or has not) this tag."""

    tag: AnId
    has: bool


class GroupCondition(Input):
    """The contact is (or is not) in this group."""

    group: AnId
    in_: bool = Field(alias="in")


class EmailCondition(Input):
    """The contact received, opened or clicked an email of a campaign (any campaign when
    `campaignId` is left out), within the last `withinDays` days if given; `negate`
    turns it around. A click counts as an open."""

    email: Literal["received", "opened", "clicked"]
    campaignId: AnId | None = None
    withinDays: int | None = Field(None, ge=0, le=36500)
    negate: bool = False


class DealMatch(Input):
    pipelineId: AnId | None = None
    stageId: AnId | None = None
    statusId: AnId | None = None


class DealCondition(Input):
    """The contact has (or has not) a deal in this pipeline / stage / status (any deal
    when none is given)."""

    deal: DealMatch
    has: bool


# The children of all / any / not are nodes again (any of the kinds here). The document
# shows them as objects rather than as a recursive reference: a generator of test cases
# that enumerates a schema's branches (schemathesis' coverage phase) spends minutes on
# a recursive union, for nothing the checks of `conditions.check` do not already test.
Child = Annotated[
    dict[str, Any],
    Field(description="A node: all, any, not, or a field, tag, group, email or deal condition"),
]


class AllOf(Input):
    """Every condition of the list holds."""

    all: list[Child] = Field(min_length=1)


class AnyOf(Input):
    """At least one condition of the list holds."""

    any: list[Child] = Field(min_length=1)


class NotOf(Input):
    """The condition does not hold."""

    not_: Child = Field(alias="not")


Node = (
    AllOf | AnyOf | NotOf | FieldCondition | TagCondition | GroupCondition | EmailCondition
) | DealCondition

CONDITIONS_DESCRIPTION = (
    'Which contacts the segment holds: `{"all": [...]}`, `{"any": [...]}`,'
    ' `{"not": {...}}` or one condition (a field comparison, a tag, a group, email'
    " activity, a deal), at most 5 levels of all/any/not and 50 conditions. Naming a field,"
    " tag, group, campaign, pipeline, stage or deal status the account does not have is a"
    " 422 naming where (`conditions.all.2.tag`). See the segments guide."
)


def _as_it_is(value: Any) -> Any:
    """The value as sent, if it can be written back as JSON (text without lone
    surrogates, at most 255 levels deep)."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise ValueError("must be JSON of valid Unicode text, nested at most 255 deep") from None
    return value


class DocumentedAs:
    """Any JSON value, read and written as it is, whose JSON Schema is `kind`'s (with
    `example`, which the schema of an optional field keeps too: a PATCH body's)."""

    def __init__(self, kind: Any, example: Any) -> None:
        self.kind = kind
        self.example = example

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        documented = handler(self.kind)

        def with_example(schema: CoreSchema, json: GetJsonSchemaHandler) -> JsonSchemaValue:
            out = json(schema)
            out["examples"] = [self.example]
            return out

        return core_schema.no_info_plain_validator_function(
            _as_it_is,
            json_schema_input_schema=documented,
            metadata={"pydantic_js_functions": [with_example]},
        )


# Any JSON, checked by `conditions.check`; documented as the tree.
Conditions = Annotated[
    Any,
    DocumentedAs(Node, EXAMPLE),
    Field(description=CONDITIONS_DESCRIPTION),
]


class SegmentIn(Input):
    name: Name
    conditions: Conditions


class SegmentOut(Output):
    id: str
    name: str
    conditions: dict[str, Any] = Field(
        description="The tree as it was checked (ids as strings)", examples=[EXAMPLE]
    )
    createdAt: datetime
    updatedAt: datetime


class SegmentPreviewIn(Input):
    conditions: Conditions


class SegmentPreviewOut(Output):
    count: int = Field(description="How many contacts (of every status) match, exactly")
    sample: list[ContactOut] = Field(description="Up to 10 of them, the newest first")
