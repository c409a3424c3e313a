"""Collections whose only field is a unique name (contact groups, contact tags)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, create_model
from sqlalchemy import Table

from activecommerce.kit.fields import Input, Name, Output, patch_model_of
from activecommerce.kit.resource import Resource

NAME_SORTS = {"createdAt": "created_at", "updatedAt": "updated_at", "name": "name"}


def named_resource(
    *, collection: str, table: Table, title: str, model_name: str, event_name: str
) -> Resource:
    create: type[BaseModel] = create_model(f"{model_name}In", __base__=Input, name=(Name, ...))
    out: type[BaseModel] = create_model(
        f"{model_name}Out",
        __base__=Output,
        id=(str, ...),
        name=(str, ...),
        createdAt=(datetime, ...),
        updatedAt=(datetime, ...),
    )
    return Resource(
        collection=collection,
        table=table,
        event_name=event_name,
        title=title,
        create_model=create,
        patch_model=patch_model_of(create),
        out_model=out,
        sortable=NAME_SORTS,
        unique_messages={"name": f"A {title} with this name already exists."},
    )
