"""Provider usage fields, normalised; and cost."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptpress.server.routing.tiers import Prices
from promptpress.server.routing.usage import (
    Usage,
    UsageError,
    cost_usd,
    merge_anthropic_stream_usage,
    usage_from_anthropic,
    usage_from_gemini,
    usage_from_openai,
)


@pytest.mark.parametrize(
    ("parse", "raw", "expected"),
    [
        # OpenAI: prompt_tokens already includes cached_tokens.
        (usage_from_openai,
         {"prompt_tokens": 1200, "completion_tokens": 50,
          "prompt_tokens_details": {"cached_tokens": 1024}},
         Usage(1200, 50, 1024, 0)),
        (usage_from_openai, {"prompt_tokens": 10, "completion_tokens": 2}, Usage(10, 2, 0, 0)),
        (usage_from_openai,
         {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": None},
         Usage(10, 2, 0, 0)),
        # Anthropic: input_tokens excludes cache reads and writes.
        (usage_from_anthropic,
         {"input_tokens": 20, "output_tokens": 40, "cache_read_input_tokens": 1000,
          "cache_creation_input_tokens": 300},
         Usage(1320, 40, 1000, 300)),
        (usage_from_anthropic, {"input_tokens": 20, "output_tokens": 40}, Usage(20, 40, 0, 0)),
        # Gemini: promptTokenCount includes cachedContentTokenCount; thoughts bill as output.
        (usage_from_gemini,
         {"promptTokenCount": 900, "candidatesTokenCount": 30, "cachedContentTokenCount": 512,
          "thoughtsTokenCount": 70},
         Usage(900, 100, 512, 0)),
    ],
)  # fmt: skip
def test_normalised_prompt_tokens_include_cached(parse, raw, expected):
    assert parse(raw) == expected


@pytest.mark.parametrize(
    "raw", [None, "12", {"prompt_tokens": -1}, {"prompt_tokens": "many"}, {"prompt_tokens": True}]
)
def test_malformed_usage_is_rejected(raw):
    with pytest.raises(UsageError):
        usage_from_openai(raw)


def test_anthropic_stream_usage_takes_output_from_message_delta():
    start = {"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 100}
    assert merge_anthropic_stream_usage(start, {"output_tokens": 42}) == Usage(105, 42, 100, 0)


def test_cost_prices_cached_and_written_tokens_separately():
    prices = Prices(input=3.0, cached_input=0.3, cache_write=3.75, output=15.0)
    usage = Usage(prompt_tokens=1_300_000, completion_tokens=100_000, cached_tokens=1_000_000,
                  cache_write_tokens=200_000)  # fmt: skip
    # 100k uncached * 3 + 1M cached * 0.3 + 200k written * 3.75 + 100k out * 15, per million
    assert cost_usd(usage, prices) == pytest.approx(0.3 + 0.3 + 0.75 + 1.5)


counts = st.integers(min_value=0, max_value=10**7)


@given(counts, counts, counts, counts)
def test_anthropic_and_openai_shapes_of_the_same_call_agree(uncached, read, write, out):
    anthropic = usage_from_anthropic(
        {
            "input_tokens": uncached,
            "output_tokens": out,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
        }
    )
    assert anthropic.prompt_tokens == uncached + read + write
    assert anthropic.uncached_prompt_tokens == uncached
    prices = Prices(input=1.0, cached_input=0.1, cache_write=1.25, output=4.0)
    # Caching never makes a call cost more than the same tokens billed uncached, except
    # the write premium.
    plain = Usage(prompt_tokens=anthropic.prompt_tokens, completion_tokens=out)
    assert cost_usd(anthropic, prices) <= cost_usd(plain, prices) + write * 0.25 / 1e6 + 1e-12
