"""The Router facade end to end: difficulty picks the tier, the tier's upstream answers,
usage becomes dollars at one price source (the dated table, overridden by tier prices);
plus the metrics endpoint."""

from __future__ import annotations

import urllib.request

import pytest

from promptpress.errors import FailedPrecondition, Unavailable
from promptpress.server.metrics import Metrics, start_metrics_http_server
from promptpress.server.routing.router import RoutedAnswer, Router
from promptpress.server.routing.tiers import parse_routing_config
from promptpress.types import Message, Role
from tests.routing.conftest import request_for
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


def routing_config(small, frontier, *, small_prices=None, frontier_model="claude-x"):  # type: ignore[no-untyped-def]
    small_tier = {
        "upstreams": [{"name": "mini", "kind": "openai", "model": "gpt-4o-mini",
                       "base_url": small.openai_base_url}],
    }  # fmt: skip
    if small_prices is not None:
        small_tier["prices"] = small_prices
    return parse_routing_config(
        {
            "routing": {"tier_order": ["small", "frontier"], "threshold": 0.5,
                        "backoff_base_s": 0.01, "max_retry_after_s": 1.0},
            "tiers": {
                "small": small_tier,
                "frontier": {
                    "prices": {"input": 3.0, "cached_input": 0.3, "cache_write": 3.75, "output": 15.0},
                    "upstreams": [{"name": "claude", "kind": "anthropic", "model": frontier_model,
                                   "base_url": frontier.url}],
                },
            },
        }
    )  # fmt: skip


@pytest.fixture
async def routed(make_fake):  # type: ignore[no-untyped-def]
    small, frontier = make_fake(), make_fake()
    router = Router.from_config(routing_config(small, frontier))
    yield router, small, frontier
    await router.aclose()


async def ask(router: Router, messages, forced: str = ""):  # type: ignore[no-untyped-def]
    route = router.route(messages, forced)
    return route, await router.complete(route, request_for(messages, route.plan))


async def test_easy_goes_to_the_cheap_tier_hard_to_the_frontier(routed):
    router, small, frontier = routed
    small.script(JSONReply(openai_completion("Rome.", prompt_tokens=2000, completion_tokens=1000,
                                             cached_tokens=1000)))  # fmt: skip
    frontier.script(JSONReply(anthropic_message("void invert(...)", input_tokens=100,
                                                output_tokens=1000, cache_read=1000, cache_write=900)))  # fmt: skip

    easy_route, easy = await ask(router, EASY)
    hard_route, hard = await ask(router, HARD)

    assert (easy_route.decision.tier, easy.result.upstream, easy.result.text) == (
        "small",
        "small/mini",
        "Rome.",
    )
    assert [t.name for t in easy_route.plan] == ["small", "frontier"]
    assert (hard_route.decision.tier, hard.result.upstream) == ("frontier", "frontier/claude")
    assert len(small.requests) == len(frontier.requests) == 1
    # small has no tier prices: gpt-4o-mini's dated price from cachekeys/profiles.toml
    # (0.15 input, 0.075 cached, 0.60 output per million).
    assert easy.cost_usd == pytest.approx((150 + 75 + 600) / 1e6)
    # frontier: its tier prices: 100 * 3 + 1000 * 0.3 + 900 * 3.75 + 1000 * 15, per million
    assert hard.cost_usd == pytest.approx((300 + 300 + 3375 + 15000) / 1e6)
    assert hard.result.usage.prompt_tokens == 2000
    assert easy.warnings == hard.warnings == ()


async def test_tier_prices_override_the_price_table_key_by_key(make_fake):
    small, frontier = make_fake(), make_fake()
    router = Router.from_config(routing_config(small, frontier, small_prices={"output": 1.0}))
    try:
        small.script(
            JSONReply(openai_completion("Rome.", prompt_tokens=1000, completion_tokens=1000))
        )
        _, answer = await ask(router, EASY)
    finally:
        await router.aclose()
    assert answer.cost_usd == pytest.approx((1000 * 0.15 + 1000 * 1.0) / 1e6)


async def test_a_model_priced_nowhere_is_warned_about_not_silently_free(make_fake, caplog):
    small = make_fake()
    config = parse_routing_config(
        {"tiers": {"only": {"upstreams": [{"name": "x", "kind": "openai", "model": "my-local-llm",
                                            "base_url": small.openai_base_url}]}}}
    )  # fmt: skip
    with caplog.at_level("WARNING"):
        router = Router.from_config(config)
    try:
        small.script(JSONReply(openai_completion("hi", prompt_tokens=10, completion_tokens=10)))
        _, answer = await ask(router, EASY)
    finally:
        await router.aclose()
    assert answer.cost_usd == 0.0
    assert len(answer.warnings) == 1 and "my-local-llm" in answer.warnings[0]
    assert "my-local-llm" in caplog.text


async def test_costs_are_rounded_not_float_noise(routed):
    router, small, _ = routed
    small.script(JSONReply(openai_completion("x", prompt_tokens=31, completion_tokens=8)))
    _, answer = await ask(router, EASY)
    assert repr(answer.cost_usd) == repr(round(31 * 0.15e-6 + 8 * 0.6e-6, 10))
    assert len(repr(answer.cost_usd)) < 12


async def test_forced_tier_overrides_difficulty(routed):
    router, small, frontier = routed
    frontier.script(JSONReply(anthropic_message("Rome.")))
    route, answer = await ask(router, EASY, forced="frontier")
    assert route.decision.forced and answer.result.tier == "frontier" and small.requests == []
    with pytest.raises(FailedPrecondition):
        router.route(EASY, forced_tier="gigantic")


async def test_failed_attempts_ride_on_the_error(routed):
    router, small, frontier = routed
    small.default = error_reply(500, "down")
    frontier.default = error_reply(503, "also down")
    with pytest.raises(Unavailable) as caught:
        await ask(router, EASY)
    assert [a.upstream for a in caught.value.attempts] == ["small/mini"] * 2 + [
        "frontier/claude"
    ] * 2


async def test_stream_ends_with_a_routed_answer_carrying_cost(routed):
    router, _, frontier = routed
    frontier.script(SSEReply(anthropic_stream(["in", "vert"], input_tokens=10, output_tokens=20)))
    route = router.route(HARD)
    events = [e async for e in router.stream(route, request_for(HARD, route.plan))]
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
