"""The console's form helpers (web/forms.py), without a browser."""

import pytest
from pydantic import BaseModel

from activecommerce.kit.problems import Problem
from activecommerce.web.forms import (
    FormErrors,
    checked,
    content_values,
    every,
    problem_text,
    text,
    validated,
    whole_number,
)


class Thing(BaseModel):
    name: str
    size: int


def test_a_form_is_read_by_name() -> None:
    pairs = [("ids", "1"), ("action", "tag"), ("ids", "2"), ("ids", "")]
    assert every(pairs, "ids") == ["1", "2", ""]
    assert text({"a": "x"}, "a") == "x"
    assert text({"a": object()}, "a") == ""
    assert text({}, "a") == ""
    assert checked({"update": "on"}, "update")
    assert not checked({"update": "true"}, "update")


def test_whole_numbers_are_ints_and_anything_else_is_left_for_the_model() -> None:
    assert whole_number(" 12 ", 9) == 12
    assert whole_number("", 9) is None
    assert whole_number("1.5", 9) == "1.5"
    assert whole_number("1234567890", 9) == "1234567890"


def test_the_editors_content_leaves_out_empty_optional_fields() -> None:
    values = content_values({"name": "", "subject": "Hi", "fromName": ""})
    assert values["name"] == ""
    assert values["subject"] == "Hi"
    assert values["fromName"] is None


def test_a_refused_form_is_the_apis_problem() -> None:
    assert validated(Thing, {"name": "a", "size": "3"}).size == 3
    with pytest.raises(Problem) as caught:
        validated(Thing, {"name": "a", "size": "big"})
    assert caught.value.status == 422
    errors = FormErrors.of(caught.value, {"size": "thing_size"})
    assert list(errors.fields) == ["thing_size"]
    assert errors.message == "Check the fields marked below."


def test_a_refusal_in_one_line() -> None:
    problem = Problem(422, "Invalid.", errors=[{"field": "emails.0", "message": "is bad"}])
    assert problem_text(problem) == "emails.0 is bad"
    assert problem_text(problem, "Test addresses") == "Test addresses: emails.0 is bad"
    assert problem_text(Problem(409, "Still has deals.")) == "Still has deals."
    assert problem_text(Problem(409, title="Conflict")) == "Conflict"
