"""Per-tenant limits: requests per second, tokens per minute, spend (USD) per day.

Configured per tenant in TOML; a `"*"` table applies to tenants without their own:

    [tenants.acme]
    requests_per_second = 20       # token bucket, bursts up to one second's worth
    tokens_per_minute = 200000     # input tokens after preprocessing; bursts up to a minute's worth
    spend_usd_per_day = 50.0       # upstream cost, per UTC day

How a request is counted:
- `admit` runs before any work: it takes one request from the requests bucket
  and refuses the call while the tokens bucket is in debt or the day's spend
  has reached the budget. Refusals are ResourceExhausted with how long to
  wait (-> RESOURCE_EXHAUSTED + google.rpc.RetryInfo, HTTP 429 + Retry-After).
- `charge` runs after the work, when the real numbers are known: the request's
  input tokens after preprocessing (Preprocess, Complete, StreamComplete) and
  its upstream cost. It never refuses (the work is done); the bucket may go
  into debt, and the next calls wait until it refills. So a limit is exact
  over time and can be overshot by at most the requests already in flight.

Where the counters live:
- with a Redis/Valkey `store_url`: in the shared store, one Lua script per
  call (atomic on the server, one round trip, the server's clock), so every
  replica draws from the same buckets and two replicas do not double a limit.
  Keys are `pp:{tenant}:rl:<limit>` (hash-tagged like the store's keys) and
  expire once a bucket would be full again. If the store cannot be reached,
  calls are admitted (fail open, logged): the limits protect spend, and an
  outage of the store should not take the service down with it.
- otherwise (the LMDB default): in this process. Limits then hold per
  process, i.e. per replica.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from promptpress.errors import InvalidInput, ResourceExhausted
from promptpress.server.logs import log_event

log = logging.getLogger("promptpress.server")
DAY_S = 86400.0
SPEND_SCALE = 1_000_000  # spend is counted in micro-dollars (integers add exactly)
LIMIT_FIELDS = ("requests_per_second", "tokens_per_minute", "spend_usd_per_day")


@dataclass(frozen=True)
class TenantLimits:
    """One tenant's limits; None: unlimited."""

    requests_per_second: float | None = None
    tokens_per_minute: float | None = None
    spend_usd_per_day: float | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in LIMIT_FIELDS)


def parse_tenant_limits(table: Mapping[str, Any]) -> dict[str, TenantLimits]:
    """The `[tenants.NAME]` tables, checked: unknown keys and non-positive values are errors."""
    out: dict[str, TenantLimits] = {}
    for tenant, settings in table.items():
        if not isinstance(settings, Mapping):
            raise InvalidInput.single(f"tenants.{tenant}", "expected a table")
        values: dict[str, float] = {}
        for key, value in settings.items():
            path = f"tenants.{tenant}.{key}"
            if key not in LIMIT_FIELDS:
                raise InvalidInput.single(path, f"unknown limit; known: {', '.join(LIMIT_FIELDS)}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise InvalidInput.single(path, f"must be a positive number, got {value!r}")
            values[key] = float(value)
        out[tenant] = TenantLimits(**values)
    return out


@dataclass(frozen=True)
class TokenBucket:
    """A refilling bucket: `rate` per second up to `capacity`; its state is (level, at)."""

    name: str
    rate: float
    capacity: float


@dataclass(frozen=True)
class Plan:
    """What one tenant's limits mean as buckets and a daily budget (micro-dollars)."""

    requests: TokenBucket | None
    tokens: TokenBucket | None
    spend_budget: int | None


def plan_for(limits: TenantLimits) -> Plan:
    rps, tpm = limits.requests_per_second, limits.tokens_per_minute
    return Plan(
        requests=TokenBucket("requests", rps, max(1.0, rps)) if rps else None,
        tokens=TokenBucket("tokens", tpm / 60.0, tpm) if tpm else None,
        spend_budget=(
            round(limits.spend_usd_per_day * SPEND_SCALE) if limits.spend_usd_per_day else None
        ),
    )


class Counters(Protocol):
    """Where the buckets live. Blocking calls; RateLimits runs them off the event loop."""

    name: str

    def admit(self, tenant: str, plan: Plan) -> float:
        """Take one request if every limit allows; 0.0, or seconds to wait (nothing taken)."""
        ...

    def charge(self, tenant: str, plan: Plan, tokens: int, spend_micro_usd: int) -> None: ...

    def close(self) -> None: ...


def _refill(level: float, at: float, now: float, bucket: TokenBucket) -> float:
    return min(bucket.capacity, level + max(0.0, now - at) * bucket.rate)


class LocalCounters:
    """In-process counters (no shared store): limits hold per process."""

    name = "this process"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._spend: dict[str, tuple[int, int]] = {}  # tenant -> (day, micro-dollars)

    def _level(self, tenant: str, bucket: TokenBucket, now: float) -> float:
        level, at = self._buckets.get((tenant, bucket.name), (bucket.capacity, now))
        return _refill(level, at, now, bucket)

    def admit(self, tenant: str, plan: Plan) -> float:
        with self._lock:
            now = self._clock()
            wait = 0.0
            if plan.requests:
                level = self._level(tenant, plan.requests, now)
                if level < 1.0:
                    wait = max(wait, (1.0 - level) / plan.requests.rate)
            if plan.tokens:
                level = self._level(tenant, plan.tokens, now)
                if level <= 0.0:
                    wait = max(wait, (1.0 - level) / plan.tokens.rate)
            if plan.spend_budget is not None:
                day, spent = self._spend.get(tenant, (int(now // DAY_S), 0))
                if day == int(now // DAY_S) and spent >= plan.spend_budget:
                    wait = max(wait, (day + 1) * DAY_S - now)
            if wait > 0:
                return wait
            if plan.requests:
                level = self._level(tenant, plan.requests, now)
                self._buckets[(tenant, "requests")] = (level - 1.0, now)
            return 0.0

    def charge(self, tenant: str, plan: Plan, tokens: int, spend_micro_usd: int) -> None:
        with self._lock:
            now = self._clock()
            if plan.tokens and tokens > 0:
                level = self._level(tenant, plan.tokens, now)
                self._buckets[(tenant, "tokens")] = (level - tokens, now)
            if plan.spend_budget is not None and spend_micro_usd > 0:
                today = int(now // DAY_S)
                day, spent = self._spend.get(tenant, (today, 0))
                self._spend[tenant] = (today, (spent if day == today else 0) + spend_micro_usd)

    def close(self) -> None:
        pass


# KEYS: requests bucket, tokens bucket, spend hash (any may be unused).
# ARGV: mode ('admit' | 'charge'), then per bucket rate and capacity ('' when
# off), the spend budget ('' when off), the tokens and micro-dollars to charge.
# The server's clock (TIME) is the only clock, so replicas' clocks never matter.
_SCRIPT = """#!lua
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local function level(key, rate, cap)
  local v = redis.call('HMGET', key, 'level', 'at')
  local l, at = tonumber(v[1]) or cap, tonumber(v[2]) or now
  return math.min(cap, l + math.max(0, now - at) * rate)
end
local function save(key, l, rate, cap)
  redis.call('HSET', key, 'level', tostring(l), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((cap - l) / rate * 1000) + 1000)
end
local rr, rc, tr, tc = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local budget, day = tonumber(ARGV[6]), math.floor(now / 86400)
if ARGV[1] == 'admit' then
  local wait = 0
  local rl
  if rr then
    rl = level(KEYS[1], rr, rc)
    if rl < 1 then wait = math.max(wait, (1 - rl) / rr) end
  end
  if tr then
    local tl = level(KEYS[2], tr, tc)
    if tl <= 0 then wait = math.max(wait, (1 - tl) / tr) end
  end
  if budget then
    local v = redis.call('HMGET', KEYS[3], 'day', 'spent')
    if tonumber(v[1]) == day and tonumber(v[2]) >= budget then
      wait = math.max(wait, (day + 1) * 86400 - now)
    end
  end
  if wait > 0 then return tostring(wait) end
  if rr then save(KEYS[1], rl - 1, rr, rc) end
  return '0'
end
local tokens, spend = tonumber(ARGV[7]), tonumber(ARGV[8])
if tr and tokens > 0 then save(KEYS[2], level(KEYS[2], tr, tc) - tokens, tr, tc) end
if budget and spend > 0 then
  local v = redis.call('HMGET', KEYS[3], 'day', 'spent')
  local spent = (tonumber(v[1]) == day and tonumber(v[2])) or 0
  redis.call('HSET', KEYS[3], 'day', tostring(day), 'spent', tostring(spent + spend))
  redis.call('EXPIRE', KEYS[3], 2 * 86400)
end
return '0'
"""


def _opt(value: float | int | None) -> str:
    return "" if value is None else repr(value)


class RedisCounters:
    """Counters in Redis/Valkey, shared by every replica using the same store."""

    def __init__(self, url: str) -> None:
        # The store's own connection rules: TLS, passwords, ?cluster=true.
        from promptpress.storage.redis_store import connect, redacted

        self._client = connect(url)
        self._script = self._client.register_script(_SCRIPT)
        self.name = redacted(url)

    def _call(self, mode: str, tenant: str, plan: Plan, tokens: int = 0, spend: int = 0) -> str:
        tag = "pp:{" + (urllib.parse.quote(tenant, safe="") or "%") + "}:rl:"  # as the store
        r, t = plan.requests, plan.tokens
        argv = [
            mode,
            _opt(r.rate if r else None),
            _opt(r.capacity if r else None),
            _opt(t.rate if t else None),
            _opt(t.capacity if t else None),
            _opt(plan.spend_budget),
            str(tokens),
            str(spend),
        ]
        result = self._script(keys=[tag + "requests", tag + "tokens", tag + "spend"], args=argv)
        return result.decode() if isinstance(result, bytes) else str(result)

    def admit(self, tenant: str, plan: Plan) -> float:
        return float(self._call("admit", tenant, plan))

    def charge(self, tenant: str, plan: Plan, tokens: int, spend_micro_usd: int) -> None:
        self._call("charge", tenant, plan, tokens, spend_micro_usd)

    def close(self) -> None:
        self._client.close()


class RateLimits:
    """The limits of every configured tenant, checked against one Counters back end."""

    def __init__(self, limits: Mapping[str, TenantLimits], counters: Counters) -> None:
        self._plans = {tenant: plan_for(lim) for tenant, lim in limits.items() if not lim.empty}
        self.counters = counters

    @classmethod
    def from_config(cls, tenants_table: Mapping[str, Any], store_url: str = "") -> RateLimits:
        limits = parse_tenant_limits(tenants_table)
        from promptpress.storage.open import REDIS_SCHEMES

        scheme = store_url.split("://", 1)[0].lower() if "://" in store_url else ""
        shared = scheme in REDIS_SCHEMES
        counters: Counters = RedisCounters(store_url) if shared else LocalCounters()
        if limits:
            log_event(log, "tenant limits", tenants=sorted(limits), counters=counters.name)
        return cls(limits, counters)

    def plan(self, tenant: str) -> Plan | None:
        return self._plans.get(tenant) or self._plans.get("*")

    async def admit(self, tenant: str) -> None:
        """Raise ResourceExhausted (with seconds to wait) if the tenant is over a limit."""
        plan = self.plan(tenant)
        if plan is None:
            return
        try:
            if isinstance(self.counters, LocalCounters):  # a lock and arithmetic: no thread hop
                wait = self.counters.admit(tenant, plan)
            else:
                wait = await asyncio.to_thread(self.counters.admit, tenant, plan)
        except Exception as exc:  # the store is down: admit, say so (see module docstring)
            log_event(log, "rate limits unavailable; admitting", logging.ERROR, error=str(exc))
            return
        if wait > 0:
            raise ResourceExhausted(
                f"tenant {tenant!r} is over its rate limit; retry in {math.ceil(wait)} s",
                retry_after_s=wait,
            )

    async def charge(self, tenant: str, *, tokens: int = 0, spend_usd: float = 0.0) -> None:
        """Count what a finished request used (never raises)."""
        plan = self.plan(tenant)
        if plan is None or (tokens <= 0 and spend_usd <= 0):
            return
        spend = round(spend_usd * SPEND_SCALE)
        try:
            if isinstance(self.counters, LocalCounters):
                self.counters.charge(tenant, plan, tokens, spend)
            else:
                await asyncio.to_thread(self.counters.charge, tenant, plan, tokens, spend)
        except Exception as exc:
            log_event(log, "rate limits unavailable; not charged", logging.ERROR, error=str(exc))

    def close(self) -> None:
        self.counters.close()
