"""The limiter's Redis client (ratelimit/script.py): RESP replies however they are split,
concurrent calls answered in order on one connection, EVAL when Redis lacks the script,
the database of the URL, and failures that raise at once (refused, late, lost) rather
than hang."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from helpers import redis_url

from activecommerce.ratelimit.script import ReplyError, ScriptClient, command, parse_reply

ECHO = "return {tonumber(ARGV[1]), redis.call('INCR', KEYS[1])}"


def test_commands_are_resp_arrays_of_bulk_strings() -> None:
    assert command(b"GET", b"k") == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    assert command(b"SET", b"", "é".encode()) == b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$2\r\n\xc3\xa9\r\n"


def test_replies_parse_whole_and_not_before_they_are_complete() -> None:
    stream = (
        b"*4\r\n:1\r\n:-3\r\n$5\r\nab\r\nc\r\n*2\r\n+OK\r\n$-1\r\n"
        b"-NOSCRIPT No matching script\r\n*-1\r\n:42\r\n"
    )
    pos, replies = 0, []
    while pos < len(stream):
        parsed = parse_reply(stream, pos)
        assert parsed is not None
        reply, pos = parsed
        replies.append(reply)
    assert replies[0] == [1, -3, b"ab\r\nc", ["OK", None]]
    assert isinstance(replies[1], ReplyError)
    assert str(replies[1]).startswith("NOSCRIPT")
    assert replies[2:] == [None, 42]
    # Cut anywhere inside the first reply, it is not there yet.
    first_end = stream.index(b"$-1\r\n") + 5
    for cut in range(first_end):
        assert parse_reply(stream[:cut], 0) is None, cut
    assert parse_reply(stream[:first_end], 0) == (replies[0], first_end)


@pytest.fixture
async def raw() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url())
    yield client
    await client.aclose()


async def test_concurrent_calls_share_one_connection_and_get_their_own_replies(
    raw: aioredis.Redis,
) -> None:
    key = f"ac-test-{uuid.uuid4().hex[:8]}".encode()
    # A script of its own (a unique comment): Redis has not seen it, so the first call
    # gets NOSCRIPT and is sent again as EVAL; later calls find it.
    client = ScriptClient(redis_url(), f"-- {key.decode()}\n{ECHO}")
    try:
        replies = await asyncio.gather(*(client.run([key], [b"%d" % i]) for i in range(200)))
        assert [r[0] for r in replies] == list(range(200))
        assert sorted(r[1] for r in replies) == list(range(1, 201))
        assert (await client.run([key], [b"7"])) == [7, 201]
        assert client._connection is not None
    finally:
        await client.close()
        await raw.delete(key)


async def test_the_database_of_the_url_is_used(raw: aioredis.Redis) -> None:
    key = f"ac-test-{uuid.uuid4().hex[:8]}"
    base = redis_url().rsplit("/", 1)[0]
    client = ScriptClient(f"{base}/3", ECHO)
    in_db3 = aioredis.Redis.from_url(f"{base}/3")
    try:
        assert (await client.run([key.encode()], [b"1"])) == [1, 1]
        assert await in_db3.get(key) == b"1"
        assert await raw.exists(key) == 0
    finally:
        await client.close()
        await in_db3.delete(key)
        await in_db3.aclose()


async def test_error_replies_raise(raw: aioredis.Redis) -> None:
    key = f"ac-test-{uuid.uuid4().hex[:8]}"
    await raw.rpush(key, "x")
    client = ScriptClient(redis_url(), ECHO)
    try:
        with pytest.raises(ReplyError, match="WRONGTYPE"):
            await client.run([key.encode()], [b"1"])
        assert (await client.run([f"{key}-other".encode()], [b"2"])) == [2, 1]  # still usable
    finally:
        await client.close()
        await raw.delete(key, f"{key}-other")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_refused_raises_at_once_and_waits_before_connecting_again() -> None:
    client = ScriptClient(f"redis://127.0.0.1:{_free_port()}/0", ECHO, retry_after=30)
    with pytest.raises(ConnectionRefusedError):
        await client.run([b"k"], [b"1"])
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="not retrying yet"):
        await client.run([b"k"], [b"1"])
    assert time.monotonic() - started < 0.05
    await client.close()


async def _serving(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"redis://127.0.0.1:{port}/0"


async def test_a_redis_that_does_not_answer_times_out_every_waiting_call() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads, never answers, until the client goes
        writer.close()

    server, url = await _serving(silent)
    client = ScriptClient(url, ECHO, timeout=0.3)
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.run([b"k"], [b"1"]) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, TimeoutError) for r in results), results
        assert 0.25 <= time.monotonic() - started < 1.5
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


async def test_a_connection_lost_mid_call_raises_and_the_next_call_reconnects() -> None:
    connections = 0

    async def hang_up_then_answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal connections
        connections += 1
        await reader.read(1)
        if connections == 1:
            writer.close()  # the first connection is lost with a call waiting
            return
        await asyncio.sleep(0.05)  # the rest of the command arrives
        writer.write(b"*2\r\n:5\r\n:6\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    server, url = await _serving(hang_up_then_answer)
    client = ScriptClient(url, ECHO)
    try:
        with pytest.raises(ConnectionError):
            await client.run([b"k"], [b"1"])
        assert (await client.run([b"k"], [b"1"])) == [5, 6]
        assert connections == 2
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
