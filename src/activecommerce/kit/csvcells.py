"""CSV cells that spreadsheets do not run (CSV injection, as OWASP advises): a value
starting with = + - @, a tab or a carriage return is written with a leading single quote,
which spreadsheets take as "text, not a formula". So that such a file imports back as it
was, reading a cell removes that quote again: `read_cell(safe_cell(v)) == v` for every
value (a value that itself starts with quotes before such a character gets one more)."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """`value` as written in a CSV file meant to be opened in a spreadsheet."""
    if value.lstrip("'").startswith(FORMULA_START):
        return "'" + value
    return value


def read_cell(cell: str) -> str:
    """The value of a cell of an imported CSV file: one leading quote removed when
    quotes lead to a formula character (what `safe_cell` adds, or a person who typed it)."""
    if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_START):
        return cell[1:]
    return cell
