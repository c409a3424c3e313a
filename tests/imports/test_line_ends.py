"""Imports whose lines end oddly: CR alone (old Mac files) is read as a line end, small or
large, however the body is cut; a header row longer than a row may be says so (not "the
file is empty")."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from helpers import problem
from test_imports import CSV, NDJSON, contacts_by_email, finished, imported, started


async def _pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_cr_only_line_ends_are_line_ends(api: httpx.AsyncClient) -> None:
    body = b"email,firstName\rann@example.com,Ann\rnot-an-email,X\r\rbob@example.com,Bob"
    done = await imported(api, body)
    assert (done["status"], done["created"], done["failed"]) == ("completed", 2, 1), done
    assert [e["line"] for e in done["errors"]] == [3]  # the header is line 1
    found = await contacts_by_email(api)
    assert (found["ann@example.com"]["firstName"], found["bob@example.com"]["firstName"]) == (
        "Ann",
        "Bob",
    )


async def test_a_large_cr_only_file_and_one_cut_after_its_crs(api: httpx.AsyncClient) -> None:
    rows = b"".join(b"p%05d@example.com,Person %05d\r" % (i, i) for i in range(2500))
    body = b"email,firstName\r" + rows  # ~90 KB, over the 64 KiB a line may have
    done = await imported(api, body)
    assert (done["created"], done["failed"]) == (2500, 0), done
    # A CR at the end of one chunk, and at the very end of the body.
    cut = await started(
        api, _pieces(b"email,firstName\r", b"cy@example.com,Cy\r", b"dee@example.com,Dee\r")
    )
    done = await finished(api, cut["id"])
    assert (done["created"], done["failed"]) == (2, 0), done
    # CRLF cut between its CR and LF is still one line end each.
    cut = await started(
        api, _pieces(b"email,firstName\r", b"\neve@example.com,Eve\r", b"\nx,Y\r\n")
    )
    done = await finished(api, cut["id"])
    assert (done["created"], done["failed"], done["errors"][0]["line"]) == (1, 1, 3), done
    ndjson = b'{"email": "fay@example.com"}\r{"email": "gus@example.com"}\r'
    assert (await imported(api, ndjson, NDJSON))["created"] == 2


async def test_a_header_row_over_the_row_limit_is_named(api: httpx.AsyncClient) -> None:
    header = b"email," + b"x" * 70_000 + b"\nann@example.com\n"
    r = await api.post("/v3/contactImports", content=header, headers=CSV)
    detail = problem(r, 422)["detail"]
    assert "header row" in detail
    assert "longer than 65536 bytes" in detail
    # Streamed in small chunks as well.
    r = await api.post(
        "/v3/contactImports",
        content=_pieces(*(header[i : i + 4096] for i in range(0, len(header), 4096))),
        headers=CSV,
    )
    assert "longer than 65536 bytes" in problem(r, 422)["detail"]
    # A quoted header field over the csv module's own limit.
    r = await api.post(
        "/v3/contactImports", content=b'email,"' + b"y" * 140_000 + b'"\n', headers=CSV
    )
    assert "header row" in problem(r, 422)["detail"]
