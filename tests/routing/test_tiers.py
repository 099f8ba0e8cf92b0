"""Tier config parsing and the failover plan."""

from __future__ import annotations

import tomllib

import pytest

from promptpress.errors import FailedPrecondition
from promptpress.server.routing.tiers import (
    PriceOverrides,
    RetryPolicy,
    UpstreamKind,
    parse_routing_config,
    parse_tiers,
)

CONFIG = """
[routing]
tier_order = ["small", "mid", "frontier"]
threshold = [0.4, 0.7]
max_attempts = 3
cooldown_s = 5

[tiers.frontier]
prices = { input = 2.5, cached_input = 1.25, output = 10.0 }
[[tiers.frontier.upstreams]]
name = "claude"
kind = "anthropic"
base_url = "https://api.anthropic.com/"
model = "claude-sonnet-4-5"
api_key_env = "ANTHROPIC_API_KEY"

[tiers.small]
prices = { input = 0.15, output = 0.6 }
[[tiers.small.upstreams]]
name = "mini"
base_url = "https://api.openai.com/v1"
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
weight = 3
[[tiers.small.upstreams]]
name = "local"
base_url = "http://127.0.0.1:8000/v1"
model = "llama"

[tiers.mid]
"""


def test_parses_tiers_in_the_declared_order_with_upstreams_and_prices():
    config = parse_routing_config(tomllib.loads(CONFIG))

    assert config.tiers.names == ("small", "mid", "frontier")
    small = config.tiers.get("small")
    assert [u.qualified_name for u in small.upstreams] == ["small/mini", "small/local"]
    assert small.upstreams[0].weight == 3 and small.upstreams[1].api_key_env == ""
    # Only what the tier sets overrides the price table.
    assert small.prices == PriceOverrides(input=0.15, output=0.6)
    claude = config.tiers.get("frontier").upstreams[0]
    assert claude.kind is UpstreamKind.ANTHROPIC
    assert claude.base_url == "https://api.anthropic.com"  # trailing slash dropped
    assert config.thresholds == (0.4, 0.7)
    assert config.policy == RetryPolicy(max_attempts=3, cooldown_s=5.0)


def test_plan_goes_up_from_the_chosen_tier():
    tiers = parse_routing_config(tomllib.loads(CONFIG)).tiers
    assert [t.name for t in tiers.plan_from("small")] == ["small", "mid", "frontier"]
    assert [t.name for t in tiers.plan_from("mid")] == ["mid", "frontier"]


def test_unknown_tier_is_failed_precondition():
    tiers = parse_routing_config(tomllib.loads(CONFIG)).tiers
    with pytest.raises(FailedPrecondition, match=r"unknown tier 'huge'.*small, mid, frontier"):
        tiers.plan_from("huge")


def test_plan_without_any_upstream_is_failed_precondition():
    tiers = parse_tiers({"small": {}, "frontier": {}})
    with pytest.raises(FailedPrecondition, match="no upstream"):
        tiers.plan_from("small")
    with pytest.raises(FailedPrecondition, match="unknown tier"):
        parse_tiers({}).plan_from("small")


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"tiers": {"a": {"upstreams": [{"kind": "gemini", "base_url": "http://x", "model": "m"}]}}},
         r"tiers.a.upstreams\[0\].kind"),
        ({"tiers": {"a": {"upstreams": [{"base_url": "ftp://x", "model": "m"}]}}},
         r"tiers.a.upstreams\[0\].base_url"),
        ({"tiers": {"a": {"upstreams": [{"base_url": "http://x"}]}}}, r"upstreams\[0\].model"),
        ({"tiers": {"a": {"upstreams": [{"base_url": "http://x", "model": "m", "weight": 0}]}}},
         "weight"),
        ({"tiers": {"a": {"prices": {"input": -1}}}}, "tiers.a.prices.input"),
        ({"tiers": {"a": {"prices": {"inptu": 1}}}}, "unknown price"),
        ({"tiers": {"a": {}}, "routing": {"tier_order": ["a", "b"]}}, "not defined"),
        ({"tiers": {"a": {}, "b": {}}, "routing": {"tier_order": ["a"]}}, "leaves out"),
        ({"routing": {"threshold": [0.8, 0.2]}}, "ascending"),
        ({"routing": {"threshold": 1.5}}, "threshold"),
        ({"routing": {"max_attempts": 0}}, "max_attempts"),
        ({"routing": {"cooldown": 5}}, "unknown keys"),
        ({"tiers": {"a": {"upstreams": [
            {"name": "x", "base_url": "http://x", "model": "m"},
            {"name": "x", "base_url": "http://y", "model": "m"}]}}}, "duplicate"),
    ],
)  # fmt: skip
def test_bad_config_names_the_key(tables, message):
    with pytest.raises(ValueError, match=message):
        parse_routing_config(tables)


def test_empty_config_is_valid_but_routes_nowhere():
    config = parse_routing_config({})
    assert config.tiers.names == ()
    with pytest.raises(FailedPrecondition):
        config.tiers.plan_from("small")
