"""The HTTP server (`activecommerce serve`): read timeouts, keep-alive, the connection
limit, and the file limit it stays under."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import wait_until
from servers import cli_account, running_server, server_env


def test_connection_limit_stays_under_the_file_limit() -> None:
    """With a soft limit of 512 open files and no room to raise it, the server accepts
    fewer connections than configured, leaving descriptors for the database and
    deliveries; with room, it raises the soft limit to the hard one first."""
    import resource
    import subprocess
    import sys

    probe = (
        "import resource; from activecommerce.server import connection_budget as b; "
        "print(b(1000), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )

    def run(soft: int, hard: int) -> tuple[int, int]:
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

        out = subprocess.run(
            [sys.executable, "-c", probe], preexec_fn=limit, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        budget, now = out.stdout.split()
        return int(budget), int(now)

    assert run(512, 512) == (256, 512)
    budget, soft = run(512, 4096)
    assert (budget, soft) == (1000, 4096)


@pytest.fixture(scope="module")
def http_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int, Path]]:
    tmp = tmp_path_factory.mktemp("http")
    env = server_env(
        database_url,
        tmp,
        ACTIVECOMMERCE_HTTP_HEADER_TIMEOUT_SECONDS="2",
        ACTIVECOMMERCE_HTTP_BODY_TIMEOUT_SECONDS="2",
        ACTIVECOMMERCE_HTTP_KEEPALIVE_SECONDS="1",
        ACTIVECOMMERCE_HTTP_MAX_CONNECTIONS="10",
    )
    with running_server(env, tmp / "serve.log") as (base, log):
        yield "127.0.0.1", int(base.rsplit(":", 1)[1]), log


def _connect(server: tuple[str, int, Path]) -> socket.socket:
    s = socket.create_connection(server[:2], timeout=10)
    return s


def _read_until_closed(s: socket.socket, limit: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed."""
    started = time.monotonic()
    s.settimeout(limit)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {limit} s: {data!r}") from None
    except ConnectionResetError:
        pass
    return data, time.monotonic() - started


def test_normal_request_then_idle_keepalive_connection_is_closed(
    http_server: tuple[str, int, Path],
) -> None:
    s = _connect(http_server)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    data, closed_after = _read_until_closed(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert b'{"status":"ok"}' in data
    assert 0.5 < closed_after < 5, closed_after  # the 1 s keep-alive timeout


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connected, sent nothing
        b"GET /v3/cont",  # half a request line
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: 1",  # half the headers
    ],
    ids=["idle", "half-request-line", "half-headers"],
)
def test_incomplete_request_head_is_closed_after_header_timeout(
    http_server: tuple[str, int, Path], sent: bytes
) -> None:
    s = _connect(http_server)
    s.sendall(sent)
    data, closed_after = _read_until_closed(s)
    s.close()
    assert 1.5 < closed_after < 6, closed_after  # the 2 s header timeout
    assert data.startswith(b"HTTP/1.1 408"), data
    assert b"application/problem+json" in data, data


def test_dripped_body_is_closed_after_body_timeout(http_server: tuple[str, int, Path]) -> None:
    s = _connect(http_server)
    s.sendall(
        b"POST /v3/contacts HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    started = time.monotonic()
    s.settimeout(0.3)
    try:
        for _ in range(40):  # a byte every 0.3 s: never idle long, never finished
            s.sendall(b" ")
            with contextlib.suppress(TimeoutError):
                if s.recv(65536) == b"":
                    break
    except (BrokenPipeError, ConnectionResetError):
        pass
    closed_after = time.monotonic() - started
    s.close()
    assert closed_after < 6, closed_after  # the 2 s body timeout


def test_connections_over_the_limit_get_503_and_one_log_line(
    http_server: tuple[str, int, Path],
) -> None:
    # The scenario: the 1 s keep-alive timeout passes, and the other tests' kept-alive
    # connections are closed (the server shows no count of them to wait for).
    time.sleep(1.2)
    held = [_connect(http_server) for _ in range(10)]
    try:
        time.sleep(0.3)  # the server accepts the ten (idle: nothing to observe but time)
        answers = []
        for _ in range(5):
            extra = _connect(http_server)
            answers.append(_read_until_closed(extra, 3.0)[0])
            extra.close()
        for data in answers:
            assert data.startswith(b"HTTP/1.1 503"), data
            assert b"retry-after: 1" in data, data
    finally:
        for s in held:
            s.close()
    url = f"http://{http_server[0]}:{http_server[1]}/healthz"
    wait_until(lambda: httpx.get(url, timeout=5).status_code == 200, 5.0, "a free connection")
    lines = [ln for ln in http_server[2].read_text().splitlines() if "connection limit" in ln]
    assert len(lines) == 1, lines


def test_an_import_body_is_timed_between_chunks_not_as_a_whole(
    http_server: tuple[str, int, Path], database_url: str, tmp_path: Path
) -> None:
    """A contact import's body may take longer than the 2 s body timeout while bytes keep
    arriving; a stalled one is still cut off after 2 s without a byte."""
    key = cli_account(server_env(database_url, tmp_path))["sandboxApiKey"]
    head = (
        f"POST /v3/contactImports HTTP/1.1\r\nHost: t\r\nApi-Token: {key}\r\n"
        "Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()

    def chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    s = _connect(http_server)
    s.sendall(head + chunk(b"email\n"))
    started = time.monotonic()
    for i in range(12):  # a row every 0.3 s: 3.6 s in all
        time.sleep(0.3)
        s.sendall(chunk(b"slow%d@example.com\n" % i))
    s.sendall(b"0\r\n\r\n")
    s.settimeout(10)
    answer = s.recv(65536)
    s.close()
    assert time.monotonic() - started > 3
    assert answer.startswith(b"HTTP/1.1 202"), answer

    s = _connect(http_server)
    s.sendall(head + chunk(b"email\nstalled@example.com\n"))
    data, closed_after = _read_until_closed(s)
    s.close()
    assert closed_after < 6, closed_after  # 2 s without a byte
    assert not data.startswith(b"HTTP/1.1 202"), data
