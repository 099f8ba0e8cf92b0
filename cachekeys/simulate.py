"""A simulator of a provider's prompt cache, for replaying conversations offline.

It models what the profiles encode: exact-prefix matching at message
boundaries, the minimum cacheable size and hit increments, the idle TTL
(refreshed on every hit), and billing at the read / write multipliers.

- implicit providers (OpenAI, Gemini, DeepSeek, ...): every request's message
  prefixes are cached; a request reads the longest cached prefix, rounded
  down to the provider's increments.
- explicit providers (Anthropic, Bedrock): only prefixes ending at a
  breakpoint are written (if they reach the minimum); a request reads the
  longest cached prefix found at or up to `lookback_blocks` blocks before any
  of its breakpoints, and pays the write premium on the tokens between that
  read and its deepest breakpoint.

Partial matches inside a message, and the provider's cache capacity, are not
modelled: the simulation is a little pessimistic about hits within a message
and optimistic about capacity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from promptpress.cachekeys.cost import Cost, Usage, cost_of_usage
from promptpress.cachekeys.profiles import ResolvedTarget


@dataclass(frozen=True, slots=True)
class SimRequest:
    prefix_ids: Sequence[str]  # a hash of the prompt up to and including each message
    tokens: Sequence[int]  # cumulative tokens through each message
    blocks: Sequence[int]  # cumulative content blocks through each message
    total_tokens: int  # the whole prompt
    breakpoints: Sequence[int] = ()  # message indices (explicit providers)
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class SimResult:
    usage: Usage
    cost: Cost


@dataclass
class CacheSimulator:
    target: ResolvedTarget
    ttl_s: float | None = None  # default: the provider's short TTL
    _expiry: dict[str, float] = field(default_factory=dict)

    @property
    def ttl(self) -> float:
        return float(self.ttl_s if self.ttl_s is not None else self.target.rules.ttl_seconds)

    def _alive(self, prefix_id: str, now: float) -> bool:
        return self._expiry.get(prefix_id, -1.0) > now

    def request(self, req: SimRequest, now: float) -> SimResult:
        """Bills one request at time `now` (seconds) and updates the cache."""
        rules = self.target.rules
        if rules.explicit:
            read_at, written = self._explicit(req, now)
        else:
            read_at, written = self._implicit(req, now)
        read = rules.cacheable(req.tokens[read_at]) if read_at >= 0 else 0
        read = min(read, req.total_tokens)
        usage = Usage(
            prompt_tokens=req.total_tokens,
            completion_tokens=req.output_tokens,
            cached_tokens=read,
            cache_write_tokens=min(written, req.total_tokens - read),
        )
        return SimResult(usage, cost_of_usage(usage, self.target))

    def _implicit(self, req: SimRequest, now: float) -> tuple[int, int]:
        rules = self.target.rules
        read_at = max((i for i, p in enumerate(req.prefix_ids) if self._alive(p, now)), default=-1)
        if req.total_tokens >= rules.min_tokens:
            for p in req.prefix_ids:
                self._expiry[p] = now + self.ttl
        return read_at, 0

    def _explicit(self, req: SimRequest, now: float) -> tuple[int, int]:
        rules = self.target.rules
        read_at = -1
        for b in req.breakpoints:
            lowest = (
                req.blocks[b] - rules.lookback_blocks if rules.lookback_blocks else req.blocks[b]
            )
            for j in range(b, -1, -1):
                if req.blocks[j] < lowest:
                    break
                if j > read_at and self._alive(req.prefix_ids[j], now):
                    read_at = j
                    break
        if read_at >= 0:
            self._expiry[req.prefix_ids[read_at]] = now + self.ttl
        deepest_write, below = -1, 0
        for b in sorted(req.breakpoints):
            size = req.tokens[b]
            if size < rules.min_tokens:
                continue
            if rules.min_tokens_per_breakpoint and size - below < rules.min_tokens:
                continue
            below = size
            self._expiry[req.prefix_ids[b]] = now + self.ttl
            deepest_write = max(deepest_write, b)
        read_tokens = req.tokens[read_at] if read_at >= 0 else 0
        written = req.tokens[deepest_write] - read_tokens if deepest_write > read_at else 0
        return read_at, max(0, written)
