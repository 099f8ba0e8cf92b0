"""The Router facade end to end: difficulty picks the tier, the tier's upstream answers,
usage becomes dollars and per-tenant metrics; plus the metrics endpoint."""

from __future__ import annotations

import urllib.request

import pytest

from promptpress.errors import FailedPrecondition, Unavailable
from promptpress.server.metrics import Metrics, start_metrics_http_server
from promptpress.server.routing.router import RoutedAnswer, Router
from promptpress.server.routing.tiers import parse_routing_config
from promptpress.server.routing.upstream_render import UpstreamRequest
from promptpress.types import Message, Role
from tests.routing.fake_upstream import (
    JSONReply,
    SSEReply,
    anthropic_message,
    anthropic_stream,
    error_reply,
    openai_completion,
)

EASY = [Message(Role.USER, "What is the capital of Italy?")]
HARD = [Message(Role.USER, "Implement a function in C++ that inverts a binary tree, recursively.")]


@pytest.fixture
async def routed(make_fake):  # type: ignore[no-untyped-def]
    small, frontier = make_fake(), make_fake()
    config = parse_routing_config(
        {
            "routing": {"tier_order": ["small", "frontier"], "threshold": 0.5,
                        "backoff_base_s": 0.01, "max_retry_after_s": 1.0},
            "tiers": {
                "small": {
                    "prices": {"input": 0.15, "cached_input": 0.075, "output": 0.6},
                    "upstreams": [{"name": "mini", "kind": "openai", "model": "gpt-4o-mini",
                                   "base_url": small.openai_base_url}],
                },
                "frontier": {
                    "prices": {"input": 3.0, "cached_input": 0.3, "cache_write": 3.75, "output": 15.0},
                    "upstreams": [{"name": "claude", "kind": "anthropic", "model": "claude-x",
                                   "base_url": frontier.url}],
                },
            },
        }
    )  # fmt: skip
    metrics = Metrics()
    router = Router.from_config(config, metrics=metrics)
    yield router, small, frontier, metrics
    await router.aclose()


async def test_easy_goes_to_the_cheap_tier_hard_to_the_frontier(routed):
    router, small, frontier, metrics = routed
    small.script(JSONReply(openai_completion("Rome.", prompt_tokens=2000, completion_tokens=1000,
                                             cached_tokens=1000)))  # fmt: skip
    frontier.script(JSONReply(anthropic_message("void invert(...)", input_tokens=100,
                                                output_tokens=1000, cache_read=1000, cache_write=900)))  # fmt: skip

    easy_decision = router.decide(EASY)
    easy = await router.complete("acme", easy_decision, UpstreamRequest.from_messages(EASY))
    hard_decision = router.decide(HARD)
    hard = await router.complete("acme", hard_decision, UpstreamRequest.from_messages(HARD))

    assert (easy_decision.tier, easy.result.upstream, easy.result.text) == (
        "small",
        "small/mini",
        "Rome.",
    )
    assert (hard_decision.tier, hard.result.upstream) == ("frontier", "frontier/claude")
    assert len(small.requests) == len(frontier.requests) == 1
    # small: 1000 uncached * 0.15 + 1000 cached * 0.075 + 1000 out * 0.6, per million
    assert easy.cost_usd == pytest.approx((150 + 75 + 600) / 1e6)
    # frontier: 100 * 3 + 1000 * 0.3 + 900 * 3.75 + 1000 * 15, per million
    assert hard.cost_usd == pytest.approx((300 + 300 + 3375 + 15000) / 1e6)
    assert hard.result.usage.prompt_tokens == 2000
    assert metrics.value("promptpress_prompt_tokens_total", tenant="acme", tier="frontier") == 2000
    assert metrics.value("promptpress_cached_tokens_total", tenant="acme", tier="small") == 1000
    assert metrics.value(
        "promptpress_cost_usd_total", tenant="acme", tier="frontier"
    ) == pytest.approx(hard.cost_usd)
    assert (
        metrics.value(
            "promptpress_requests_total", tenant="acme", tier="small", cache_status="none"
        )
        == 1
    )
    assert (
        metrics.value(
            "promptpress_requests_total", tenant="other", tier="small", cache_status="none"
        )
        == 0
    )


async def test_forced_tier_overrides_difficulty(routed):
    router, small, frontier, _ = routed
    frontier.script(JSONReply(anthropic_message("Rome.")))
    decision = router.decide(EASY, forced_tier="frontier")
    answer = await router.complete("acme", decision, UpstreamRequest.from_messages(EASY))
    assert decision.forced and answer.result.tier == "frontier" and small.requests == []
    with pytest.raises(FailedPrecondition):
        router.decide(EASY, forced_tier="gigantic")


async def test_failed_attempts_are_counted_per_tenant(routed):
    router, small, frontier, metrics = routed
    small.default = error_reply(500, "down")
    frontier.default = error_reply(503, "also down")
    with pytest.raises(Unavailable):
        await router.complete("acme", router.decide(EASY), UpstreamRequest.from_messages(EASY))
    assert metrics.value(
        "promptpress_upstream_errors_total", tenant="acme", upstream="small/mini", kind="http"
    ) == 2  # fmt: skip


async def test_stream_ends_with_a_routed_answer_carrying_cost(routed):
    router, _, frontier, _ = routed
    frontier.script(SSEReply(anthropic_stream(["in", "vert"], input_tokens=10, output_tokens=20)))
    events = [
        e
        async for e in router.stream(
            "acme", router.decide(HARD), UpstreamRequest.from_messages(HARD)
        )
    ]
    assert [e.text for e in events[:-1]] == ["in", "vert"]
    final = events[-1]
    assert isinstance(final, RoutedAnswer) and final.result.text == "invert"
    assert final.cost_usd == pytest.approx((10 * 3.0 + 20 * 15.0) / 1e6)


def test_metrics_registries_are_separate_and_served_on_localhost():
    first, second = Metrics(), Metrics()
    first.record_cache_lookup("acme", "SEMANTIC")
    assert (
        first.value("promptpress_semantic_cache_lookups_total", tenant="acme", status="semantic")
        == 1
    )
    assert (
        second.value("promptpress_semantic_cache_lookups_total", tenant="acme", status="semantic")
        == 0
    )

    server = start_metrics_http_server(0, first.registry)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    finally:
        server.close()
    assert 'promptpress_semantic_cache_lookups_total{status="semantic",tenant="acme"} 1.0' in text
