"""Model tiers and how requests are forwarded to them, parsed from the TOML config.

The config loader hands over its raw, non-scalar tables (``ServerConfig.extra``);
`parse_routing_config` reads ``[tiers.*]`` and ``[routing]`` from them:

    [routing]
    tier_order = ["small", "frontier"]   # cheapest first; default: document order
    threshold = 0.5                      # difficulty >= threshold -> a tier up
    difficulty_model = ""                # trained model JSON; empty: heuristic only
    max_attempts = 2                     # tries per upstream on 429/5xx/timeouts
    cooldown_s = 30.0

    [tiers.small]
    # Optional: prices come from cachekeys/profiles.toml (dated, sourced) for
    # every model it knows; a tier's prices override them key by key.
    prices = { input = 0.15, cached_input = 0.075, cache_write = 0.0, output = 0.60 }

    [[tiers.small.upstreams]]
    name = "openai-mini"
    kind = "openai"                      # or "anthropic" (Messages API)
    base_url = "https://api.openai.com/v1"
    model = "gpt-4o-mini"
    api_key_env = "OPENAI_API_KEY"
    weight = 1.0
    # OpenAI-compatible servers differ; the defaults suit OpenAI itself:
    max_tokens_field = "max_completion_tokens"   # or "max_tokens" (older servers)
    send_prompt_cache_key = true         # false for servers that reject the field
    send_stream_options = true           # stream_options.include_usage when streaming

A config that cannot be right (bad kind, negative price) raises ValueError naming
the key, at start-up. A tier with no upstreams is allowed in the file (routing can
be configured before keys exist); requests that need it get FailedPrecondition.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptpress.errors import FailedPrecondition


class UpstreamKind(enum.Enum):
    """The wire protocol an upstream speaks."""

    OPENAI = "openai"  # POST {base_url}/chat/completions, OpenAI-compatible
    ANTHROPIC = "anthropic"  # POST {base_url}/v1/messages, Anthropic Messages API


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens. Cached input and cache writes default to plain input."""

    input: float = 0.0
    cached_input: float = 0.0
    cache_write: float = 0.0
    output: float = 0.0


@dataclass(frozen=True, slots=True)
class PriceOverrides:
    """A tier's own prices (USD per million tokens); None: take the price table's."""

    input: float | None = None
    cached_input: float | None = None
    cache_write: float | None = None
    output: float | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, k) is None for k in _PRICE_KEYS)


MAX_TOKENS_FIELDS = ("max_completion_tokens", "max_tokens")


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    name: str
    kind: UpstreamKind
    base_url: str
    model: str
    # Environment variable holding the API key; empty: send no key (local servers).
    api_key_env: str = ""
    weight: float = 1.0
    tier: str = ""
    # OpenAI-compatible only (Anthropic's API has one way for each):
    max_tokens_field: str = "max_completion_tokens"
    send_prompt_cache_key: bool = True
    send_stream_options: bool = True

    @property
    def qualified_name(self) -> str:
        """ "tier/name": unique across the config, used in metrics and responses."""
        return f"{self.tier}/{self.name}"


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    upstreams: tuple[UpstreamConfig, ...]
    prices: PriceOverrides = PriceOverrides()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard the forwarder tries before giving up on an upstream, and for how long."""

    max_attempts: int = 2  # per upstream, for retryable failures (429, 5xx, timeouts)
    backoff_base_s: float = 0.25  # first retry waits about this; doubles each time
    backoff_max_s: float = 4.0
    max_retry_after_s: float = 10.0  # a longer Retry-After fails over instead of waiting
    cooldown_s: float = 30.0  # a failed upstream is tried last for this long
    connect_timeout_s: float = 5.0
    attempt_timeout_s: float = 120.0  # caps one non-streamed call when no deadline is set
    stream_idle_timeout_s: float = 60.0  # longest silence between two streamed chunks
    # Share of the remaining deadline one attempt may use while another upstream is
    # left to try (a hung upstream must leave the next one time to answer).
    attempt_share: float = 0.5
    max_connections: int = 100


@dataclass(frozen=True, slots=True)
class TierConfig:
    """Tiers ordered cheapest first."""

    tiers: tuple[Tier, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tiers)

    def get(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        known = ", ".join(self.names) or "none configured"
        raise FailedPrecondition(f"unknown tier {name!r} (tiers: {known})")

    def plan_from(self, name: str) -> tuple[Tier, ...]:
        """The tier asked for, then every pricier one: the failover path ("up a tier")."""
        start = self.tiers.index(self.get(name))
        plan = self.tiers[start:]
        if not any(t.upstreams for t in plan):
            raise FailedPrecondition(
                f"no upstream configured for tier {name!r} or any tier above it"
            )
        return plan


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    tiers: TierConfig = TierConfig()
    policy: RetryPolicy = RetryPolicy()
    # Ascending; a score at or above thresholds[i] goes at least to tier i + 1.
    thresholds: tuple[float, ...] = (0.5,)
    difficulty_model: str = ""


_PRICE_KEYS = ("input", "cached_input", "cache_write", "output")
_POLICY_FIELDS = {f: type(getattr(RetryPolicy(), f)) for f in RetryPolicy.__dataclass_fields__}


def parse_routing_config(tables: Mapping[str, Any]) -> RoutingConfig:
    """Reads ``tiers`` and ``routing`` from the config's raw tables; ValueError names the key."""
    routing = _table(tables.get("routing", {}), "routing")
    unknown = sorted(set(routing) - _ROUTING_KEYS)
    if unknown:
        raise ValueError(f"routing: unknown keys {unknown}")
    tiers = parse_tiers(tables.get("tiers", {}), routing.get("tier_order"))
    return RoutingConfig(
        tiers=tiers,
        policy=_parse_policy(routing),
        thresholds=_parse_thresholds(routing.get("threshold", 0.5)),
        difficulty_model=str(routing.get("difficulty_model", "")),
    )


def parse_tiers(table: Any, order: Sequence[str] | None = None) -> TierConfig:
    table = _table(table, "tiers")
    names = list(order) if order is not None else list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"routing.tier_order: names tiers that are not defined: {unknown}")
    missing = [n for n in table if n not in names]
    if missing:
        raise ValueError(f"routing.tier_order: leaves out defined tiers {missing}")
    return TierConfig(tuple(_parse_tier(name, table[name]) for name in names))


def _parse_tier(name: str, raw: Any) -> Tier:
    where = f"tiers.{name}"
    raw = _table(raw, where)
    prices_raw = _table(raw.get("prices", {}), f"{where}.prices")
    for key in prices_raw:
        if key not in _PRICE_KEYS:
            raise ValueError(f"{where}.prices.{key}: unknown price (known: {_PRICE_KEYS})")
    values = {k: _non_negative(v, f"{where}.prices.{k}") for k, v in prices_raw.items()}
    upstreams_raw = raw.get("upstreams", [])
    if not isinstance(upstreams_raw, list):
        raise ValueError(f"{where}.upstreams: must be an array of tables")
    upstreams = tuple(
        _parse_upstream(name, i, u, f"{where}.upstreams[{i}]") for i, u in enumerate(upstreams_raw)
    )
    seen: set[str] = set()
    for u in upstreams:
        if u.name in seen:
            raise ValueError(f"{where}.upstreams: duplicate name {u.name!r}")
        seen.add(u.name)
    return Tier(name=name, upstreams=upstreams, prices=PriceOverrides(**values))


def _parse_upstream(tier: str, index: int, raw: Any, where: str) -> UpstreamConfig:
    raw = _table(raw, where)
    try:
        kind = UpstreamKind(str(raw.get("kind", "openai")).lower())
    except ValueError:
        raise ValueError(f"{where}.kind: must be 'openai' or 'anthropic'") from None
    base_url = str(raw.get("base_url", "")).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"{where}.base_url: must be an http(s) URL, got {base_url!r}")
    model = str(raw.get("model", ""))
    if not model:
        raise ValueError(f"{where}.model: required")
    weight = _non_negative(raw.get("weight", 1.0), f"{where}.weight")
    if weight == 0:
        raise ValueError(f"{where}.weight: must be positive")
    unknown = sorted(set(raw) - _UPSTREAM_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}")
    max_tokens_field = str(raw.get("max_tokens_field", MAX_TOKENS_FIELDS[0]))
    if max_tokens_field not in MAX_TOKENS_FIELDS:
        raise ValueError(f"{where}.max_tokens_field: must be one of {MAX_TOKENS_FIELDS}")
    return UpstreamConfig(
        name=str(raw.get("name") or f"{kind.value}-{index}"),
        kind=kind,
        base_url=base_url,
        model=model,
        api_key_env=str(raw.get("api_key_env", "")),
        weight=weight,
        tier=tier,
        max_tokens_field=max_tokens_field,
        send_prompt_cache_key=_bool(raw.get("send_prompt_cache_key", True), where),
        send_stream_options=_bool(raw.get("send_stream_options", True), where),
    )


_UPSTREAM_KEYS = {
    "name",
    "kind",
    "base_url",
    "model",
    "api_key_env",
    "weight",
    "max_tokens_field",
    "send_prompt_cache_key",
    "send_stream_options",
}


def _bool(raw: Any, where: str) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"{where}: send_* options must be true or false, got {raw!r}")
    return raw


_ROUTING_KEYS = {"tier_order", "threshold", "difficulty_model", *_POLICY_FIELDS}


def _parse_policy(routing: Mapping[str, Any]) -> RetryPolicy:
    values: dict[str, Any] = {}
    for name, kind in _POLICY_FIELDS.items():
        if name in routing:
            number = _non_negative(routing[name], f"routing.{name}")
            values[name] = int(number) if kind is int else number
    policy = RetryPolicy(**values)
    if policy.max_attempts < 1:
        raise ValueError("routing.max_attempts: must be at least 1")
    if not 0 < policy.attempt_share <= 1:
        raise ValueError("routing.attempt_share: must be in (0, 1]")
    return policy


def _parse_thresholds(raw: Any) -> tuple[float, ...]:
    values = raw if isinstance(raw, list) else [raw]
    out = tuple(_non_negative(v, "routing.threshold") for v in values)
    if any(v > 1 for v in out) or list(out) != sorted(out):
        raise ValueError("routing.threshold: numbers in [0, 1], ascending")
    return out


def _table(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be a table")
    return raw


def _non_negative(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"{where}: must be a number, got {raw!r}")
    if raw < 0:
        raise ValueError(f"{where}: must not be negative")
    return float(raw)
