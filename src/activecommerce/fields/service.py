"""Custom contact fields: the collection (`contactFields`) and its rules. What a value
of each type is lives in `fields.values`; how other domains read the account's fields,
in `fields.definitions`."""

from __future__ import annotations

from typing import Any

from activecommerce.fields import models, values
from activecommerce.fields.schemas import ContactFieldIn, ContactFieldOut
from activecommerce.kit.db import Connection
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.named import NAME_SORTS
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem
from activecommerce.kit.resource import Resource, Rules


class ContactFieldRules(Rules[ContactFieldIn]):
    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        new: ContactFieldIn,
        current: dict[str, Any] | None,
    ) -> dict[str, Any]:
        if current is not None:
            fixed = [
                {"field": name, "message": "is fixed at creation and cannot change"}
                for name, value in (("key", new.key), ("type", new.type))
                if value != current[name]
            ]
            if fixed:
                raise Problem(422, "The request has invalid fields.", errors=fixed)
        options, default = values.check_definition(new.type, new.options, new.defaultValue)
        return {**new.model_dump(mode="json"), "options": options, "defaultValue": default}


contact_fields = Resource(
    collection="contactFields",
    event_name="contactField",
    table=models.contact_fields,
    title="contact field",
    create_model=ContactFieldIn,
    patch_model=patch_model_of(ContactFieldIn),
    out_model=ContactFieldOut,
    sortable=NAME_SORTS,
    unique_messages={"key": "A contact field with this key already exists."},
    rules=ContactFieldRules(),
)
