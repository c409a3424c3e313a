"""The moving one-second window itself (ratelimit.service): at most `rate` requests in any
one-second span, exactly the rate under an evenly paced overload, remaining and reset and
an honest Retry-After; in memory on a given clock, and in the real Redis on its own clock
(one budget for every limiter sharing it, idle keys expiring); Redis down: served."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from helpers import redis_url

from activecommerce.config import Settings
from activecommerce.ratelimit.service import Decision, MemoryWindows, RateLimiter, RedisWindows


def peak(times: list[float]) -> int:
    """The most of `times` (sorted) within any half-open one-second span."""
    best = lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def reference_fits(admitted: list[float], rate: int, at: float) -> int:
    """SPEC §4 written out: how many more requests fit at `at`, given the admitted ones."""
    return rate - sum(1 for t in admitted if at - 1.0 < t <= at)


# ------------------------------------------------------------------------------ memory


def test_memory_is_the_moving_window_exactly_on_bursts_and_gaps() -> None:
    rng = random.Random(20261126)
    windows = MemoryWindows()
    for rate in (1, 5, 30):
        key = f"account:{rate}:sandbox"
        admitted: list[float] = []
        sends: list[float] = []
        now = 1000.0
        while len(sends) < 4000:
            now += rng.choice((0.0, 0.001, 0.01, 0.05, 0.2, 0.5, 1.0, 1.3))
            # Now and then a burst over the rate, all at once.
            sends += [now] * (rate + 3 if rng.random() < 0.03 else 1)
        for now in sends:
            fits = reference_fits(admitted, rate, now)
            decision = windows.hit(key, rate, now=now)
            assert decision.allowed == (fits > 0), (rate, now)
            assert decision.limit == rate
            if decision.allowed:
                admitted.append(now)
                assert decision.remaining == fits - 1
                assert decision.reset == 1  # the budget is whole once this one is out
            else:
                assert decision.remaining == 0
                assert decision.reset == 1
                assert decision.retry_after == 1  # whole seconds, at least 1
                # Honest: after Retry-After, one more fits (if nothing else came).
                assert reference_fits(admitted, rate, now + decision.retry_after) > 0
        assert peak(admitted) <= rate
        assert peak(admitted) == rate  # and bursts of the full rate do get through


@pytest.mark.parametrize("rate", [30, 120])
def test_memory_twice_the_rate_evenly_paced_gets_exactly_the_rate(rate: int) -> None:
    windows = MemoryWindows()
    sends = [n / (2 * rate) for n in range(2 * rate * 10)]  # 10 s at 2 x rate
    admitted = [t for t in sends if windows.hit("k", rate, now=t).allowed]
    assert len(admitted) == rate * 10
    assert peak(admitted) == rate


def test_memory_a_full_burst_waits_the_whole_second() -> None:
    """A token bucket (or GCRA) with a burst of `rate` refills at once after a burst and
    lets nearly twice the rate through within one second; the moving window does not."""
    windows = MemoryWindows()
    rate = 10
    assert all(windows.hit("k", rate, now=0.0).allowed for _ in range(rate))
    for step in range(1, 20):  # at twice the rate, for the rest of the second
        refused = windows.hit("k", rate, now=step / 20)
        assert not refused.allowed
        assert refused.retry_after == 1
    assert windows.hit("k", rate, now=0.999999).allowed is False
    assert windows.hit("k", rate, now=1.0).allowed  # the first of the burst has left


def test_memory_headers_count_down_and_retry_after_is_when_one_frees() -> None:
    windows = MemoryWindows()
    decisions = [windows.hit("k", 3, now=10.0 + i * 0.2) for i in range(4)]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[0].headers() == [
        (b"ratelimit-limit", b"3"),
        (b"ratelimit-remaining", b"2"),
        (b"ratelimit-reset", b"1"),
    ]
    assert windows.hit("k", 3, now=10.999).allowed is False
    freed = windows.hit("k", 3, now=11.0)  # 10.0 has left the window: one fits again
    assert freed.allowed
    assert freed.remaining == 0


def test_memory_after_a_downgrade_waits_for_enough_to_leave() -> None:
    windows = MemoryWindows()
    for i in range(8):
        assert windows.hit("k", 8, now=i / 10).allowed  # 0.0 .. 0.7
    refused = windows.hit("k", 5, now=0.75)  # the plan is now 5/s; 8 are in the window
    assert not refused.allowed
    assert refused.retry_after == 1
    assert windows.hit("k", 5, now=1.29).allowed is False  # 0.3 .. 0.7 still count: 5
    assert windows.hit("k", 5, now=1.3).allowed  # 0.3 has left: 4 count


def test_memory_sweep_drops_idle_keys_and_keeps_the_live_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(MemoryWindows, "SWEEP_MIN_HITS", 1)
    windows = MemoryWindows()
    for i in range(200):
        windows.hit(f"address:10.0.0.{i}", 2, now=0.0)
    assert len(windows) == 200
    # Two seconds later a stale key is hit: the sweep runs (a hit per key since the last
    # one), drops the idle keys, and keeps the one just counted.
    assert windows.hit("address:10.0.0.7", 2, now=2.0).remaining == 1
    assert len(windows) == 1
    assert windows.hit("address:10.0.0.7", 2, now=2.1).remaining == 0
    assert windows.hit("address:10.0.0.7", 2, now=2.2).allowed is False


def test_memory_holds_about_two_seconds_of_keys_when_every_hit_is_a_new_key() -> None:
    windows = MemoryWindows()
    for i in range(30_000):  # 6 s of 5,000 new addresses a second
        windows.hit(f"address:{i}", 20, now=i / 5000)
        assert len(windows) <= 2 * 5000 + MemoryWindows.SWEEP_MIN_HITS, i


def test_memory_sweep_is_amortized() -> None:
    windows = MemoryWindows()
    for i in range(5000):  # 5,000 one-off addresses within a second...
        windows.hit(f"address:{i}", 20, now=i / 5000)
    for i in range(5000):  # ... then a second's traffic from a single account
        windows.hit("account:1:live", 10_000, now=2.0 + i / 5000)
    assert len(windows) <= 2  # swept once enough hits paid for it


async def test_limiter_in_memory_counts_accounts_and_addresses_apart(settings: Settings) -> None:
    limiter = RateLimiter(
        settings.model_copy(
            update={"rate_limit_enabled": True, "plan_rates": {"lite": 2}, "anonymous_rate": 1}
        )
    )
    account = [await limiter.hit_account(7, "live", "lite") for _ in range(3)]
    assert [d.allowed for d in account if d] == [True, True, False]
    assert (await limiter.hit_account(7, "sandbox", "lite")) == Decision(True, 2, 1, 1)
    address = [await limiter.hit_address("10.0.0.1") for _ in range(2)]
    assert [d.allowed for d in address if d] == [True, False]
    off = RateLimiter(settings.model_copy(update={"rate_limit_enabled": False}))
    assert await off.hit_account(7, "live", "lite") is None
    assert await off.hit_address("10.0.0.1") is None
    await limiter.close()


# ------------------------------------------------------------------------------- redis


@pytest.fixture
async def shared() -> AsyncIterator[tuple[RedisWindows, RedisWindows, aioredis.Redis]]:
    """Two windows clients (as in two API processes) on one Redis, under a fresh prefix."""
    url = redis_url()
    prefix = f"ac-test-{uuid.uuid4().hex[:8]}"
    a, b = RedisWindows(url, prefix), RedisWindows(url, prefix)
    raw = aioredis.Redis.from_url(url)
    try:
        yield a, b, raw
    finally:
        keys = [key async for key in raw.scan_iter(match=f"{prefix}:*")]
        if keys:
            await raw.delete(*keys)
        await raw.aclose()
        await a.close()
        await b.close()


async def test_redis_burst_is_the_rate_then_the_whole_second_is_waited(
    shared: tuple[RedisWindows, RedisWindows, aioredis.Redis],
) -> None:
    windows, _, _ = shared
    rate = 10
    first = time.monotonic()
    burst = [await windows.hit("account:1:live", rate) for _ in range(rate + 5)]
    assert [d.allowed for d in burst] == [True] * rate + [False] * 5
    assert [d.remaining for d in burst] == [*range(rate - 1, -1, -1), *[0] * 5]
    assert all(d.limit == rate and d.reset == 1 for d in burst)
    assert all(d.retry_after == 1 for d in burst[rate:])
    last = time.monotonic()
    # Half a second on, a token bucket would have refilled half the rate: here none fits.
    await asyncio.sleep(max(0.0, first + 0.5 - time.monotonic()))
    assert not (await windows.hit("account:1:live", rate)).allowed
    # Retry-After is honest: a second after the burst, it fits again.
    await asyncio.sleep(max(0.0, last + 1.0 + 0.05 - time.monotonic()))
    assert (await windows.hit("account:1:live", rate)).allowed


async def test_redis_never_more_than_the_rate_in_any_second_at_twice_the_rate(
    shared: tuple[RedisWindows, RedisWindows, aioredis.Redis],
) -> None:
    windows, _, _ = shared
    rate, seconds = 10, 2.5
    admitted: list[tuple[float, float]] = []  # (before, after) the call that admitted
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        before = time.monotonic()
        if (await windows.hit("account:2:live", rate)).allowed:
            admitted.append((before, time.monotonic()))
        n += 1
        await asyncio.sleep(max(0.0, start + n / (2 * rate) - time.monotonic()))
    # Redis decided each somewhere between `before` and `after`: the rate + 1-th admission
    # after any admission came at least one second after it.
    for i in range(len(admitted) - rate):
        assert admitted[i + rate][1] - admitted[i][0] >= 1.0, i
    assert len(admitted) >= rate * seconds * 0.8


async def test_redis_limiters_sharing_it_share_the_budget(
    shared: tuple[RedisWindows, RedisWindows, aioredis.Redis],
) -> None:
    a, b, _ = shared
    decisions = [await (a if i % 2 else b).hit("account:3:sandbox", 6) for i in range(9)]
    assert [d.allowed for d in decisions] == [True] * 6 + [False] * 3
    assert [d.remaining for d in decisions[:6]] == [5, 4, 3, 2, 1, 0]


async def test_redis_keeps_one_short_lived_key_per_window(
    shared: tuple[RedisWindows, RedisWindows, aioredis.Redis],
) -> None:
    windows, _, raw = shared
    for _ in range(3):
        await windows.hit("address:10.1.2.3", 5)
    key = f"{windows.prefix}:window:address:10.1.2.3"
    assert await raw.llen(key) == 3
    assert 0 < await raw.pttl(key) <= 1001
    await asyncio.sleep(1.2)
    assert await raw.exists(key) == 0  # an idle window leaves nothing behind


async def test_redis_down_serves_and_logs_at_most_every_five_seconds(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RateLimiter(
        settings.model_copy(
            update={
                "rate_limit_enabled": True,
                "redis_url": "redis://127.0.0.1:1/0",  # nothing listens there
                "plan_rates": {"free": 2},
            }
        )
    )
    with caplog.at_level(logging.WARNING, logger="activecommerce.ratelimit"):
        decisions = [await limiter.hit_account(9, "sandbox", "free") for _ in range(5)]
        decisions.append(await limiter.hit_address("10.0.0.9"))
    assert all(d is not None and d.allowed for d in decisions)
    assert decisions[0] == Decision(True, 2, 2, 1)
    failures = [r for r in caplog.records if "rate-limit storage failed" in r.getMessage()]
    assert len(failures) == 1
    await limiter.close()
