"""Provider profiles: the data file's contents, model matching, fallbacks, user prices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptpress.cachekeys import load_profiles
from promptpress.cachekeys.profiles import normalize_model
from promptpress.errors import InvalidInput
from promptpress.types import Target

PROVIDERS = ("openai", "anthropic", "gemini", "deepseek", "bedrock", "mistral", "qwen", "generic")


def test_every_provider_is_dated_and_sourced(profiles) -> None:
    assert set(PROVIDERS) <= set(profiles.profiles)
    assert profiles.checked_on.startswith("20")
    for name in PROVIDERS:
        if name != "generic":
            assert profiles.profiles[name].sources, name


@pytest.mark.parametrize(
    ("provider", "model", "min_tokens", "increment", "explicit", "max_bp", "lookback"),
    [
        ("openai", "gpt-4o-2024-08-06", 1024, 128, False, 4, 0),
        ("anthropic", "claude-sonnet-4-5-20250929", 1024, 1, True, 4, 20),
        ("anthropic", "claude-opus-4-5", 4096, 1, True, 4, 20),
        ("anthropic", "claude-haiku-4.5", 4096, 1, True, 4, 20),
        ("anthropic", "claude-3-5-haiku-latest", 2048, 1, True, 4, 20),
        ("gemini", "gemini-2.5-flash", 2048, 1, False, 4, 0),
        ("gemini", "gemini-3-pro-preview", 4096, 1, False, 4, 0),
        ("deepseek", "deepseek-chat", 64, 64, False, 4, 0),
        ("bedrock", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", 1024, 1, True, 4, 20),
        ("bedrock", "amazon.nova-pro-v1:0", 1000, 1, True, 4, 0),
        ("qwen", "qwen-plus", 256, 1, False, 4, 0),
    ],
)
def test_cache_rules_per_model_family(
    resolve, provider, model, min_tokens, increment, explicit, max_bp, lookback
) -> None:
    rules = resolve(provider, model).rules
    assert (rules.min_tokens, rules.increment, rules.explicit) == (min_tokens, increment, explicit)
    assert (rules.max_breakpoints, rules.lookback_blocks) == (max_bp, lookback)


@pytest.mark.parametrize(
    ("provider", "model", "input_", "read", "write", "write_1h"),
    [
        ("openai", "gpt-4o", 2.50, 1.25, 2.50, 2.50),
        ("openai", "gpt-4o-mini", 0.15, 0.075, 0.15, 0.15),
        ("openai", "gpt-4.1-mini-2025-04-14", 0.40, 0.10, 0.40, 0.40),
        ("anthropic", "claude-sonnet-4-5", 3.00, 0.30, 3.75, 6.00),
        ("anthropic", "claude-opus-4-1", 15.00, 1.50, 18.75, 30.00),
        ("gemini", "models/gemini-2.5-pro", 1.25, 0.125, 1.25, 1.25),
        ("deepseek", "deepseek-chat", 0.28, 0.028, 0.28, 0.28),
        ("bedrock", "amazon.nova-lite-v1:0", 0.06, 0.015, 0.06, 0.06),
    ],
)
def test_prices_and_cache_multipliers(
    resolve, provider, model, input_, read, write, write_1h
) -> None:
    t = resolve(provider, model)
    assert t.input_price() == pytest.approx(input_)
    assert t.cache_read_price() == pytest.approx(read)
    assert t.cache_write_price() == pytest.approx(write)
    assert t.cache_write_price(extended_ttl=True) == pytest.approx(write_1h)


def test_anthropic_multipliers_match_the_documented_ones(resolve) -> None:
    rules = resolve("anthropic", "claude-sonnet-4-5").rules
    assert (rules.read_multiplier, rules.write_multiplier, rules.write_multiplier_1h) == (
        0.1,
        1.25,
        2.0,
    )


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("GPT-4.1-mini", "gpt-4-1-mini"),
        ("openai/gpt-4o", "gpt-4o"),
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet-20250219-v1:0"),
        ("models/gemini-2.5-pro", "gemini-2-5-pro"),
    ],
)
def test_model_names_are_normalized(name, normalized) -> None:
    assert normalize_model(name) == normalized


def test_prefixes_match_only_at_word_boundaries(resolve) -> None:
    # "gpt-4-1106-preview" starts with "gpt-4-1" (gpt-4.1) but is another model.
    t = resolve("openai", "gpt-4-1106-preview")
    assert t.price is None and t.warnings


def test_provider_aliases(profiles) -> None:
    assert profiles.resolve(Target("google", "gemini-2.5-flash")).provider == "gemini"
    assert profiles.resolve(Target("AWS", "amazon.nova-pro-v1:0")).provider == "bedrock"
    assert profiles.resolve(Target("dashscope", "qwen-plus")).provider == "qwen"


def test_unknown_provider_falls_back_to_generic_with_a_warning(profiles) -> None:
    t = profiles.resolve(Target("acme-llm", "acme-1"))
    assert t.provider == "generic" and t.requested_provider == "acme-llm"
    assert t.format == "openai_chat"
    assert any("acme-llm" in w for w in t.warnings)


def test_unknown_provider_in_strict_mode_is_invalid_input(profiles) -> None:
    with pytest.raises(InvalidInput) as err:
        profiles.resolve(Target("acme-llm", "acme-1", strict=True))
    assert err.value.violations[0].field == "target.provider"


def test_unknown_model_warns_or_is_rejected_when_strict(profiles) -> None:
    t = profiles.resolve(Target("anthropic", "claude-next"))
    assert t.price is None and t.rules.min_tokens == 1024 and t.warnings
    with pytest.raises(InvalidInput) as err:
        profiles.resolve(Target("anthropic", "claude-next", strict=True))
    assert err.value.violations[0].field == "target.model"


def test_known_model_has_no_warnings(resolve) -> None:
    assert resolve("openai", "gpt-4o").warnings == ()


def test_user_price_file_overrides_and_extends(tmp_path: Path) -> None:
    toml = tmp_path / "prices.toml"
    toml.write_text(
        '[[price]]\nprovider = "openai"\nmatch = "gpt-4o"\ninput = 1.0\noutput = 2.0\n'
        '[[price]]\nprovider = "generic"\nmatch = "acme-1"\ninput = 0.5\noutput = 1.5\n'
        "cached_input = 0.05\n"
    )
    ps = load_profiles(prices_path=toml)
    assert ps.resolve(Target("openai", "gpt-4o")).input_price() == 1.0
    assert ps.resolve(Target("openai", "gpt-4o-mini")).input_price() == 0.15  # untouched
    acme = ps.resolve(Target("somewhere", "acme-1"))
    assert acme.input_price() == 0.5 and acme.cache_read_price() == 0.05
    # The shipped table is not modified by an override.
    assert load_profiles().resolve(Target("openai", "gpt-4o")).input_price() == 2.5


def test_user_price_file_in_json(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {"price": [{"provider": "claude", "match": "claude-x", "input": 9, "output": 9}]}
        )
    )
    t = load_profiles(prices_path=path).resolve(Target("anthropic", "claude-x-1"))
    assert t.input_price() == 9 and t.cache_write_price() == pytest.approx(11.25)


def test_price_file_naming_an_unknown_provider_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[price]]\nprovider = "nope"\nmatch = "x"\ninput = 1\noutput = 1\n')
    with pytest.raises(ValueError, match="nope"):
        load_profiles(prices_path=path)
