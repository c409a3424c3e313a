"""A collection's API fields are derived from its table's columns."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import Boolean, Column, ForeignKey, Integer, MetaData, String, Table, Text

from activecommerce.kit.fields import Input, Output
from activecommerce.kit.problems import invalid_body
from activecommerce.kit.resource import Field, Resource, field_of

things = Table(
    "things",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("env", String(8), nullable=False),
    Column("display_name", String(255), nullable=False),
    Column("owner_id", Integer, ForeignKey("owners.id"), info={"api": "owner"}),
    Column("enabled", Boolean, nullable=False),
    Column("spec", Text, info={"json": True}),
    Column("state", String(16), nullable=False, default="new"),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)


class ThingIn(Input):
    displayName: str
    owner: str | None = None


class ThingOut(Output):
    id: str
    displayName: str
    owner: str | None
    state: str


def resource(create: type[BaseModel] = ThingIn) -> Resource:
    return Resource(
        collection="things",
        table=things,
        title="thing",
        event_name="thing",
        create_model=create,
        patch_model=create,
        out_model=ThingOut,
        sortable={},
    )


def test_fields_come_from_the_columns() -> None:
    assert [field_of(c) for c in things.columns][3:8] == [
        Field("displayName", "display_name", nullable=False),
        Field("owner", "owner_id", kind="ref"),
        Field("enabled", "enabled", kind="bool", nullable=False),
        Field("spec", "spec", kind="json"),
        Field("state", "state", nullable=False, insert_default="new"),
    ]


def test_models_say_what_is_shown_and_updated() -> None:
    r = resource()
    assert [f.api for f in r.fields] == ["displayName", "owner", "enabled", "spec", "state"]
    assert [f.api for f in r.shown] == ["displayName", "owner", "state"]
    assert [f.api for f in r.updatable] == ["displayName", "owner"]


def test_a_model_field_without_a_column_is_refused() -> None:
    class Stray(ThingIn):
        colour: str

    with pytest.raises(ValueError, match="colour"):
        resource(Stray)


def test_a_model_refused_after_the_request_is_the_body_422() -> None:
    with pytest.raises(ValidationError) as refused:
        ThingIn.model_validate({"displayName": None})
    problem = invalid_body(refused.value)
    assert problem.status == 422
    assert problem.errors == [{"field": "displayName", "message": "Input should be a valid string"}]
