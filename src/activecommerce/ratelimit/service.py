"""Per-plan rate limits (docs/guides/rate-limits.md): at most `rate` requests in any
one-second span.

Per account and environment (and per client address for requests that fail to
authenticate), the limiter keeps the times of the requests it let through in the last
second, oldest first. A request is let through when fewer than `rate` are younger than one
second; the entries that have aged out are dropped from the front as the window moves. Each
request costs O(1) amortized time (an append and, over time, one pop for every append),
and a key holds at most `rate` entries. That is the guide's moving one-second window
exactly: a burst is at most the rate, and an evenly paced overload gets exactly the rate.

Written here rather than with the `limits` library (still used by the email rate cap),
whose moving window is O(rate) per request (an insert at the front of a list and a scan
to count it, in memory; a list index at `rate` in Redis) and whose Redis storage needs two
round trips per request (hit, then window stats). Not GCRA or a token bucket either: with
a burst equal to the rate they let up to 2 x rate - 1 through within one second (a full
burst, then the refill), 10% over the rate in a ten-second overload; see
docs/decisions/004-rate-limits.md.

Counters live in Redis when ACTIVECOMMERCE_REDIS_URL is set (shared by every `serve`
process: one script decides and answers in one round trip, on Redis's clock so that the
processes agree), else in process memory, called inline (no thread, no timer). If Redis
fails, requests are served (fail open) and the failure is logged, at most once every few
seconds.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from activecommerce.config import Settings
from activecommerce.ratelimit.script import ScriptClient

log = logging.getLogger("activecommerce.ratelimit")

WINDOW = 1.0  # seconds
WINDOW_US = 1_000_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int  # requests that would be let through now
    reset: int  # whole seconds until the whole budget is back
    retry_after: int = 1  # whole seconds (at least 1) until a refused request would pass

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset).encode()),
        ]


def _seconds(value: float) -> int:
    """Whole seconds, rounded up (a wait of 0.2 s is announced as 1)."""
    return max(0, math.ceil(value))


class MemoryWindows:
    """The moving windows in process memory: key -> admission times (time.monotonic()),
    oldest first. Keys idle for a window are dropped by a sweep that runs inline (no
    thread, no timer) once a second has passed and as many hits as the sweep before left
    keys (at least SWEEP_MIN_HITS) have been made since: a sweep of n keys follows at least
    n / 2 hits, so it is O(1) amortized per hit, and the map holds about the keys of the
    last second or two of traffic (plus SWEEP_MIN_HITS), even when every hit is a new key."""

    SWEEP_MIN_HITS = 1024

    def __init__(self) -> None:
        self._windows: dict[str, deque[float]] = {}
        self._hits = 0
        self._sweep_after = self.SWEEP_MIN_HITS  # hits
        self._swept = float("-inf")

    def __len__(self) -> int:
        return len(self._windows)

    def hit(self, key: str, limit: int, now: float | None = None) -> Decision:
        if now is None:
            now = time.monotonic()
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque()
        cutoff = now - WINDOW
        while window and window[0] <= cutoff:
            window.popleft()
        count = len(window)
        if count < limit:
            window.append(now)
            # Reset: the whole budget is back when this request leaves the window.
            decision = Decision(True, limit, limit - count - 1, _seconds(WINDOW))
        else:
            # The oldest entry that must leave before one more fits (after a plan
            # downgrade the window can hold more than the new limit).
            frees = window[count - limit] + WINDOW - now
            reset = window[-1] + WINDOW - now
            decision = Decision(False, limit, 0, _seconds(reset), max(1, _seconds(frees)))
        # After the decision: this key's window now holds an entry younger than a window,
        # so the sweep keeps it.
        self._hits += 1
        if self._hits >= self._sweep_after:
            self._sweep(now)
        return decision

    def _sweep(self, now: float) -> None:
        if now - self._swept < WINDOW:
            return
        cutoff = now - WINDOW
        stale = [key for key, window in self._windows.items() if not window or window[-1] <= cutoff]
        for key in stale:
            del self._windows[key]
        self._swept = now
        self._hits = 0
        self._sweep_after = max(self.SWEEP_MIN_HITS, len(self._windows))


# KEYS[1]: the window, a list of admission times in µs on Redis's clock, oldest first.
# ARGV[1]: the limit. Returns {allowed (0/1), remaining, µs until the whole budget is
# back, µs until a refused request would pass}. Every command is O(1); the loop pops each
# entry once in its life, so the script is O(1) amortized.
SCRIPT = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local cutoff = now - 1000000
local count = redis.call('LLEN', key)
while count > 0 and tonumber(redis.call('LINDEX', key, 0)) <= cutoff do
  redis.call('LPOP', key)
  count = count - 1
end
if count < limit then
  redis.call('RPUSH', key, string.format('%d', now))
  redis.call('PEXPIRE', key, 1001)
  return {1, limit - count - 1, 1000000, 0}
end
local frees = tonumber(redis.call('LINDEX', key, count - limit))
local newest = tonumber(redis.call('LINDEX', key, -1))
return {0, 0, newest + 1000000 - now, frees + 1000000 - now}
"""


class RedisWindows:
    """The moving windows in Redis, shared by every API process: one script call (one
    round trip) per hit, through a client made for that (see ratelimit/script.py)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self.client = ScriptClient(url, SCRIPT, timeout=0.5)

    async def hit(self, key: str, limit: int) -> Decision:
        reply = await self.client.run([f"{self.prefix}:window:{key}".encode()], [b"%d" % limit])
        allowed, remaining, reset_us, frees_us = reply
        return Decision(
            allowed == 1,
            limit,
            remaining,
            _seconds(reset_us / WINDOW_US),
            max(1, _seconds(frees_us / WINDOW_US)),
        )

    async def close(self) -> None:
        await self.client.close()


def limits_redis(url: str, prefix: str) -> RedisStorage:
    """The `limits` library's Redis storage on redis-py (the client already installed),
    with short timeouts: a Redis that does not answer fails open, it does not hang."""
    uri = url if url.startswith("async+") else "async+" + url
    return RedisStorage(
        uri,
        implementation="redispy",
        key_prefix=prefix,
        wrap_exceptions=True,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )


class RateLimiter:
    LOG_EVERY = 5.0

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.rates = settings.plan_rates
        self.anonymous_rate = settings.anonymous_rate
        self._memory: MemoryWindows | None = None
        self._redis: RedisWindows | None = None
        if settings.redis_url:
            self._redis = RedisWindows(settings.redis_url, settings.rate_limit_prefix)
        else:
            self._memory = MemoryWindows()
        self._last_error_log = 0.0
        # Budgets over longer windows (sign-in attempts, token requests: N per minute), off
        # the hot path: the `limits` library's moving window, shared through Redis too.
        storage: Storage = MemoryStorage()
        if settings.redis_url:
            storage = limits_redis(settings.redis_url, settings.rate_limit_prefix)
        self._budgets = MovingWindowRateLimiter(storage)
        self._budget_prefix = settings.rate_limit_prefix

    def rate_for(self, plan: str) -> int:
        return self.rates.get(plan, min(self.rates.values()))

    async def hit_account(self, account_id: int, env: str, plan: str) -> Decision | None:
        if not self.enabled:
            return None
        return await self._hit(f"account:{account_id}:{env}", self.rate_for(plan))

    async def hit_address(self, address: str) -> Decision | None:
        """Count a request that did not authenticate (or that no route matched), per
        client address. Over the budget, such requests get 429; a right key from the same
        address is still served (keys carry ~240 random bits: this budget bounds the cost
        of wrong attempts, it is not what keeps keys secret)."""
        if not self.enabled:
            return None
        return await self._hit(f"address:{address}", self.anonymous_rate)

    async def hit_budget(
        self, name: str, amount: int, seconds: int, identifier: str
    ) -> Decision | None:
        """Count one event against a budget of `amount` per `seconds` (sign-in attempts
        per address, failed sign-ins per email, token requests per address)."""
        if not self.enabled:
            return None
        item = RateLimitItemPerSecond(amount, seconds)
        keys = (self._budget_prefix, name, identifier)
        try:
            allowed = await self._budgets.hit(item, *keys)
            stats = await self._budgets.get_window_stats(item, *keys)
        except Exception as exc:
            self._storage_failed(exc)
            return Decision(True, amount, amount, 1)
        wait = _seconds(stats.reset_time - time.time())
        return Decision(allowed, amount, max(0, stats.remaining), wait, max(1, wait))

    async def spend(self, name: str, amount: int, seconds: int, identifier: str) -> bool:
        """`hit_budget` without the window's figures (one call to the storage, not two):
        True when the event fits in the budget and was counted, False when over it."""
        if not self.enabled:
            return True
        item = RateLimitItemPerSecond(amount, seconds)
        try:
            return await self._budgets.hit(item, self._budget_prefix, name, identifier)
        except Exception as exc:
            self._storage_failed(exc)
            return True

    async def over_budget(self, name: str, amount: int, seconds: int, identifier: str) -> int:
        """0 while the budget has room, else the seconds until it has (nothing counted)."""
        if not self.enabled:
            return 0
        item = RateLimitItemPerSecond(amount, seconds)
        try:
            stats = await self._budgets.get_window_stats(
                item, self._budget_prefix, name, identifier
            )
        except Exception as exc:
            self._storage_failed(exc)
            return 0
        return 0 if stats.remaining > 0 else max(1, _seconds(stats.reset_time - time.time()))

    async def _hit(self, key: str, limit: int) -> Decision:
        if self._memory is not None:
            return self._memory.hit(key, limit)
        assert self._redis is not None
        try:
            return await self._redis.hit(key, limit)
        except Exception as exc:
            self._storage_failed(exc)
            return Decision(True, limit, limit, 1)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.close()

    def _storage_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_log > self.LOG_EVERY:
            self._last_error_log = now
            log.warning("rate-limit storage failed, serving without limits: %r", exc)
