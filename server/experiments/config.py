"""Experiments from the config: `[experiments.NAME]` tables, validated at start-up.

    [experiments.trim-depth]
    tenants = ["*"]                 # or a list of tenant names
    control = "moderate"            # the arm the others are compared with
    metric = "success"              # the outcome metric that decides (default "success")
    start = 2026-12-01T00:00:00Z    # optional window (TOML datetime or RFC 3339 string)
    stop = 2027-01-01T00:00:00Z
    auto_stop = true                # opt-in guard: stop an arm significantly worse than control
    min_outcomes = 50               # outcomes per arm before the guard may act (default 50)
    [experiments.trim-depth.arms.moderate]
    weight = 1
    budget = { max_history_tokens = 4000 }
    [experiments.trim-depth.arms.aggressive]
    weight = 1
    budget = { max_history_tokens = 1500, compression_rate = 0.5 }
    compression_method = "llmlingua"

An arm's settings override the request's for the fields they set; see
ArmSettings for every one. Errors name the key: `experiments.trim-depth.arms.
aggressive.budget.compression_rate: must be in (0, 1]`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from promptpress.errors import FieldViolation, InvalidInput
from promptpress.types import CompressionMethod, Placement

# Experiment and arm names appear in store keys, metric labels and CLI arguments.
NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
BUDGET_KEYS = ("max_prompt_tokens", "max_history_tokens", "max_context_tokens", "compression_rate")
ARM_KEYS = {
    "weight", "budget", "compression_method", "placement", "semantic_cache_threshold", "tier",
    "skip_cache", "routing_threshold",
}  # fmt: skip
EXPERIMENT_KEYS = {
    "tenants", "control", "metric", "start", "stop", "auto_stop", "min_outcomes", "arms",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ArmSettings:
    """What an arm changes; None leaves the request's own value."""

    max_prompt_tokens: int | None = None
    max_history_tokens: int | None = None
    max_context_tokens: int | None = None
    compression_rate: float | None = None
    compression_method: CompressionMethod | None = None
    placement: Placement | None = None
    semantic_cache_threshold: float | None = None  # Complete only
    # Complete only: the router's difficulty thresholds (ascending; one number for two tiers)
    routing_thresholds: tuple[float, ...] | None = None
    tier: str | None = None  # Complete only: force a tier ("" lets the router decide)
    skip_cache: bool | None = None  # Complete only


@dataclass(frozen=True, slots=True)
class Arm:
    name: str
    weight: float
    settings: ArmSettings


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    arms: tuple[Arm, ...]
    control: str
    tenants: tuple[str, ...] = ("*",)
    metric: str = "success"
    start: dt.datetime | None = None
    stop: dt.datetime | None = None
    auto_stop: bool = False
    min_outcomes: int = 50

    def applies_to(self, tenant: str) -> bool:
        return "*" in self.tenants or tenant in self.tenants

    def active(self, now: dt.datetime) -> bool:
        return (self.start is None or now >= self.start) and (self.stop is None or now < self.stop)

    def arm(self, name: str) -> Arm:
        return next(a for a in self.arms if a.name == name)


@dataclass
class _Errors:
    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, path: str, why: str) -> None:
        self.violations.append(FieldViolation(path, why))


def _number(raw: Any, path: str, errors: _Errors, *, integer: bool = False) -> float | None:
    if (
        isinstance(raw, bool)
        or not isinstance(raw, int | float)
        or (integer and not isinstance(raw, int))
    ):
        errors.add(path, f"must be {'an integer' if integer else 'a number'}, got {raw!r}")
        return None
    return raw


def _time(raw: Any, path: str, errors: _Errors) -> dt.datetime | None:
    if raw is None:
        return None
    try:
        value = raw if isinstance(raw, dt.datetime) else dt.datetime.fromisoformat(str(raw))
    except ValueError:
        errors.add(path, f"must be an RFC 3339 date-time, got {raw!r}")
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _budget(raw: Any, path: str, errors: _Errors) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        errors.add(path, "must be a table")
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{path}.{key}"
        if key not in BUDGET_KEYS:
            errors.add(where, f"unknown budget setting (known: {', '.join(BUDGET_KEYS)})")
        elif key == "compression_rate":
            rate = _number(value, where, errors)
            if rate is not None and not 0 < rate <= 1:
                errors.add(where, "must be in (0, 1]")
            out[key] = rate
        else:
            n = _number(value, where, errors, integer=True)
            if n is not None and n < 0:
                errors.add(where, "must be >= 0 (0: no limit)")
            out[key] = n
    return out


def _enum(
    kind: type[CompressionMethod] | type[Placement], raw: Any, path: str, errors: _Errors
) -> Any:
    try:
        return kind(str(raw).lower())
    except ValueError:
        errors.add(path, f"must be one of {', '.join(m.value for m in kind)}, got {raw!r}")
        return None


def _thresholds(raw: Any, path: str, errors: _Errors) -> tuple[float, ...] | None:
    items = raw if isinstance(raw, list) else [raw]
    values = [_number(x, path, errors) for x in items]
    if any(v is None for v in values) or not values:
        return None
    out = tuple(float(v) for v in values if v is not None)
    if list(out) != sorted(out) or not all(0 < v < 1 for v in out):
        errors.add(path, "must be a number in (0, 1), or an ascending list of them")
        return None
    return out


def _arm(name: str, raw: Any, path: str, errors: _Errors) -> Arm | None:
    if not NAME.fullmatch(name):
        errors.add(path, "arm names are 1-64 letters, digits, _ . -")
    if not isinstance(raw, Mapping):
        errors.add(path, "must be a table")
        return None
    for key in raw.keys() - ARM_KEYS:
        errors.add(f"{path}.{key}", f"unknown arm setting (known: {', '.join(sorted(ARM_KEYS))})")
    weight = _number(raw.get("weight", 1), f"{path}.weight", errors)
    if weight is not None and weight <= 0:
        errors.add(f"{path}.weight", "must be > 0")
    values = _budget(raw.get("budget", {}), f"{path}.budget", errors)
    if "compression_method" in raw:
        values["compression_method"] = _enum(
            CompressionMethod, raw["compression_method"], f"{path}.compression_method", errors
        )
    if "placement" in raw:
        values["placement"] = _enum(Placement, raw["placement"], f"{path}.placement", errors)
    if "semantic_cache_threshold" in raw:
        where = f"{path}.semantic_cache_threshold"
        threshold = _number(raw["semantic_cache_threshold"], where, errors)
        if threshold is not None and not 0 < threshold <= 1:
            errors.add(where, "must be in (0, 1]")
        values["semantic_cache_threshold"] = threshold
    if "routing_threshold" in raw:
        values["routing_thresholds"] = _thresholds(
            raw["routing_threshold"], f"{path}.routing_threshold", errors
        )
    if "tier" in raw:
        values["tier"] = str(raw["tier"]).strip()
    if "skip_cache" in raw:
        if not isinstance(raw["skip_cache"], bool):
            errors.add(f"{path}.skip_cache", "must be true or false")
        values["skip_cache"] = bool(raw["skip_cache"])
    return Arm(name, float(weight or 1), ArmSettings(**values))


def _experiment(name: str, raw: Any, errors: _Errors) -> Experiment | None:
    path = f"experiments.{name}"
    if not NAME.fullmatch(name):
        errors.add(path, "experiment names are 1-64 letters, digits, _ . -")
    if not isinstance(raw, Mapping):
        errors.add(path, "must be a table")
        return None
    for key in raw.keys() - EXPERIMENT_KEYS:
        errors.add(
            f"{path}.{key}", f"unknown setting (known: {', '.join(sorted(EXPERIMENT_KEYS))})"
        )
    arms_raw = raw.get("arms")
    if not isinstance(arms_raw, Mapping) or len(arms_raw) < 2:
        errors.add(f"{path}.arms", "needs at least two [experiments.NAME.arms.ARM] tables")
        return None
    arms = [_arm(str(k), v, f"{path}.arms.{k}", errors) for k, v in arms_raw.items()]
    control = str(raw.get("control", ""))
    if control not in arms_raw:
        errors.add(f"{path}.control", f"must name one of the arms ({', '.join(arms_raw)})")
    tenants = raw.get("tenants", ["*"])
    if (
        not isinstance(tenants, list)
        or not tenants
        or not all(isinstance(t, str) and t for t in tenants)
    ):
        errors.add(f"{path}.tenants", 'must be a non-empty list of tenant names, or ["*"]')
        tenants = ["*"]
    start, stop = (
        _time(raw.get("start"), f"{path}.start", errors),
        _time(raw.get("stop"), f"{path}.stop", errors),
    )
    if start and stop and stop <= start:
        errors.add(f"{path}.stop", "must be after start")
    min_outcomes = _number(
        raw.get("min_outcomes", 50), f"{path}.min_outcomes", errors, integer=True
    )
    if min_outcomes is not None and min_outcomes < 1:
        errors.add(f"{path}.min_outcomes", "must be >= 1")
    if not isinstance(raw.get("auto_stop", False), bool):
        errors.add(f"{path}.auto_stop", "must be true or false")
    metric = str(raw.get("metric", "success")).strip()
    if not metric:
        errors.add(f"{path}.metric", "must not be empty")
    if any(a is None for a in arms):
        return None
    return Experiment(
        name=name,
        arms=tuple(a for a in arms if a is not None),
        control=control,
        tenants=tuple(tenants),
        metric=metric,
        start=start,
        stop=stop,
        auto_stop=bool(raw.get("auto_stop", False)),
        min_outcomes=int(min_outcomes or 50),
    )


def parse_experiments(tables: Mapping[str, Any]) -> tuple[Experiment, ...]:
    """The `[experiments.*]` tables of the config; raises InvalidInput naming every bad key."""
    raw = tables.get("experiments", {})
    errors = _Errors()
    if not isinstance(raw, Mapping):
        raise InvalidInput.single("experiments", "must be a table of [experiments.NAME] tables")
    experiments = [_experiment(str(name), value, errors) for name, value in sorted(raw.items())]
    if errors.violations:
        raise InvalidInput(errors.violations)
    return tuple(e for e in experiments if e is not None)
