"""Argon2id password hashes, computed off the event loop.

A hash costs ~50 ms of CPU (argon2-cffi's defaults, RFC 9106's second recommended
parameters: 64 MiB, 3 passes, 4 lanes). It runs in a small pool of threads of its own
(argon2 releases the GIL while it works), so at most `threads` hashes run at once and a
flood of sign-ins queues there instead of starving the loop or the shared thread pool;
past `max_waiting` queued hashes the caller gets `Busy` (503) at once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Busy(Exception):
    """Too many password hashes are waiting; retry shortly."""


class Passwords:
    def __init__(self, threads: int = 2, max_waiting: int = 64) -> None:
        self._hasher = PasswordHasher()  # Argon2id
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._waiting = 0
        self._max_waiting = max_waiting
        # Verified against when the email is unknown, so that an unknown email and a wrong
        # password cost the same time.
        self._dummy = self._hasher.hash("activecommerce: no such user")

    def hash_now(self, password: str) -> str:
        """Synchronous, for the command line."""
        return self._hasher.hash(password)

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _run(self, fn: object, *args: object) -> object:
        if self._waiting >= self._max_waiting:
            raise Busy
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, fn, *args)  # type: ignore[arg-type]
        finally:
            self._waiting -= 1

    async def hash(self, password: str) -> str:
        return str(await self._run(self._hasher.hash, password))

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`; with no stored hash (an unknown user) the
        same work is done and the answer is False."""
        return bool(await self._run(self._verify, stored, password))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
