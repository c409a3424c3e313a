"""A contact's custom field values: the one place that says what a value of each field
type is, and how the values sent (by the API, an import row, a CSV cell) become what is
stored in `contacts.fields` and back.

Stored: a JSON object keyed by the field's id as text (`FieldDef.slot`), holding only the
fields that have a value. Shown: an object keyed by the field's key, in the order the
fields were made. A value stored for a field since deleted is never shown, and is dropped
the next time the contact's fields are written.

Values, by type (as JSON):
- text: a string of at most MAX_TEXT characters (no NUL);
- number: a JSON number (not a string, not a boolean), finite, at most MAX_NUMBER in size;
- date: a string `YYYY-MM-DD` naming a real date;
- boolean: true or false;
- dropdown: one of the field's options (exactly as written there);
- multiselect: a list of the field's options, stored without repeats in the options' order
  (an empty list is no value, like null).
A dropdown or multiselect without options takes no value. `null` means no value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import orjson

from activecommerce.fields.definitions import FieldDef, FieldType
from activecommerce.kit.problems import Problem

MAX_TEXT = 10_000
MAX_NUMBER = 1e15  # beyond this, JavaScript clients lose digits of whole numbers
MAX_OPTIONS = 200
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CHOICE_TYPES: frozenset[FieldType] = frozenset({"dropdown", "multiselect"})
# CSV cells for booleans (compared case-insensitively).
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
CSV_LIST_SEPARATOR = ";"


class BadValue(ValueError):
    """A value the field cannot take; the message says why (for `fields.<key>`)."""


def check(field: FieldDef | None, value: Any) -> Any:
    """`value` (JSON) as stored for `field`, or BadValue. None is no value."""
    if field is None:
        raise BadValue("is not a custom field of this account")
    if value is None:
        return None
    return check_typed(field.type, field.options, value)


def check_typed(kind: FieldType, options: tuple[str, ...], value: Any) -> Any:
    """A non-null value of a field of type `kind` with these options, as stored."""
    if kind == "text":
        if not isinstance(value, str):
            raise BadValue("must be a string")
        if len(value) > MAX_TEXT:
            raise BadValue(f"must be at most {MAX_TEXT} characters")
        if "\x00" in value:
            raise BadValue("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadValue("must be valid Unicode (no lone surrogates)") from None
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadValue("must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise BadValue("must be a finite number")
        if abs(value) > MAX_NUMBER:
            raise BadValue(f"must be between -{MAX_NUMBER:.0e} and {MAX_NUMBER:.0e}")
        return value
    if kind == "date":
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise BadValue("must be a date written YYYY-MM-DD")
        try:
            date.fromisoformat(value)
        except ValueError:
            raise BadValue("is not a real date") from None
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise BadValue("must be true or false")
        return value
    if kind == "multiselect" and value == []:
        return None  # no value, even without options
    if not options:
        raise BadValue("has no options yet, so it takes no value")
    if kind == "dropdown":
        if not isinstance(value, str):
            raise BadValue("must be one of the field's options")
        if value not in options:
            raise BadValue(f"{value[:100]!r} is not one of the field's options")
        return value
    # multiselect
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadValue("must be a list of the field's options")
    unknown = [v for v in value if v not in options]
    if unknown:
        raise BadValue(f"{unknown[0][:100]!r} is not one of the field's options")
    chosen = set(value)
    # An empty list is no value: the key is left out, like null.
    return [option for option in options if option in chosen] or None


def parse_text(field: FieldDef, cell: str) -> Any:
    """A CSV cell as the field's value (None: an empty cell, no value), or BadValue.
    Numbers are written with a dot; booleans true/false, yes/no or 1/0; dates
    YYYY-MM-DD; a multiselect's options separated by `;`."""
    text = cell.strip()
    if not text:
        return None
    value: Any = text
    if field.type == "text":
        value = cell
    elif field.type == "number":
        value = _number(text)
    elif field.type == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            value = True
        elif lowered in _FALSE:
            value = False
        else:
            raise BadValue("must be true or false (or yes/no, 1/0)")
    elif field.type == "multiselect":
        value = [part.strip() for part in text.split(CSV_LIST_SEPARATOR) if part.strip()]
    return check_typed(field.type, field.options, value)


def _number(text: str) -> int | float:
    try:
        if re.fullmatch(r"[+-]?[0-9]{1,16}", text):
            return int(text)
        number = float(text)
    except ValueError:
        raise BadValue("must be a number") from None
    if not math.isfinite(number) or not re.fullmatch(r"[0-9eE.+-]+", text):
        raise BadValue("must be a number")
    return number


def to_text(field: FieldDef, value: Any) -> str:
    """A stored value as a CSV cell that `parse_text` reads back to the same value."""
    if value is None:
        return ""
    if field.type == "multiselect" and isinstance(value, list):
        return CSV_LIST_SEPARATOR.join(str(v) for v in value)
    if field.type == "boolean":
        return "true" if value else "false"
    if field.type == "number" and isinstance(value, float) and value.is_integer():
        return repr(value)  # "3.0": keeps reading back as the float it was
    return str(value)


# ---------------------------------------------------------------- stored <-> shown


def loads(raw: Any) -> dict[str, Any]:
    """`contacts.fields` as read (JSON text, NULL, or already a dict) as a dict."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    loaded = orjson.loads(raw)
    return loaded if isinstance(loaded, dict) else {}


def dumps(values: Mapping[str, Any]) -> str | None:
    """Stored values as the column's text (None when there are none)."""
    kept = {slot: value for slot, value in values.items() if value is not None}
    return orjson.dumps(kept).decode() if kept else None


def shown(stored: Any, defs: Mapping[str, FieldDef]) -> dict[str, Any]:
    """Stored values (keyed by slot) as the API shows them: keyed by key, the account's
    fields only, in the order they were made."""
    values = loads(stored)
    if not values:
        return {}
    return {
        field.key: values[field.slot]
        for field in sorted(defs.values(), key=lambda f: f.id)
        if values.get(field.slot) is not None
    }


def _problem(errors: list[dict[str, str]]) -> Problem:
    return Problem(422, "The request has invalid fields.", errors=errors)


def _error(key: str, message: str) -> dict[str, str]:
    if not KEY_PATTERN.fullmatch(key):  # an unknown key as sent: shown printable, bounded
        key = key[:100].encode("utf-8", "backslashreplace").decode()
    return {"field": f"fields.{key}", "message": message}


def _checked(
    defs: Mapping[str, FieldDef], sent: Mapping[str, Any], errors: list[dict[str, str]]
) -> dict[str, Any]:
    """The sent values (by key) as stored values (by slot; None to clear)."""
    out: dict[str, Any] = {}
    for key, value in sent.items():
        field = defs.get(key)
        try:
            out[field.slot if field else key] = check(field, value)
        except BadValue as exc:
            errors.append(_error(str(key), str(exc)))
    return out


def _required(
    defs: Mapping[str, FieldDef], stored: Mapping[str, Any], keys: Iterable[str] | None = None
) -> list[dict[str, str]]:
    """`is required` for each required field (of `keys`, or all) without a value."""
    wanted = defs.values() if keys is None else [defs[k] for k in keys if k in defs]
    return [
        _error(field.key, "is required")
        for field in wanted
        if field.required and stored.get(field.slot) is None
    ]


def whole(defs: Mapping[str, FieldDef], sent: Mapping[str, Any] | None) -> dict[str, Any]:
    """The stored values of a contact made (POST) or replaced (PUT) with `sent` (by key):
    a field left out takes its default; a required field without a value is a 422."""
    errors: list[dict[str, str]] = []
    values = _checked(defs, sent or {}, errors)
    for field in defs.values():
        if field.key not in (sent or {}) and field.default is not None:
            values[field.slot] = field.default
    if not errors:
        errors = _required(defs, values)
    if errors:
        raise _problem(errors)
    return {slot: value for slot, value in values.items() if value is not None}


def merged(
    defs: Mapping[str, FieldDef], stored: Any, sent: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A PATCH's values: the stored ones (of fields that still exist) with the sent keys
    changed (`null` clears one; clearing a required field is a 422). `sent` None (the
    PATCH set `fields` to null) clears them all."""
    slots = {field.slot for field in defs.values()}
    values = {slot: v for slot, v in loads(stored).items() if slot in slots}
    errors: list[dict[str, str]] = []
    if sent is None:
        cleared = dict.fromkeys(values)
        sent_keys: Iterable[str] = [f.key for f in defs.values() if f.slot in values]
        values.update(cleared)
    else:
        values.update(_checked(defs, sent, errors))
        sent_keys = sent.keys()
    if not errors:
        errors = _required(defs, values, sent_keys)
    if errors:
        raise _problem(errors)
    return {slot: value for slot, value in values.items() if value is not None}


def storable_json(value: Any) -> Any:
    """A pydantic validator of JSON taken as it is (`fields`, `defaultValue`): refuses
    text that cannot be stored or hashed (lone surrogates, NUL) anywhere inside, keys
    included, before anything else reads it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise ValueError("must not contain NUL characters")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


# ---------------------------------------------------------------- a field's own settings


def check_definition(
    kind: FieldType, options: list[str] | None, default: Any
) -> tuple[list[str], Any]:
    """A field's options and default value as stored, or a 422 naming `options` or
    `defaultValue`."""
    options = list(options or [])
    if options and kind not in CHOICE_TYPES:
        raise _problem([{"field": "options", "message": f"a {kind} field has no options"}])
    if len(options) > MAX_OPTIONS:
        raise _problem([{"field": "options", "message": f"at most {MAX_OPTIONS} options"}])
    if len(set(options)) < len(options):
        raise _problem([{"field": "options", "message": "an option is listed twice"}])
    if default is not None:
        try:
            default = check_typed(kind, tuple(options), default)
        except BadValue as exc:
            raise _problem([{"field": "defaultValue", "message": str(exc)}]) from None
    return options, default
