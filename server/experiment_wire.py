"""Experiments at the gRPC edge: the response fields that say which arm applied, and
the report as protobuf."""

from __future__ import annotations

import contextvars

from promptpress.cachekeys.cost import round_usd
from promptpress.server.experiments import Assignment, Report
from promptpress.v1 import promptpress_pb2 as pb

# The id of the call being served (set by the servicer's _rpc; reaches worker threads,
# which run each job in a copy of the submitting context).
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "promptpress_request_id", default=""
)


def stamp(
    response: pb.PreprocessResponse | pb.CompleteResponse, a: Assignment, request_id: str
) -> None:
    response.request_id = request_id
    response.conversation_id = a.conversation
    response.experiment = a.experiment
    response.arm = a.arm.name


def report_to_proto(r: Report) -> pb.GetExperimentReportResponse:
    out = pb.GetExperimentReportResponse(
        name=r.experiment, control=r.control, metric=r.metric, verdict=r.verdict,
        recommended_arm=r.recommended_arm,
    )  # fmt: skip
    for a in r.arms:
        arm = out.arms.add(
            arm=a.arm, weight=a.weight, stopped=a.stopped, stop_reason=a.stop_reason,
            requests=a.counters.requests, mean_input_tokens_before=a.mean_tokens_before,
            mean_input_tokens_after=a.mean_tokens_after, mean_cost_usd=round_usd(a.mean_cost_usd),
            exact_hit_rate=a.exact_hit_rate, semantic_hit_rate=a.semantic_hit_rate,
            mean_latency_ms=a.mean_latency_ms, outcomes=a.counters.outcomes,
            outcome_rate=a.outcome_rate,
            outcome_rate_interval=pb.Interval(low=a.outcome_interval.low, high=a.outcome_interval.high),
        )  # fmt: skip
        if a.mean_score is not None:
            arm.mean_score = a.mean_score
    for c in r.comparisons:
        cmp = out.comparisons.add(arm=c.arm, statement=c.statement)
        if c.outcome_difference is not None and c.outcome_interval is not None:
            cmp.outcome_rate_difference = c.outcome_difference
            cmp.outcome_rate_difference_interval.low = c.outcome_interval.low
            cmp.outcome_rate_difference_interval.high = c.outcome_interval.high
        if c.cost_difference_usd is not None and c.cost_interval is not None:
            cmp.cost_difference_usd = c.cost_difference_usd
            cmp.cost_difference_interval.low = c.cost_interval.low
            cmp.cost_difference_interval.high = c.cost_interval.high
    return out
