"""Provider prompt-cache profiles and prices, read from data (profiles.toml).

`load_profiles()` reads the shipped table once; `load_profiles(prices_path=...)`
lays a user's price file (TOML or JSON) over it. `ProfileSet.resolve(target)`
turns a core `Target` into a `ResolvedTarget`: the provider's body format, the
cache rules of the model's family and the model's prices, plus warnings when
it had to fall back (unknown provider -> the generic profile; unknown model ->
the provider's defaults and no price). With ``target.strict`` those fallbacks
raise `InvalidInput` instead.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from promptpress.errors import InvalidInput
from promptpress.types import Target

_TABLE_PATH = Path(__file__).with_name("profiles.toml")
GENERIC = "generic"
BodyFormat = Literal["openai_chat", "anthropic_messages", "gemini_generate", "bedrock_converse"]
_FORMATS = ("openai_chat", "anthropic_messages", "gemini_generate", "bedrock_converse")
_RULE_FIELDS = (
    "caching",
    "min_tokens",
    "increment",
    "max_breakpoints",
    "lookback_blocks",
    "min_tokens_per_breakpoint",
    "read_multiplier",
    "write_multiplier",
    "write_multiplier_1h",
    "ttl_seconds",
    "ttl_seconds_extended",
)
# Bedrock inference-profile regions and model vendors prefix model ids
# ("us.anthropic.claude-3-7-sonnet-20250219-v1:0").
_REGION = re.compile(r"^(us|eu|apac|global|jp|au|ca|us-gov)\.")
_VENDOR = re.compile(r"^(anthropic|amazon|meta|mistral|deepseek|qwen|cohere|ai21)\.")


@dataclass(frozen=True, slots=True)
class CacheRules:
    """How one provider (or model family) caches prompt prefixes."""

    caching: Literal["implicit", "explicit"]
    min_tokens: int
    increment: int
    max_breakpoints: int
    lookback_blocks: int
    min_tokens_per_breakpoint: bool
    read_multiplier: float
    write_multiplier: float
    write_multiplier_1h: float
    ttl_seconds: int
    ttl_seconds_extended: int

    @property
    def explicit(self) -> bool:
        return self.caching == "explicit"

    def cacheable(self, prefix_tokens: int) -> int:
        """Tokens of a prefix this long that the provider can serve from cache."""
        if prefix_tokens < self.min_tokens:
            return 0
        step = max(1, self.increment)
        return self.min_tokens + (prefix_tokens - self.min_tokens) // step * step


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens; cached_input / cache_write None: use the multipliers."""

    match: str
    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class _Rule:
    match: str  # normalised prefix
    overrides: Mapping[str, Any]


@dataclass(frozen=True)
class ProviderProfile:
    name: str
    aliases: tuple[str, ...]
    format: BodyFormat
    prompt_cache_key: bool
    max_tokens_field: str
    seed_field: str
    default_max_output_tokens: int
    rules: CacheRules
    families: tuple[_Rule, ...]
    prices: tuple[ModelPrice, ...]
    notes: str
    sources: tuple[str, ...]

    def rules_for(self, model: str) -> tuple[CacheRules, bool]:
        """The model family's rules, and whether a family entry matched."""
        rule = _longest_match(normalize_model(model), self.families, lambda r: r.match)
        if rule is None:
            return self.rules, False
        return dataclasses.replace(self.rules, **rule.overrides), True

    def price_for(self, model: str) -> ModelPrice | None:
        return _longest_match(normalize_model(model), self.prices, lambda p: p.match)


@dataclass(frozen=True)
class ResolvedTarget:
    """Everything the layout, keys and costs need to know about the target."""

    provider: str  # the profile used ("generic" on fallback)
    requested_provider: str
    model: str
    profile: ProviderProfile
    rules: CacheRules
    price: ModelPrice | None
    warnings: tuple[str, ...] = ()

    @property
    def format(self) -> BodyFormat:
        return self.profile.format

    def input_price(self) -> float:
        return self.price.input if self.price else 0.0

    def output_price(self) -> float:
        return self.price.output if self.price else 0.0

    def cache_read_price(self) -> float:
        if self.price is None:
            return 0.0
        if self.price.cached_input is not None:
            return self.price.cached_input
        return self.price.input * self.rules.read_multiplier

    def cache_write_price(self, *, extended_ttl: bool = False) -> float:
        if self.price is None:
            return 0.0
        if self.price.cache_write is not None and not extended_ttl:
            return self.price.cache_write
        mult = self.rules.write_multiplier_1h if extended_ttl else self.rules.write_multiplier
        return self.price.input * mult


# Resolved targets remembered per ProfileSet: a service sees a handful of models, and
# resolving scans the family and price tables every request. Bounded, since model
# names come from requests.
_RESOLVED_MAX = 1024


@dataclass(frozen=True)
class ProfileSet:
    profiles: Mapping[str, ProviderProfile]
    checked_on: str
    _resolved: dict[Target, ResolvedTarget] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def profile(self, provider: str) -> ProviderProfile | None:
        name = provider.strip().lower()
        if name in self.profiles:
            return self.profiles[name]
        return next((p for p in self.profiles.values() if name in p.aliases), None)

    def resolve(self, target: Target) -> ResolvedTarget:
        """The target's profile, rules and price; falls back (with warnings) unless strict."""
        found = self._resolved.get(target)
        if found is None:
            found = self._resolve(target)  # raises for a strict miss: nothing remembered
            if len(self._resolved) < _RESOLVED_MAX:
                self._resolved[target] = found
        return found

    def _resolve(self, target: Target) -> ResolvedTarget:
        warnings: list[str] = []
        profile = self.profile(target.provider) if target.provider else self.profiles["openai"]
        if profile is None:
            if target.strict:
                raise InvalidInput.single(
                    "target.provider",
                    f"unknown provider {target.provider!r}; known: {', '.join(sorted(self.profiles))}",
                )
            warnings.append(
                f"unknown provider {target.provider!r}: using the generic profile "
                "(OpenAI-compatible body, assumed prefix caching, no prices)"
            )
            profile = self.profiles[GENERIC]
        rules, family_known = profile.rules_for(target.model)
        price = profile.price_for(target.model)
        if price is None and profile.name != GENERIC:
            if target.strict:
                raise InvalidInput.single(
                    "target.model",
                    f"no price or cache rules for model {target.model!r} of provider {profile.name!r}",
                )
            if not family_known:
                warnings.append(
                    f"unknown model {target.model!r} for provider {profile.name!r}: "
                    "using the provider's default cache rules and no price (costs are 0)"
                )
            else:
                warnings.append(f"no price for model {target.model!r}: costs are 0")
        return ResolvedTarget(
            provider=profile.name,
            requested_provider=target.provider,
            model=target.model,
            profile=profile,
            rules=rules,
            price=price,
            warnings=tuple(warnings),
        )


def normalize_model(model: str) -> str:
    """The form model names and table entries are compared in."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    name = _VENDOR.sub("", _REGION.sub("", name))
    return name.replace(".", "-")


def _longest_match(name: str, items: Sequence[Any], key: Any) -> Any:
    best, best_len = None, -1
    for item in items:
        prefix = key(item)
        boundary = len(name) == len(prefix) or name[len(prefix) : len(prefix) + 1] in "-:@_"
        if name.startswith(prefix) and boundary and len(prefix) > best_len:
            best, best_len = item, len(prefix)
    return best


def _price(entry: Mapping[str, Any]) -> ModelPrice:
    def opt(key: str) -> float | None:
        return float(entry[key]) if entry.get(key) is not None else None

    return ModelPrice(
        match=normalize_model(str(entry["match"])),
        input=float(entry["input"]),
        output=float(entry["output"]),
        cached_input=opt("cached_input"),
        cache_write=opt("cache_write"),
        source=str(entry.get("source", "")),
    )


def _profile(name: str, data: Mapping[str, Any]) -> ProviderProfile:
    if data["format"] not in _FORMATS:
        raise ValueError(f"provider {name}: unknown format {data['format']!r}")
    rules = CacheRules(
        caching=data["caching"],
        min_tokens=int(data["min_tokens"]),
        increment=int(data["increment"]),
        max_breakpoints=int(data["max_breakpoints"]),
        lookback_blocks=int(data["lookback_blocks"]),
        min_tokens_per_breakpoint=bool(data.get("min_tokens_per_breakpoint", False)),
        read_multiplier=float(data["read_multiplier"]),
        write_multiplier=float(data["write_multiplier"]),
        write_multiplier_1h=float(data["write_multiplier_1h"]),
        ttl_seconds=int(data["ttl_seconds"]),
        ttl_seconds_extended=int(data["ttl_seconds_extended"]),
    )
    families = tuple(
        _Rule(
            normalize_model(f["match"]),
            {k: type(getattr(rules, k))(v) for k, v in f.items() if k in _RULE_FIELDS},
        )
        for f in data.get("family", ())
    )
    return ProviderProfile(
        name=name,
        aliases=tuple(a.lower() for a in data.get("aliases", ())),
        format=data["format"],
        prompt_cache_key=bool(data["prompt_cache_key"]),
        max_tokens_field=str(data["max_tokens_field"]),
        seed_field=str(data.get("seed_field", "")),
        default_max_output_tokens=int(data.get("default_max_output_tokens", 0)),
        rules=rules,
        families=families,
        prices=tuple(_price(p) for p in data.get("price", ())),
        notes=str(data.get("notes", "")),
        sources=tuple(data.get("sources", ())),
    )


def _read_table(path: Path) -> Mapping[str, Any]:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)


def _apply_prices(
    profiles: dict[str, ProviderProfile], table: Mapping[str, Any], path: Path
) -> None:
    """A user price file: ``[[price]]`` entries with provider, match, input, output, ..."""
    for i, entry in enumerate(table.get("price", ())):
        provider = str(entry.get("provider", "")).lower()
        profile = profiles.get(provider) or next(
            (p for p in profiles.values() if provider in p.aliases), None
        )
        if profile is None:
            raise ValueError(f"{path}: price[{i}] names unknown provider {provider!r}")
        price = _price(entry)
        kept = tuple(p for p in profile.prices if p.match != price.match)
        profiles[profile.name] = dataclasses.replace(profile, prices=(*kept, price))


@functools.cache
def _load(path: Path, prices_path: Path | None) -> ProfileSet:
    table = _read_table(path)
    profiles = {name: _profile(name, data) for name, data in table["provider"].items()}
    if GENERIC not in profiles:
        raise ValueError(f"{path}: a [provider.{GENERIC}] profile is required")
    if prices_path is not None:
        _apply_prices(profiles, _read_table(prices_path), prices_path)
    return ProfileSet(profiles=profiles, checked_on=str(table.get("checked_on", "")))


def load_profiles(
    path: str | Path | None = None, *, prices_path: str | Path | None = None
) -> ProfileSet:
    """The provider profiles (cached per file pair): the shipped table unless `path`
    is given, with the user's price file (TOML or JSON ``price`` list) laid over it."""
    return _load(
        Path(path) if path is not None else _TABLE_PATH,
        Path(prices_path) if prices_path is not None else None,
    )
