"""A Redis client that does one thing: run one Lua script, pipelined on one connection.

The rate limiter makes one script call per API request, so the client's own cost is paid
on the hottest path. redis-py's async client (`register_script`, EVALSHA) costs 85-110 µs
of CPU per call on the bench machine (connection pool, locks, command packing and reply
parsing in Python): over a third of a whole GET by id. This one queues the command on
its one connection and waits for the reply (9 µs of CPU a call with 32 calls in flight,
28 µs one at a time): Redis answers a connection's commands in order, so concurrent
requests share the connection, each waiting only for its own round trip; the commands of
one loop turn leave in one write, and the replies that arrive together are parsed in one
pass.

It reads redis://, rediss:// (TLS) and unix:// URLs as redis-py does (its `parse_url`:
username, password, database), speaks RESP2, and sends EVALSHA, falling back to EVAL when
Redis does not have the script yet (after a restart or SCRIPT FLUSH).

Failures raise `ConnectionError`/`TimeoutError`/`ReplyError` to the caller (the limiter
fails open): a connect that does not finish within `timeout`; a reply later than `timeout`
(a watchdog aborts the connection, and every call waiting on it raises); a lost connection.
The next call reconnects, but not sooner than `retry_after` after a failed connect, so
that an unreachable Redis costs each request nothing rather than a connect timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import time
from collections import deque
from typing import Any, cast

from redis.asyncio.connection import parse_url

# A decoded reply: int, bytes (bulk), str (status), None (null), ReplyError, or a list.
Reply = Any


class ReplyError(Exception):
    """An error reply from Redis (NOSCRIPT, WRONGTYPE, NOAUTH...)."""


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def command(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(_bulk(part) for part in parts)


def parse_reply(buffer: bytes | bytearray, pos: int) -> tuple[Reply, int] | None:
    """The RESP2 reply at `pos` and the position after it, or None if it is incomplete."""
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        return None
    kind = buffer[pos]
    line = bytes(buffer[pos + 1 : end])
    after = end + 2
    if kind == 0x3A:  # ':' integer
        return int(line), after
    if kind == 0x2A:  # '*' array
        count = int(line)
        if count < 0:
            return None, after
        items: list[Reply] = []
        for _ in range(count):
            parsed = parse_reply(buffer, after)
            if parsed is None:
                return None
            item, after = parsed
            items.append(item)
        return items, after
    if kind == 0x24:  # '$' bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return None
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == 0x2B:  # '+' status
        return line.decode(), after
    if kind == 0x2D:  # '-' error
        return ReplyError(line.decode(errors="replace")), after
    raise ConnectionError(f"unexpected reply from Redis: {bytes(buffer[pos:end])!r}")


class _Connection(asyncio.Protocol):
    """One connection: calls wait in order of sending; replies resolve them in order.

    The commands of one turn of the event loop leave in one write, at the end of the
    turn: a write to a socket is a system call that costs more than the rest of a call
    (measured: a write per command cost ~40 µs a request under load), and under load
    several requests reach the limiter in the same turn."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting: deque[tuple[asyncio.Future[Reply], float]] = deque()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outgoing: list[bytes] = []
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, payload: bytes) -> asyncio.Future[Reply]:
        if self.transport is None:
            raise ConnectionError("the connection to Redis is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        self.waiting.append((future, loop.time() + self.timeout))
        if not self._outgoing:
            loop.call_soon(self._flush)
        self._outgoing.append(payload)
        if self._watchdog is None:
            self._watchdog = loop.call_at(loop.time() + self.timeout, self._check)
        return future

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if self.transport is not None:
            self.transport.write(b"".join(outgoing))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        pos = 0
        try:
            while self.waiting:
                parsed = parse_reply(buffer, pos)
                if parsed is None:
                    break
                reply, pos = parsed
                future, _deadline = self.waiting.popleft()
                if not future.done():
                    future.set_result(reply)
        except (ConnectionError, ValueError) as exc:
            self._fail(ConnectionError(f"Redis reply not understood: {exc}"))
            return
        del buffer[:pos]

    def _check(self) -> None:
        """The watchdog: the oldest call is answered first, so if it is late the
        connection is stuck."""
        self._watchdog = None
        if not self.waiting:
            return
        loop = asyncio.get_running_loop()
        deadline = self.waiting[0][1]
        if loop.time() >= deadline:
            self._fail(TimeoutError(f"no reply from Redis within {self.timeout} s"))
        else:
            self._watchdog = loop.call_at(deadline, self._check)

    def _fail(self, exc: Exception) -> None:
        while self.waiting:
            future, _deadline = self.waiting.popleft()
            if not future.done():
                future.set_exception(exc)
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._fail(ConnectionError(f"connection to Redis lost: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(None)


class ScriptClient:
    """Runs `script` on the Redis at `url`: `await client.run(keys, args)`."""

    def __init__(
        self, url: str, script: str, *, timeout: float = 0.5, retry_after: float = 1.0
    ) -> None:
        self.options: dict[str, Any] = dict(parse_url(url))
        self.tls = url.startswith("rediss://")
        self.timeout = timeout
        self.retry_after = retry_after
        self.script = script.encode()
        self.sha = hashlib.sha1(self.script, usedforsecurity=False).hexdigest().encode()
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()
        self._down_until = 0.0

    async def run(self, keys: list[bytes], args: list[bytes]) -> Reply:
        connection = self._connection
        if connection is None or connection.transport is None:
            connection = await self._connect()
        count = b"%d" % len(keys)
        reply = await connection.send(command(b"EVALSHA", self.sha, count, *keys, *args))
        if isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await connection.send(command(b"EVAL", self.script, count, *keys, *args))
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def _connect(self) -> _Connection:
        async with self._connecting:
            if self._connection is not None and self._connection.transport is not None:
                return self._connection
            if time.monotonic() < self._down_until:
                raise ConnectionError("Redis was unreachable a moment ago; not retrying yet")
            try:
                connection = await asyncio.wait_for(self._open(), self.timeout)
            except Exception:  # not a cancelled request: that says nothing about Redis
                self._down_until = time.monotonic() + self.retry_after
                raise
            self._connection = connection
            return connection

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        options = self.options
        timeout = self.timeout

        def protocol() -> _Connection:
            return _Connection(timeout)

        connection: _Connection
        if "path" in options:
            _transport, connection = await loop.create_unix_connection(protocol, options["path"])
        else:
            host = options.get("host", "localhost")
            context = ssl.create_default_context() if self.tls else None
            _transport, connection = await loop.create_connection(
                protocol,
                host,
                options.get("port", 6379),
                ssl=context,
                server_hostname=host if context else None,
            )
        try:
            replies: list[Reply] = []
            if options.get("password"):
                credentials = [options.get("username"), options["password"]]
                parts = [str(part).encode() for part in credentials if part]
                replies.append(await connection.send(command(b"AUTH", *parts)))
            if options.get("db"):
                replies.append(await connection.send(command(b"SELECT", b"%d" % options["db"])))
            for reply in replies:
                if isinstance(reply, ReplyError):
                    raise reply
        except BaseException as exc:
            connection._fail(ConnectionError(f"Redis refused the connection's setup: {exc!r}"))
            raise
        return connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.transport is not None:
            connection.transport.close()
        if connection is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(connection.closed), 1.0)
