"""The provider cache simulator: prefix matching, minimums, increments, TTL, lookback, prices."""

from __future__ import annotations

import itertools

import pytest

from promptpress.cachekeys import CacheSimulator, SimRequest


def request(sizes: list[int], ids: list[str] | None = None, breakpoints=(), blocks=None):  # type: ignore[no-untyped-def]
    tokens = list(itertools.accumulate(sizes))
    ids = ids or [f"p{i}:" + ",".join(map(str, sizes[: i + 1])) for i in range(len(sizes))]
    blocks = blocks or list(range(1, len(sizes) + 1))
    return SimRequest(ids, tokens, blocks, tokens[-1], tuple(breakpoints))


def test_openai_reads_the_shared_prefix_in_128_token_steps(resolve) -> None:
    sim = CacheSimulator(resolve("openai", "gpt-4o"))
    first = sim.request(request([1500, 300]), now=0)
    assert first.usage.cached_tokens == 0
    second = sim.request(request([1500, 300, 400]), now=30)
    assert second.usage.cached_tokens == 1024 + (1800 - 1024) // 128 * 128 == 1792
    # 400 uncached at $2.50 + 1,792 cached at $1.25 per million (+ the 8 tokens below the step)
    assert second.cost.prompt_usd == pytest.approx((408 * 2.5 + 1792 * 1.25) / 1e6)


def test_openai_below_the_minimum_is_never_cached(resolve) -> None:
    sim = CacheSimulator(resolve("openai", "gpt-4o"))
    sim.request(request([600, 300]), now=0)
    assert sim.request(request([600, 300, 50]), now=1).usage.cached_tokens == 0


def test_entries_expire_after_the_idle_ttl_and_hits_refresh_it(resolve) -> None:
    sim = CacheSimulator(resolve("openai", "gpt-4o"))
    sim.request(request([2000]), now=0)
    assert sim.request(request([2000, 10]), now=299).usage.cached_tokens > 0  # refreshed at 299
    assert sim.request(request([2000, 20]), now=598).usage.cached_tokens > 0
    assert sim.request(request([2000, 30]), now=2000).usage.cached_tokens == 0


def test_a_changed_prefix_misses(resolve) -> None:
    sim = CacheSimulator(resolve("openai", "gpt-4o"))
    sim.request(request([2000, 500], ids=["a", "ab"]), now=0)
    assert sim.request(request([2000, 500], ids=["x", "xb"]), now=1).usage.cached_tokens == 0


def test_anthropic_writes_at_breakpoints_then_reads(resolve) -> None:
    target = resolve("anthropic", "claude-sonnet-4-5")
    sim = CacheSimulator(target)
    no_marks = sim.request(request([3000, 500]), now=0)
    assert (no_marks.usage.cached_tokens, no_marks.usage.cache_write_tokens) == (0, 0)
    first = sim.request(request([3000, 500], breakpoints=[1]), now=1)
    assert (first.usage.cached_tokens, first.usage.cache_write_tokens) == (0, 3500)
    assert first.cost.prompt_usd == pytest.approx(3500 * 3.75 / 1e6)
    second = sim.request(request([3000, 500, 200, 100], breakpoints=[3]), now=2)
    assert (second.usage.cached_tokens, second.usage.cache_write_tokens) == (3500, 300)
    assert second.cost.prompt_usd == pytest.approx((3500 * 0.30 + 300 * 3.75) / 1e6)


def test_anthropic_lookback_is_limited_to_twenty_blocks(resolve) -> None:
    sim = CacheSimulator(resolve("anthropic", "claude-sonnet-4-5"))
    sizes = [2000] + [10] * 30
    sim.request(request(sizes[:1], breakpoints=[0]), now=0)
    near = sim.request(request(sizes[:20], breakpoints=[19]), now=1)  # 19 blocks back: found
    assert near.usage.cached_tokens == 2000
    sim2 = CacheSimulator(resolve("anthropic", "claude-sonnet-4-5"))
    sim2.request(request(sizes[:1], breakpoints=[0]), now=0)
    far = sim2.request(request(sizes[:31], breakpoints=[30]), now=1)  # 30 blocks back: missed
    assert far.usage.cached_tokens == 0 and far.usage.cache_write_tokens == 2300
    helped = sim2.request(request(sizes[:31], ids=None, breakpoints=[0, 30]), now=2)
    assert helped.usage.cached_tokens == 2300  # the deepest entry now exists


def test_bedrock_ignores_a_breakpoint_too_close_to_the_previous_one(resolve) -> None:
    sim = CacheSimulator(resolve("bedrock", "anthropic.claude-3-7-sonnet-20250219-v1:0"))
    r = sim.request(request([1100, 500, 800], breakpoints=[0, 1, 2]), now=0)
    # 1,100 qualifies; +500 does not; +1,300 (from 1,100 to 2,400) does.
    assert r.usage.cache_write_tokens == 2400
    # The 1,600-token prefix was not written: a later request finds only the 1,100 one.
    assert (
        sim.request(request([1100, 500, 900], breakpoints=[1]), now=1).usage.cached_tokens == 1100
    )
