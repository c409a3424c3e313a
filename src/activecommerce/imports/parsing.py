"""Reading an import's body as it arrives, and checking its rows.

`reader(format)` turns chunks of bytes (any size, cut anywhere) into staged rows, one per
contact: `(line, data, error)`, where `line` is the physical line the row starts on (the
CSV header is line 1; blank lines count), `data` a JSON object and `error` why the row
could not be read at all. Only whole records are parsed; what remains of a chunk waits for
the next one, so memory holds a chunk and one partial record, never the body.

CSV (RFC 4180; the `csv` module): a header row names the columns, `email` required, the
others of `CSV_COLUMNS` optional, any other name refused (422: a misspelt column would
otherwise drop its data silently; so is a header row over MAX_ROW_BYTES). A quoted field
may hold commas, quotes ("") and line breaks. Lines end with LF or CRLF, or with CR alone
when the first one does (old Mac files). An empty cell clears the field (an empty status
keeps it); tags and groups are names separated by `;`, trimmed. A cell whose quotes lead
to a formula character loses its first quote (`'+49 30` is `+49 30`: what the export
writes, kit/csvcells.py). A UTF-8 BOM is skipped. Rows whose cells are all empty are
skipped. A column may also name a custom contact field: by its key, by `fields.<key>`,
or by its name compared case-insensitively (the columns above win over a field named
alike); its cells are read by the field's type when the rows are checked
(`fields.values.parse_text`: `multiselect` options separated by `;`). NDJSON: one JSON
object per line (custom fields as a `fields` object, typed as the API takes them), stored
as sent and checked later; blank lines are skipped.

`check_rows` then validates staged rows with the API's own field types (`ImportRow`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from activecommerce.contacts.bulk import CSV_COLUMNS, LIST_SEPARATOR, ContactRecord
from activecommerce.fields import values
from activecommerce.fields.definitions import FieldDef
from activecommerce.imports.schemas import ImportRow
from activecommerce.kit.csvcells import read_cell
from activecommerce.kit.db import Row

# A row (a CSV record or an NDJSON line) longer than this is failed without being stored.
MAX_ROW_BYTES = 64 * 1024
BOM = b"\xef\xbb\xbf"

Staged = tuple[int, str | None, str | None]  # (line, data, error)

_LISTS = frozenset({"tags", "groups"})
FIELD_PREFIX = "fields."


def field_columns(defs: dict[str, FieldDef]) -> dict[str, str]:
    """The header names that mean a custom field (its key, `fields.<key>`, its name
    lower-cased) -> the column as staged (`fields.<key>`)."""
    names: dict[str, str] = {}
    for field in sorted(defs.values(), key=lambda f: f.id):
        names.setdefault(field.name.strip().lower(), FIELD_PREFIX + field.key)
    for field in defs.values():
        names[field.key] = names[FIELD_PREFIX + field.key] = FIELD_PREFIX + field.key
    for name in CSV_COLUMNS:
        names.pop(name, None)
    return names


_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of bad bytes


class BadFile(Exception):
    """The body as a whole cannot be imported (no header, unknown columns, empty): 422."""


class _Reader:
    """Cuts the byte stream into blocks of whole records (`_boundary`), counting lines."""

    def __init__(self) -> None:
        self.lines = 0  # physical lines read so far
        self.rows = 0  # rows staged so far (blank ones are not)
        self._pending = b""
        self._started = False
        self._skipping = False  # inside a line too long to keep, until its end
        # Lines ended by CR alone (old Mac files)? Decided at the body's first line end;
        # a CR at the end of what has come so far waits for the next byte to tell.
        self._cr_only: bool | None = None
        self._held = b""

    def feed(self, chunk: bytes) -> list[Staged]:
        if not self._started:
            chunk = self._pending + chunk
            if len(chunk) < len(BOM) and BOM.startswith(chunk):
                self._pending = chunk
                return []
            self._started, self._pending = True, b""
            chunk = chunk.removeprefix(BOM)
        chunk = self._line_ends(chunk)
        staged: list[Staged] = []
        if self._skipping:
            end = chunk.find(b"\n")
            if end < 0:
                return staged
            chunk, self._skipping = chunk[end + 1 :], False
        buffer = self._pending + chunk if self._pending else chunk
        cut = self._boundary(buffer)
        if cut < 0 and len(buffer) > MAX_ROW_BYTES:
            cut = buffer.rfind(b"\n") + 1  # give the parser what there is; it fails
            if cut == 0:  # one line longer than any row may be: fail it, skip to its end
                self.lines += 1
                self._pending, self._skipping = b"", True
                return [self._line_too_long()]
        if cut <= 0:
            self._pending = buffer
            return staged
        self._pending = buffer[cut:]
        return self._parse(buffer[:cut])

    def finish(self) -> list[Staged]:
        """The rows of what remains once the body has ended."""
        staged = self.feed(b"") if not self._started else []
        if self._held:  # the body ends with a CR alone: a line end
            self._held, self._cr_only = b"", True
            staged += self.feed(b"\n")
        rest, self._pending = self._pending, b""
        if rest and not self._skipping:
            staged += self._parse(rest if rest.endswith(b"\n") else rest + b"\n")
        if not self._has_content():
            raise BadFile(self._empty_message)
        return staged

    def _line_ends(self, chunk: bytes) -> bytes:
        """`chunk` with CR line ends read as LF, in a file whose first line ends with a CR
        alone (the csv module and the line counts then see the lines they are)."""
        if self._cr_only is None:
            data, self._held = self._held + chunk, b""
            cr, lf = data.find(b"\r"), data.find(b"\n")
            if cr < 0 or 0 <= lf < cr:
                self._cr_only = None if lf < 0 else False
                return data
            if cr == len(data) - 1:
                self._held = b"\r"
                return data[:-1]
            self._cr_only = data[cr + 1 : cr + 2] != b"\n"
            chunk = data
        return chunk.replace(b"\r", b"\n") if self._cr_only else chunk

    def _line_too_long(self) -> Staged:
        return self._staged(self.lines, None, _too_long())

    def _staged(self, line: int, data: str | None, error: str | None) -> Staged:
        self.rows += 1
        return (line, data, error)

    _empty_message = "The file is empty."

    def _has_content(self) -> bool:
        return self.rows > 0

    def _boundary(self, buffer: bytes) -> int:
        """Where the buffer's whole records end (after a line break), or -1."""
        return buffer.rfind(b"\n") + 1 or -1

    def _parse(self, block: bytes) -> list[Staged]:
        raise NotImplementedError


class NdjsonReader(_Reader):
    def _parse(self, block: bytes) -> list[Staged]:
        staged: list[Staged] = []
        lines = block.split(b"\n")
        lines.pop()  # the block ends with a line break: nothing after it
        for raw in lines:
            self.lines += 1
            text = raw.strip()
            if not text:
                continue
            if len(text) > MAX_ROW_BYTES:
                staged.append(self._staged(self.lines, None, _too_long()))
                continue
            try:
                staged.append(self._staged(self.lines, text.decode(), None))
            except UnicodeDecodeError:
                staged.append(self._staged(self.lines, None, _NOT_UTF8_MESSAGE))
        return staged


class CsvReader(_Reader):
    """`columns`: what each column of the file is, by position (a name of CSV_COLUMNS, or
    None to ignore it), instead of the names of its header row (the console's column
    mapping); the header row is then read and skipped."""

    def __init__(
        self,
        columns: Sequence[str | None] | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._mapping = None if columns is None else list(columns)
        self._columns: list[str | None] | None = None
        self._fields = fields or {}

    _empty_message = "The file is empty: a CSV import starts with a header row naming its columns."

    def _has_content(self) -> bool:
        return self._columns is not None

    def _line_too_long(self) -> Staged:
        if self._columns is None:
            raise _header_too_long(self.lines)
        return super()._line_too_long()

    def _boundary(self, buffer: bytes) -> int:
        """After the last line break outside quotes: the buffer starts at a record, and
        an even number of quotes before a line break means it is not inside a quoted
        field (RFC 4180). Input the csv module reads otherwise (a stray quote inside an
        unquoted field) only moves the cut; whatever is cut apart fails as rows."""
        end = buffer.rfind(b"\n")
        quotes = buffer.count(b'"', 0, end)
        while end >= 0 and quotes % 2:
            previous = buffer.rfind(b"\n", 0, end)
            quotes -= buffer.count(b'"', previous + 1, end)
            end = previous
        return end + 1 or -1

    def _parse(self, block: bytes) -> list[Staged]:
        try:
            text = block.decode()
            damaged = False
        except UnicodeDecodeError:
            text = block.decode(errors="surrogateescape")
            damaged = True
        records = csv.reader(io.StringIO(text, newline="\n"))
        staged: list[Staged] = []
        base, read = self.lines, 0
        while True:
            line = base + read + 1
            try:
                record = next(records)
            except StopIteration:
                break
            except csv.Error as exc:  # a field over the csv module's limit; it goes on after
                if self._columns is None:
                    raise BadFile(f"The header row (line {line}) cannot be read: {exc}.") from None
                read = records.line_num
                staged.append(self._staged(line, None, str(exc)))
                continue
            read = records.line_num
            if not any(cell.strip() for cell in record):
                continue
            if self._columns is None:
                if sum(map(len, record)) > MAX_ROW_BYTES:
                    raise _header_too_long(line)
                self._columns = _columns(record, self._mapping, self._fields)
                continue
            if damaged and any(_NOT_UTF8.search(cell) for cell in record):
                staged.append(self._staged(line, None, _NOT_UTF8_MESSAGE))
            elif len(record) > len(self._columns):
                message = f"has {len(record)} fields; the header has {len(self._columns)}"
                staged.append(self._staged(line, None, message))
            elif sum(map(len, record)) > MAX_ROW_BYTES:
                staged.append(self._staged(line, None, _too_long()))
            else:
                staged.append(self._staged(line, _record_json(self._columns, record), None))
        self.lines = base + records.line_num
        return staged


def reader(
    format: str,
    columns: Sequence[str | None] | None = None,
    fields: dict[str, str] | None = None,
) -> _Reader:
    """`fields`: the header names of custom fields (`field_columns`)."""
    return CsvReader(columns, fields) if format == "csv" else NdjsonReader()


_NOT_UTF8_MESSAGE = "is not valid UTF-8"


def _too_long() -> str:
    return f"is longer than {MAX_ROW_BYTES} bytes"


def _header_too_long(line: int) -> BadFile:
    return BadFile(
        f"The header row (line {line}) is longer than {MAX_ROW_BYTES} bytes:"
        " is it a CSV file, with a line break after the header?"
    )


def _columns(
    record: list[str], mapping: list[str | None] | None, fields: dict[str, str]
) -> list[str | None]:
    if mapping is None:
        return list(_header(record, fields))
    if len(mapping) != len(record):
        raise BadFile(
            f"The header row has {len(record)} columns; the mapping names {len(mapping)}."
        )
    named = _header([name for name in mapping if name is not None], fields)
    chosen = iter(named)
    return [None if name is None else next(chosen) for name in mapping]


def _header(record: list[str], fields: dict[str, str]) -> list[str]:
    columns = [cell.strip() for cell in record]
    columns = [
        name if name in CSV_COLUMNS else fields.get(name, fields.get(name.lower(), name))
        for name in columns
    ]
    unknown = [
        name for name in columns if name not in CSV_COLUMNS and not name.startswith(FIELD_PREFIX)
    ]
    unknown += [
        name for name in columns if name.startswith(FIELD_PREFIX) and name not in fields.values()
    ]
    if unknown:
        listed = ", ".join(repr(name[:50]) for name in unknown[:10])
        raise BadFile(
            f"Unknown columns in the header row: {listed}. The columns are: "
            f"{', '.join(CSV_COLUMNS)} (email required), and the keys or names of the"
            " account's custom contact fields."
        )
    if len(set(columns)) < len(columns):
        raise BadFile("A column is named twice in the header row.")
    if "email" not in columns:
        raise BadFile("The header row has no email column.")
    return columns


def _record_json(columns: list[str | None], record: list[str]) -> str:
    data: dict[str, Any] = {}
    for name, cell in zip(columns, record, strict=False):
        if name is None:  # an ignored column
            continue
        cell = read_cell(cell)  # "'=1" is the text "=1" (what the export writes)
        if name.startswith(FIELD_PREFIX):  # read by the field's type when checked
            data.setdefault("fields", {})[name.removeprefix(FIELD_PREFIX)] = cell or None
        elif name in _LISTS:
            data[name] = [part.strip() for part in cell.split(LIST_SEPARATOR) if part.strip()]
        elif name in ("email", "status"):
            if cell.strip():  # an empty status keeps the contact's
                data[name] = cell.strip()
        else:
            data[name] = cell or None
    for name in columns[len(record) :]:  # a short record: the missing cells are empty
        if name is None:
            continue
        if name.startswith(FIELD_PREFIX):
            data.setdefault("fields", {})[name.removeprefix(FIELD_PREFIX)] = None
        elif name in _LISTS:
            data[name] = []
        elif name not in ("email", "status"):
            data[name] = None
    return orjson.dumps(data).decode()


# ---------------------------------------------------------------- checking rows


def check_rows(
    rows: list[Row], defs: dict[str, FieldDef] | None = None, *, text: bool = False
) -> tuple[list[ContactRecord], list[tuple[int, str]]]:
    """Staged rows (line, data, error) as valid records and (line, message) failures.
    `defs`: the account's custom fields; `text`: their values are CSV cells (else JSON
    values, NDJSON). CPU only (no I/O)."""
    defs = defs or {}
    records: list[ContactRecord] = []
    failures: list[tuple[int, str]] = []
    for row in rows:
        line = int(row["line"])
        if row["error"] is not None:
            failures.append((line, row["error"]))
            continue
        try:
            data = orjson.loads(row["data"])
        except orjson.JSONDecodeError:
            failures.append((line, "is not valid JSON"))
            continue
        if not isinstance(data, dict):
            failures.append((line, "is not a JSON object"))
            continue
        try:
            checked = ImportRow.model_validate(data)
        except ValidationError as exc:
            failures.append((line, _message(exc)))
            continue
        given = checked.model_fields_set
        fields = {name: getattr(checked, name) for name in _FIELDS if name in given}
        try:
            custom = _custom(defs, checked.fields or {}, text)
        except values.BadValue as exc:
            failures.append((line, str(exc)[:300]))
            continue
        records.append(
            ContactRecord(
                line, checked.email, fields, checked.tags or [], checked.groups or [], custom
            )
        )
    return records, failures


_FIELDS = ("firstName", "lastName", "phone", "status")


def _custom(defs: dict[str, FieldDef], given: dict[str, Any], text: bool) -> dict[str, Any]:
    """A row's custom field values by key (None: cleared), checked by `fields.values`;
    BadValue("fields.<key>: why") for the first bad one."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        field = defs.get(key)
        try:
            if text and field is not None and isinstance(value, str):
                out[key] = values.parse_text(field, value)
            else:
                out[key] = values.check(field, value)
        except values.BadValue as exc:
            shown = key[:100].encode("utf-8", "backslashreplace").decode()
            raise values.BadValue(f"fields.{shown}: {exc}") from None
    return out


def _message(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "row"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"[:300]
