"""What the numbers say: per-arm summaries, arm-vs-control differences with 95%
confidence intervals, and a plain verdict. Pure functions over counters.

- outcome rate: Wilson score interval (good at small n and rates near 0 or 1);
- difference of two rates: Newcombe's hybrid score interval (from the two
  Wilson intervals), which keeps its coverage where the Wald interval does not;
- difference of mean cost per request: Welch's normal interval from per-arm
  sums and sums of squares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

Z95 = 1.959963984540054
# A cheaper arm is kept only if we are 95% sure it loses fewer than this many
# points of outcome rate against control (a non-inferiority margin).
NON_INFERIORITY_MARGIN = 0.05
COST_UNIT = 1e-9  # counters hold cost in nano-USD ...
COST_SQ_UNIT = 1e-12  # ... and its square in micro-USD squared


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    if n <= 0:
        return Interval(0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(max(0.0, center - half), min(1.0, center + half))


def newcombe_difference(k1: int, n1: int, k2: int, n2: int) -> Interval:
    """95% interval for p1 - p2 (Newcombe 1998, method 10)."""
    p1, p2 = k1 / n1, k2 / n2
    a, b = wilson(k1, n1), wilson(k2, n2)
    d = p1 - p2
    return Interval(
        d - math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2),
        d + math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2),
    )


@dataclass(frozen=True, slots=True)
class ArmCounters:
    """The raw per-arm counters kept in the store."""

    requests: int = 0
    tokens_before: int = 0
    tokens_after: int = 0
    cost_nano_usd: int = 0
    cost_sq_micro_usd2: int = 0
    latency_ms: int = 0
    exact_hits: int = 0
    semantic_hits: int = 0
    outcomes: int = 0
    successes: int = 0
    scored: int = 0
    score_milli_sum: int = 0

    @classmethod
    def from_counts(cls, counts: Mapping[str, int]) -> ArmCounters:
        return cls(**{k: int(counts.get(k, 0)) for k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class ArmSummary:
    arm: str
    weight: float
    stopped: bool
    stop_reason: str
    counters: ArmCounters
    mean_tokens_before: float
    mean_tokens_after: float
    mean_cost_usd: float
    cost_variance: float
    exact_hit_rate: float
    semantic_hit_rate: float
    mean_latency_ms: float
    outcome_rate: float
    outcome_interval: Interval
    mean_score: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    arm: str
    outcome_difference: float | None  # arm - control
    outcome_interval: Interval | None
    cost_difference_usd: float | None
    cost_interval: Interval | None
    statement: str


@dataclass(frozen=True, slots=True)
class Report:
    experiment: str
    control: str
    metric: str
    arms: tuple[ArmSummary, ...]
    comparisons: tuple[Comparison, ...]
    verdict: str
    recommended_arm: str  # "" when the data cannot decide yet


def summarize(
    arm: str, weight: float, c: ArmCounters, *, stopped: bool = False, stop_reason: str = ""
) -> ArmSummary:
    n = max(c.requests, 1)
    mean_cost = c.cost_nano_usd * COST_UNIT / n
    variance = max(0.0, c.cost_sq_micro_usd2 * COST_SQ_UNIT / n - mean_cost**2)
    return ArmSummary(
        arm=arm,
        weight=weight,
        stopped=stopped,
        stop_reason=stop_reason,
        counters=c,
        mean_tokens_before=c.tokens_before / n,
        mean_tokens_after=c.tokens_after / n,
        mean_cost_usd=mean_cost,
        cost_variance=variance,
        exact_hit_rate=c.exact_hits / n,
        semantic_hit_rate=c.semantic_hits / n,
        mean_latency_ms=c.latency_ms / n,
        outcome_rate=c.successes / c.outcomes if c.outcomes else 0.0,
        outcome_interval=wilson(c.successes, c.outcomes),
        mean_score=c.score_milli_sum / 1000 / c.scored if c.scored else None,
    )


def compare(arm: ArmSummary, control: ArmSummary, metric: str) -> Comparison:
    a, b = arm.counters, control.counters
    outcome = interval = None
    if a.outcomes and b.outcomes:
        outcome = arm.outcome_rate - control.outcome_rate
        interval = newcombe_difference(a.successes, a.outcomes, b.successes, b.outcomes)
    cost = cost_interval = None
    if a.requests > 1 and b.requests > 1:
        cost = arm.mean_cost_usd - control.mean_cost_usd
        se = math.sqrt(arm.cost_variance / a.requests + control.cost_variance / b.requests)
        cost_interval = Interval(cost - Z95 * se, cost + Z95 * se)
    return Comparison(arm.arm, outcome, interval, cost, cost_interval,
                      _statement(arm, control, metric, outcome, interval))  # fmt: skip


def _statement(
    arm: ArmSummary, control: ArmSummary, metric: str, diff: float | None, ci: Interval | None
) -> str:
    if diff is None or ci is None:
        return (
            f"no {metric} outcomes yet for {arm.arm if not arm.counters.outcomes else control.arm}"
        )
    numbers = f"{diff:+.1%} (95% CI {ci.low:+.1%} to {ci.high:+.1%})"
    if ci.high < 0:
        return f"{arm.arm} is worse than {control.arm} on {metric}: {numbers}"
    if ci.low > 0:
        return f"{arm.arm} is better than {control.arm} on {metric}: {numbers}"
    return (
        f"cannot yet tell {arm.arm} from {control.arm} on {metric}: {numbers}; "
        f"{arm.counters.outcomes} and {control.counters.outcomes} outcomes so far"
    )


def decide(
    control: ArmSummary, comparisons: tuple[Comparison, ...], arms: Mapping[str, ArmSummary]
) -> tuple[str, str]:
    """(verdict, recommended arm): the cheapest arm whose outcomes are not worse than
    control's, when the data shows it is cheaper; control when nothing beats it; ""
    while the data cannot tell."""
    cheaper_and_not_worse = []
    undecided = []
    for c in comparisons:
        if c.outcome_interval is None or c.cost_interval is None:
            undecided.append(c.arm)
            continue
        worse = c.outcome_interval.high < 0
        better = c.outcome_interval.low > 0
        cheaper = c.cost_interval.high < 0
        dearer = c.cost_interval.low > 0
        if better or (cheaper and c.outcome_interval.low > -NON_INFERIORITY_MARGIN):
            cheaper_and_not_worse.append(c)
        elif not worse and not dearer:  # could still go either way
            undecided.append(c.arm)
    if cheaper_and_not_worse:
        best = min(cheaper_and_not_worse, key=lambda c: arms[c.arm].mean_cost_usd)
        return (
            f"keep {best.arm}: {best.statement}; cost per request "
            f"{best.cost_difference_usd:+.6f} USD vs {control.arm}",
            best.arm,
        )
    if undecided:
        return (
            f"the data cannot yet tell {', '.join(undecided)} from {control.arm}: keep "
            f"collecting outcomes (or keep {control.arm})",
            "",
        )
    return f"keep {control.arm}: no arm is cheaper without being worse", control.arm
