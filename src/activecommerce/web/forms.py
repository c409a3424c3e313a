"""The console's forms: reading what a form sent (urlencoded or multipart, a name's every
value, a checkbox), validating it with the API's model, and a service's refusal back
into the form (errors next to their fields) or into a flash message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request

from activecommerce.api.html import read_form
from activecommerce.kit.fields import ascii_digits
from activecommerce.kit.problems import Problem, invalid_body

ModelT = TypeVar("ModelT", bound=BaseModel)

# The email content of the campaign and automation editors, by API name.
CONTENT_FIELDS = (
    "name",
    "subject",
    "fromEmail",
    "fromName",
    "replyToEmail",
    "htmlContent",
    "plaintextContent",
    "brandId",
)
CONTENT_REQUIRED = frozenset({"name", "subject", "fromEmail"})


# ---------------------------------------------------------------- reading a form


async def form_of(request: Request) -> dict[str, str]:
    """The submitted urlencoded form, the first value of each name (already checked for
    CSRF by the router)."""
    return await read_form(request) or {}


async def pairs_of(request: Request) -> list[tuple[str, str]]:
    """Every (name, value) of the urlencoded form in order, a name repeated for each of
    its values (checkboxes, a multiple select); none if it is not a form, or is over the
    size of one."""
    if await read_form(request) is None:
        return []
    body = await request.body()
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)


def every(pairs: list[tuple[str, str]], name: str) -> list[str]:
    """Every value sent for `name`, in order."""
    return [value for key, value in pairs if key == name]


async def form_data(request: Request) -> FormData:
    """The submitted form, urlencoded or multipart (the editors post multipart: their
    bodies can be larger than an urlencoded console form may be), every value of a name."""
    return await request.form()


def text(form: Any, name: str) -> str:
    """A text field of a form (a dict or `FormData`); "" when absent or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def checked(form: Any, name: str) -> bool:
    """Whether a checkbox (sent as "on" when ticked) is ticked."""
    return text(form, name) == "on"


def whole_number(value: str, max_digits: int) -> int | str | None:
    """A typed whole number: None when blank, an int when it is digits only (at most
    `max_digits`), else the text as typed, for the API's model to refuse in its words."""
    value = value.strip()
    if not value:
        return None
    return int(value) if ascii_digits(value) and len(value) <= max_digits else value


def content_values(form: Any) -> dict[str, Any]:
    """The email content fields of an editor's form, by API name ("" is left out for
    the optional ones)."""
    return {
        name: text(form, name) if name in CONTENT_REQUIRED else (text(form, name) or None)
        for name in CONTENT_FIELDS
    }


TRACKING_FIELDS = ("trackOpens", "trackClicks")


def tracking_values(form: Any) -> dict[str, bool]:
    """The tracking checkboxes of an editor's form, by API name (unticked: off)."""
    return {name: checked(form, name) for name in TRACKING_FIELDS}


def validated(model: type[ModelT], values: dict[str, Any]) -> ModelT:
    """A form's values (API names) validated as the API validates a request body; its
    refusal is the API's 422 Problem."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid_body(exc) from None


# ---------------------------------------------------------------- refusals


@dataclass(slots=True)
class FormErrors:
    """A refused form: field errors (shown next to their fields by the `field` macro of
    _forms.html) and a message for the whole form."""

    fields: dict[str, str] = field(default_factory=dict)
    message: str = ""

    @classmethod
    def of(cls, problem: Problem, names: dict[str, str] | None = None) -> FormErrors:
        """From a service's Problem: its `errors` by field (API field names may be mapped
        to the form's with `names`), its detail as the message."""
        names = names or {}
        fields: dict[str, str] = {}
        for error in problem.errors or []:
            name = names.get(error.get("field", ""), error.get("field", ""))
            fields.setdefault(name, error.get("message", "is invalid"))
        message = "Check the fields marked below." if fields else (problem.detail or problem.title)
        return cls(fields, message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.message)


def problem_text(problem: Problem, what: str = "") -> str:
    """A refusal in one line, for a flash message: its field errors ("field message",
    each after `what: ` when given), else its detail."""
    prefix = f"{what}: " if what else ""
    errors = "; ".join(
        f"{prefix}{e.get('field', '')} {e.get('message', '')}".strip() for e in problem.errors or []
    )
    return errors or problem.detail or problem.title
