"""Cost arithmetic for both usage conventions, and the estimate before sending."""

from __future__ import annotations

import pytest

from promptpress.cachekeys import (
    Usage,
    UsageError,
    cost_of_usage,
    estimate_cost,
    usage_from_anthropic,
    usage_from_bedrock,
    usage_from_gemini,
    usage_from_openai,
)


def test_openai_prompt_tokens_include_cached_tokens(resolve) -> None:
    raw = {
        "prompt_tokens": 10_000,
        "completion_tokens": 500,
        "prompt_tokens_details": {"cached_tokens": 8_000},
    }
    usage = usage_from_openai(raw)
    cost = cost_of_usage(usage, resolve("openai", "gpt-4o"))
    assert usage == Usage(prompt_tokens=10_000, completion_tokens=500, cached_tokens=8_000)
    # 2,000 x $2.50 + 8,000 x $1.25 + 500 x $10 per million
    assert cost.input_usd == pytest.approx(0.005)
    assert cost.cache_read_usd == pytest.approx(0.010)
    assert cost.output_usd == pytest.approx(0.005)
    assert cost.total_usd == pytest.approx(0.020)


def test_anthropic_input_tokens_exclude_cache_reads_and_writes(resolve) -> None:
    raw = {
        "input_tokens": 50,
        "cache_read_input_tokens": 100_000,
        "cache_creation_input_tokens": 2_000,
        "output_tokens": 1_000,
    }
    usage = usage_from_anthropic(raw)
    cost = cost_of_usage(usage, resolve("anthropic", "claude-sonnet-4-5"))
    assert usage.prompt_tokens == 102_050 and usage.uncached_prompt_tokens == 50
    # 50 x $3 + 100k x $0.30 + 2k x $3.75 + 1k x $15 per million
    assert cost.total_usd == pytest.approx((150 + 30_000 + 7_500 + 15_000) / 1e6)


def test_anthropic_one_hour_writes_cost_twice_the_input(resolve) -> None:
    raw = {
        "input_tokens": 0,
        "cache_creation_input_tokens": 3_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1_000, "ephemeral_1h_input_tokens": 2_000},
        "output_tokens": 0,
    }
    usage = usage_from_anthropic(raw)
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens) == (1_000, 2_000)
    cost = cost_of_usage(usage, resolve("anthropic", "claude-sonnet-4-5"))
    assert cost.cache_write_usd == pytest.approx((1_000 * 3.75 + 2_000 * 6.0) / 1e6)


def test_the_same_traffic_costs_the_same_under_both_conventions(resolve) -> None:
    # 1,000 uncached + 9,000 read: OpenAI reports 10,000 prompt tokens, Anthropic 1,000 input.
    openai = usage_from_openai(
        {"prompt_tokens": 10_000, "prompt_tokens_details": {"cached_tokens": 9_000}}
    )
    anthropic = usage_from_anthropic({"input_tokens": 1_000, "cache_read_input_tokens": 9_000})
    assert openai == anthropic


def test_gemini_and_bedrock_usage(resolve) -> None:
    g = usage_from_gemini(
        {
            "promptTokenCount": 5_000,
            "cachedContentTokenCount": 4_096,
            "candidatesTokenCount": 100,
            "thoughtsTokenCount": 50,
        }
    )
    assert (g.prompt_tokens, g.cached_tokens, g.completion_tokens) == (5_000, 4_096, 150)
    cost = cost_of_usage(g, resolve("gemini", "gemini-2.5-flash"))
    assert cost.total_usd == pytest.approx((904 * 0.30 + 4_096 * 0.03 + 150 * 2.50) / 1e6)
    b = usage_from_bedrock(
        {
            "inputTokens": 10,
            "cacheReadInputTokens": 2_000,
            "cacheWriteInputTokens": 1_500,
            "outputTokens": 7,
        }
    )
    assert b == Usage(3_510, 7, 2_000, 1_500)


def test_deepseek_hit_fields(resolve) -> None:
    raw = {
        "prompt_tokens": 1_000,
        "prompt_cache_hit_tokens": 640,
        "prompt_cache_miss_tokens": 360,
        "completion_tokens": 0,
    }
    usage = usage_from_openai(raw)  # DeepSeek speaks the OpenAI chat protocol
    cost = cost_of_usage(usage, resolve("deepseek", "deepseek-chat"))
    assert usage.cached_tokens == 640
    assert cost.total_usd == pytest.approx((360 * 0.28 + 640 * 0.028) / 1e6)


@pytest.mark.parametrize(
    "raw", [None, [], {"prompt_tokens": -1}, {"prompt_tokens": "12"}, {"prompt_tokens": True}]
)
def test_malformed_usage_is_rejected(raw) -> None:
    with pytest.raises(UsageError):
        usage_from_openai(raw)


def test_estimate_cost_clamps_reads_and_writes_to_the_prompt(resolve) -> None:
    t = resolve("anthropic", "claude-sonnet-4-5")
    assert estimate_cost(t, prompt_tokens=1_000).total_usd == pytest.approx(0.003)
    c = estimate_cost(t, prompt_tokens=1_000, cached_tokens=600, cache_write_tokens=900)
    assert (c.cache_read_usd, c.cache_write_usd, c.input_usd) == pytest.approx(
        (600 * 0.3e-6, 400 * 3.75e-6, 0.0)
    )


def test_no_price_means_zero_cost(resolve) -> None:
    t = resolve("acme", "acme-1")
    assert estimate_cost(t, prompt_tokens=10**6, output_tokens=10**6).total_usd == 0.0


def test_plan_estimates_savings_for_a_long_conversation(resolve, counter) -> None:
    from promptpress.cachekeys import build_layout, plan_request

    from .conftest import asst, user, words

    history = []
    for i in range(6):
        history += [user(words(400, 2 * i)), asst(words(400, 2 * i + 1))]
    layout = build_layout(system=[words(1500)], history=history, last_user=user("next"))
    # Reads are 0.1x on Claude Sonnet (writes 1.25x), 0.5x on GPT-4o (writes free).
    for provider, model, bound in [
        ("anthropic", "claude-sonnet-4-5", 0.25),
        ("openai", "gpt-4o", 0.6),
    ]:
        target = resolve(provider, model)
        plan = plan_request("t", layout, target, counter)
        before = estimate_cost(target, prompt_tokens=plan.prompt_tokens)
        assert plan.expected_cached_tokens > 0.9 * plan.prompt_tokens
        assert plan.cost_after.total_usd < bound * before.total_usd
