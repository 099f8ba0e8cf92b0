"""Per-arm counters, outcome records and arm state, kept in the Store (tenant-scoped).

Spaces, for experiment NAME of a tenant:
- `exp/NAME/counts`   map "ARM/COUNTER" -> decimal count (Incr: atomic on both back ends)
- `exp/NAME/outcomes` map "req:ID/METRIC" or "conv:ID/METRIC" -> b"1": an outcome
   is counted once, by an Expect(absent) in the same commit as its counters
- `exp/NAME/state`    map "stopped/ARM" -> why the guard stopped it
- cache `exp/requests` request id -> {"experiment", "arm", "conversation"} (TTL),
  so an outcome can name a request id instead of a conversation
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from promptpress.server.experiments.report import ArmCounters
from promptpress.server.pipeline import PreprocessOutput
from promptpress.storage import Conflict, Expect, Incr, Op, Put, Store

REQUESTS_SPACE = "exp/requests"
REQUEST_TTL_S = 30 * 86_400
MAX_REQUESTS_KEPT = 1_000_000  # per tenant; the oldest go first


@dataclass(frozen=True, slots=True)
class Served:
    """What one served request contributes to its arm."""

    tokens_before: int
    tokens_after: int
    cost_usd: float
    latency_ms: float
    cache_status: str  # "none" | "exact" | "semantic" | "" (Preprocess: no cache)


def served(
    pre: PreprocessOutput, *, cost_usd: float, cache_status: str, latency_s: float
) -> Served:
    """What a preprocessed (and perhaps answered) request contributes to its arm."""
    return Served(
        tokens_before=pre.stats.original_tokens,
        tokens_after=pre.stats.final_tokens,
        cost_usd=cost_usd,
        latency_ms=latency_s * 1000,
        cache_status=cache_status,
    )


@dataclass(frozen=True, slots=True)
class RequestRef:
    experiment: str
    arm: str
    conversation: str


def _counts(name: str) -> str:
    return f"exp/{name}/counts"


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record_request(self, tenant: str, name: str, arm: str, request_id: str,
                       conversation: str, served: Served) -> None:  # fmt: skip
        cost_nano = round(served.cost_usd * 1e9)
        cost_micro = served.cost_usd * 1e6
        incr = {
            "requests": 1,
            "tokens_before": served.tokens_before,
            "tokens_after": served.tokens_after,
            "cost_nano_usd": cost_nano,
            "cost_sq_micro_usd2": round(cost_micro * cost_micro),
            "latency_ms": round(served.latency_ms),
            "exact_hits": served.cache_status == "exact",
            "semantic_hits": served.cache_status == "semantic",
        }
        ops = [Incr(_counts(name), f"{arm}/{k}".encode(), int(v)) for k, v in incr.items() if v]
        self.store.commit(tenant, ops)
        ref = json.dumps({"experiment": name, "arm": arm, "conversation": conversation})
        self.store.cache_put(
            tenant, REQUESTS_SPACE, {request_id.encode(): ref.encode()},
            ttl_s=REQUEST_TTL_S, max_entries=MAX_REQUESTS_KEPT,
        )  # fmt: skip

    def request(self, tenant: str, request_id: str) -> RequestRef | None:
        raw = self.store.cache_get(tenant, REQUESTS_SPACE, [request_id.encode()])[0]
        if raw is None:
            return None
        data = json.loads(raw)
        return RequestRef(data["experiment"], data["arm"], data["conversation"])

    def record_outcome(self, tenant: str, name: str, arm: str, ref: str, metric: str,
                       success: bool, score: float | None) -> bool:  # fmt: skip
        """Count an outcome once per (ref, metric); False when it was already counted."""
        key = f"{ref}/{metric}".encode()
        space = f"exp/{name}/outcomes"
        counts = _counts(name)
        ops: list[Op] = [
            Expect(space, key, None),
            Put(space, key, b"1"),
            Incr(counts, f"{arm}/outcomes.{metric}".encode(), 1),
        ]
        if success:
            ops.append(Incr(counts, f"{arm}/successes.{metric}".encode(), 1))
        if score is not None and math.isfinite(score):
            ops.append(Incr(counts, f"{arm}/scored.{metric}".encode(), 1))
            ops.append(
                Incr(counts, f"{arm}/score_milli_sum.{metric}".encode(), round(score * 1000))
            )
        try:
            self.store.commit(tenant, ops)
        except Conflict:
            return False
        return True

    def counters(self, tenant: str, name: str, metric: str) -> dict[str, ArmCounters]:
        """Every arm's counters, outcomes counted for `metric`."""
        per_arm: dict[str, dict[str, int]] = {}
        suffix = f".{metric}"
        for key, value in self.store.items(tenant, _counts(name)):
            arm, _, counter = key.decode().rpartition("/")
            if "." in counter:  # an outcome counter: keep the metric asked for
                if not counter.endswith(suffix):
                    continue
                counter = counter[: -len(suffix)]
            per_arm.setdefault(arm, {})[counter] = int(value)
        return {arm: ArmCounters.from_counts(c) for arm, c in per_arm.items()}

    def stopped(self, tenant: str, name: str) -> Mapping[str, str]:
        out = {}
        for key, value in self.store.items(tenant, f"exp/{name}/state"):
            kind, _, arm = key.decode().partition("/")
            if kind == "stopped":
                out[arm] = value.decode()
        return out

    def stop(self, tenant: str, name: str, arm: str, reason: str) -> None:
        self.store.commit(
            tenant, [Put(f"exp/{name}/state", f"stopped/{arm}".encode(), reason.encode())]
        )
