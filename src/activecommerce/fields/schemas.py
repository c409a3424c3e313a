from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from activecommerce.fields.definitions import FieldType
from activecommerce.fields.values import storable_json
from activecommerce.kit.fields import Input, Name, Output

Key = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$"),
    Field(
        description="How the API, imports, exports and templates name the field: a lower-case"
        " letter, then up to 39 lower-case letters, digits or underscores. Fixed at creation.",
        examples=["plan"],
    ),
]
Option = Annotated[
    Name, Field(description="A choice of a dropdown or multiselect field", examples=["Gold"])
]


class ContactFieldIn(Input):
    name: Annotated[Name, Field(description="The label people see", examples=["Plan"])]
    key: Key
    type: Annotated[
        FieldType,
        Field(
            description="What its values are (fixed at creation): text (a string), number"
            " (a JSON number), date (YYYY-MM-DD), boolean, dropdown (one of `options`),"
            " multiselect (a list of `options`)",
            examples=["dropdown"],
        ),
    ]
    options: Annotated[
        list[Option],
        Field(
            max_length=200,
            description="The choices of a dropdown or multiselect field (other types have"
            " none). While it is empty, such a field takes no value.",
            examples=[["Free", "Gold"]],
            default_factory=list,
        ),
    ]
    required: Annotated[
        bool,
        Field(description="Whether every contact made or replaced must have a value"),
    ] = False
    defaultValue: Annotated[
        Any,
        AfterValidator(storable_json),
        Field(
            description="The value a new contact gets when none is sent, typed like the"
            " field; null for none",
            examples=["Free"],
        ),
    ] = None


class ContactFieldOut(Output):
    id: str
    name: Annotated[str, Field(examples=["Plan"])]
    key: Annotated[str, Field(examples=["plan"])]
    type: Annotated[FieldType, Field(examples=["dropdown"])]
    options: Annotated[list[str], Field(examples=[["Free", "Gold"]])]
    required: Annotated[bool, Field(examples=[False])]
    defaultValue: Annotated[Any, Field(examples=["Free"])]
    createdAt: datetime
    updatedAt: datetime
