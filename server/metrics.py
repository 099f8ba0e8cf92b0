"""Per-tenant Prometheus counters, on a registry of their own.

A dedicated CollectorRegistry (not prometheus_client's global one) so a process, or a
test session, can hold several servers without metric name clashes. Label values are
bounded by configuration (tenants come from the API-key file, tiers and upstreams
from the TOML), never by request content.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from promptpress.server.routing.failures import Attempt
from promptpress.server.routing.usage import Usage

_PREFIX = "promptpress"


def _counter(registry: CollectorRegistry, name: str, doc: str, *labels: str) -> Counter:
    return Counter(f"{_PREFIX}_{name}", doc, labels, registry=registry)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = _counter(
            r, "requests", "Completed model requests.", "tenant", "tier", "cache_status"
        )
        self.prompt_tokens = _counter(
            r, "prompt_tokens", "Prompt tokens sent upstream, cached included.", "tenant", "tier"
        )
        self.completion_tokens = _counter(
            r, "completion_tokens", "Completion tokens received.", "tenant", "tier"
        )
        self.cached_tokens = _counter(
            r, "cached_tokens", "Prompt tokens read from provider caches.", "tenant", "tier"
        )
        self.cache_write_tokens = _counter(
            r, "cache_write_tokens", "Prompt tokens written to provider caches.", "tenant", "tier"
        )
        self.cost_usd = _counter(
            r, "cost_usd", "Estimated upstream spend in US dollars.", "tenant", "tier"
        )
        self.cache_lookups = _counter(
            r,
            "semantic_cache_lookups",
            "Semantic cache lookups by result (none, exact, semantic).",
            "tenant",
            "status",
        )
        self.upstream_errors = _counter(
            r,
            "upstream_errors",
            "Failed upstream attempts by kind "
            "(http, timeout, connection, protocol, config, midstream).",
            "tenant",
            "upstream",
            "kind",
        )
        self.experiment_requests = _counter(
            r, "experiment_requests", "Requests served in an experiment arm.",
            "tenant", "experiment", "arm", "cache_status",
        )  # fmt: skip
        self.experiment_input_tokens = _counter(
            r, "experiment_input_tokens", "Input tokens of experiment requests (stage: before, after).",
            "tenant", "experiment", "arm", "stage",
        )  # fmt: skip
        self.experiment_cost_usd = _counter(
            r, "experiment_cost_usd", "Upstream spend (Preprocess: estimated) of experiment requests.",
            "tenant", "experiment", "arm",
        )  # fmt: skip
        self.experiment_outcomes = _counter(
            r, "experiment_outcomes", "Outcomes recorded for experiment arms (result: success, failure).",
            "tenant", "experiment", "arm", "metric", "result",
        )  # fmt: skip
        self.upstream_seconds = Histogram(
            f"{_PREFIX}_upstream_seconds",
            "Duration of successful upstream calls.",
            ["upstream"],
            registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
        )

    def record_completion(self, tenant: str, tier: str, usage: Usage, cost_usd: float) -> None:
        """One answered request that went upstream."""
        self.requests.labels(tenant, tier, "none").inc()
        self.prompt_tokens.labels(tenant, tier).inc(usage.prompt_tokens)
        self.completion_tokens.labels(tenant, tier).inc(usage.completion_tokens)
        self.cached_tokens.labels(tenant, tier).inc(usage.cached_tokens)
        self.cache_write_tokens.labels(tenant, tier).inc(
            usage.cache_write_tokens + usage.cache_write_1h_tokens
        )
        self.cost_usd.labels(tenant, tier).inc(cost_usd)

    def record_cache_lookup(self, tenant: str, status: str) -> None:
        """status: "none", "exact" or "semantic" (the CacheStatus name, lower case)."""
        self.cache_lookups.labels(tenant, status.lower()).inc()

    def record_cache_answer(self, tenant: str, status: str) -> None:
        """A request answered from the semantic cache (no upstream, no spend)."""
        self.requests.labels(tenant, "", status.lower()).inc()

    def record_attempts(self, tenant: str, attempts: Iterable[Attempt]) -> None:
        for a in attempts:
            if a.ok:
                self.upstream_seconds.labels(a.upstream).observe(a.elapsed_s)
            else:
                self.upstream_errors.labels(tenant, a.upstream, a.kind).inc()

    def record_experiment_request(
        self, tenant: str, experiment: str, arm: str, *, cache_status: str,
        tokens_before: int, tokens_after: int, cost_usd: float,
    ) -> None:  # fmt: skip
        self.experiment_requests.labels(tenant, experiment, arm, cache_status or "none").inc()
        self.experiment_input_tokens.labels(tenant, experiment, arm, "before").inc(tokens_before)
        self.experiment_input_tokens.labels(tenant, experiment, arm, "after").inc(tokens_after)
        self.experiment_cost_usd.labels(tenant, experiment, arm).inc(cost_usd)

    def record_experiment_outcome(
        self, tenant: str, experiment: str, arm: str, metric: str, success: bool
    ) -> None:
        result = "success" if success else "failure"
        self.experiment_outcomes.labels(tenant, experiment, arm, metric, result).inc()

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when never set): for tests and debugging."""
        return self.registry.get_sample_value(name, labels) or 0.0


@dataclass(frozen=True)
class MetricsServer:
    port: int
    _server: object
    _thread: threading.Thread

    def close(self) -> None:
        self._server.shutdown()  # type: ignore[attr-defined]
        self._server.server_close()  # type: ignore[attr-defined]
        self._thread.join(timeout=5)


def start_metrics_http_server(
    port: int, registry: CollectorRegistry, *, addr: str = "127.0.0.1"
) -> MetricsServer:
    """Serves /metrics for `registry` in a daemon thread; port 0 picks a free port."""
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsServer(server.server_port, server, thread)
