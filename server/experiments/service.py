"""Experiments at run time: assign a request to an arm, count what it cost, take
outcomes, report, and (opt-in) stop an arm that does significantly worse.

Both doors (gRPC and HTTP) call `assign` before the pipeline and `record` after
the answer; everything that touches the store is blocking (run it in the pool).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from promptpress.errors import InvalidInput, NotFound
from promptpress.server.completion import CompletionInput
from promptpress.server.experiments.assign import apply_arm, choose_arm, conversation_key
from promptpress.server.experiments.config import Arm, Experiment
from promptpress.server.experiments.ledger import Ledger, Served
from promptpress.server.experiments.report import ArmCounters, Report, compare, decide, summarize
from promptpress.server.metrics import Metrics
from promptpress.storage import Store
from promptpress.types import PreprocessInput

METRIC_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
STOPPED_CACHE_S = 5.0  # how stale an arm's stopped flag may be on another replica


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment: str
    arm: Arm
    conversation: str


@dataclass(frozen=True, slots=True)
class OutcomeResult:
    recorded: bool  # False: this (request or conversation, metric) was already counted
    experiment: str
    arm: str


class Experiments:
    def __init__(
        self,
        experiments: tuple[Experiment, ...],
        store: Store | None,
        *,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        metrics: Metrics | None = None,
    ) -> None:
        self.experiments = {e.name: e for e in experiments}
        self.ledger = Ledger(store) if store is not None else None
        self.now = now
        self.metrics = metrics
        self._stopped: dict[tuple[str, str], tuple[float, Mapping[str, str]]] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.experiments) and self.ledger is not None

    def _stopped_arms(self, tenant: str, name: str) -> Mapping[str, str]:
        assert self.ledger is not None
        key = (tenant, name)
        with self._lock:
            cached = self._stopped.get(key)
        if cached and time.monotonic() - cached[0] < STOPPED_CACHE_S:
            return cached[1]
        stopped = self.ledger.stopped(tenant, name)
        with self._lock:
            self._stopped[key] = (time.monotonic(), stopped)
        return stopped

    def assign(
        self, tenant: str, inp: PreprocessInput, conversation_id: str = ""
    ) -> tuple[PreprocessInput, Assignment | None]:
        """The first active experiment for the tenant decides the arm (config order:
        by name); without one the request is unchanged."""
        if not self:
            return inp, None
        now = self.now()
        for exp in self.experiments.values():
            if exp.applies_to(tenant) and exp.active(now):
                conversation = conversation_key(inp.messages, conversation_id)
                arm = choose_arm(exp, tenant, conversation, self._stopped_arms(tenant, exp.name))
                return apply_arm(inp, arm), Assignment(exp.name, arm, conversation)
        return inp, None

    def record(self, tenant: str, assignment: Assignment, request_id: str, served: Served) -> None:
        assert self.ledger is not None
        self.ledger.record_request(tenant, assignment.experiment, assignment.arm.name, request_id,
                                   assignment.conversation, served)  # fmt: skip
        if self.metrics is not None:
            self.metrics.record_experiment_request(
                tenant, assignment.experiment, assignment.arm.name,
                cache_status=served.cache_status, tokens_before=served.tokens_before,
                tokens_after=served.tokens_after, cost_usd=served.cost_usd,
            )  # fmt: skip

    def _experiment(self, name: str, field: str) -> Experiment:
        exp = self.experiments.get(name)
        if exp is None:
            raise NotFound(field, f"no experiment {name!r} is configured")
        return exp

    def record_outcome(
        self,
        tenant: str,
        *,
        request_id: str = "",
        conversation_id: str = "",
        metric: str = "success",
        success: bool,
        score: float | None = None,
    ) -> OutcomeResult:
        if not self:
            raise NotFound("request_id", "no experiments are configured on this server")
        metric = metric or "success"
        if not METRIC_NAME.fullmatch(metric):
            raise InvalidInput.single("metric", "1-64 characters of letters, digits, _ . -")
        if bool(request_id) == bool(conversation_id):
            raise InvalidInput.single(
                "request_id", "give exactly one of request_id or conversation_id"
            )
        assert self.ledger is not None
        if request_id:
            ref = self.ledger.request(tenant, request_id)
            if ref is None:
                raise NotFound(
                    "request_id", f"no experiment request {request_id!r} (unknown or expired)"
                )
            name, arm, key = ref.experiment, ref.arm, f"req:{request_id}"
        else:
            name, arm = self._arm_of_conversation(tenant, conversation_id)
            key = f"conv:{conversation_id}"
        exp = self._experiment(name, "request_id")
        recorded = self.ledger.record_outcome(tenant, name, arm, key, metric, success, score)
        if recorded and self.metrics is not None:
            self.metrics.record_experiment_outcome(tenant, name, arm, metric, success)
        if recorded and exp.auto_stop and metric == exp.metric and arm != exp.control:
            self._guard(tenant, exp, arm)
        return OutcomeResult(recorded, name, arm)

    def _arm_of_conversation(self, tenant: str, conversation: str) -> tuple[str, str]:
        now = self.now()
        for exp in self.experiments.values():
            if exp.applies_to(tenant) and exp.active(now):
                arm = choose_arm(exp, tenant, conversation, self._stopped_arms(tenant, exp.name))
                return exp.name, arm.name
        raise NotFound("conversation_id", "no active experiment applies to this tenant")

    def _guard(self, tenant: str, exp: Experiment, arm: str) -> None:
        assert self.ledger is not None
        counters = self.ledger.counters(tenant, exp.name, exp.metric)
        mine, control = counters.get(arm), counters.get(exp.control)
        if mine is None or control is None:
            return
        if min(mine.outcomes, control.outcomes) < exp.min_outcomes:
            return
        cmp = compare(summarize(arm, 0, mine), summarize(exp.control, 0, control), exp.metric)
        if cmp.outcome_interval is not None and cmp.outcome_interval.high < 0:
            self.ledger.stop(tenant, exp.name, arm, f"auto-stopped: {cmp.statement}")
            with self._lock:
                self._stopped.pop((tenant, exp.name), None)

    def report(self, tenant: str, name: str, metric: str = "") -> Report:
        exp = self._experiment(name, "name")
        if self.ledger is None:
            raise NotFound("name", "experiments need a store")
        metric = metric or exp.metric
        counters = self.ledger.counters(tenant, name, metric)
        stopped = self.ledger.stopped(tenant, name)
        arms = {
            a.name: summarize(
                a.name,
                a.weight,
                counters.get(a.name, ArmCounters()),
                stopped=a.name in stopped,
                stop_reason=stopped.get(a.name, ""),
            )
            for a in exp.arms
        }
        control = arms[exp.control]
        comparisons = tuple(
            compare(s, control, metric) for n, s in arms.items() if n != exp.control
        )
        verdict, recommended = decide(control, comparisons, arms)
        return Report(
            name, exp.control, metric, tuple(arms.values()), comparisons, verdict, recommended
        )


def with_arm_settings(
    completion_input: CompletionInput, assignment: Assignment | None
) -> CompletionInput:
    """A CompletionInput with the arm's Complete-only settings (tier, cache) applied."""
    if assignment is None:
        return completion_input
    s = assignment.arm.settings
    changes: dict[str, Any] = {}
    if s.tier is not None:
        changes["tier"] = s.tier
    if s.skip_cache is not None:
        changes["skip_cache"] = s.skip_cache
    if s.semantic_cache_threshold is not None:
        changes["cache_threshold"] = s.semantic_cache_threshold
    if s.routing_thresholds is not None:
        changes["routing_thresholds"] = s.routing_thresholds
    return dataclasses.replace(completion_input, **changes) if changes else completion_input
