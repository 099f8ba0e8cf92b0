"""What promptpress did for a request, for HTTP callers.

Two forms of the same facts: response headers (``x-promptpress-*``, readable with
the SDKs' ``with_raw_response``) and an extra top-level ``promptpress`` field in
the JSON body (both SDKs keep unknown fields: ``response.model_extra``). A stream's
headers leave before the answer exists, so streams carry the report in their last
event instead (OpenAI: the final chunk; Anthropic: ``message_delta``).
"""

from __future__ import annotations

from typing import Any

from promptpress.server.completion import Completion

HEADER_PREFIX = "x-promptpress-"


def report(done: Completion, request_id: str) -> dict[str, Any]:
    stats = done.pre.stats
    return {
        "request_id": request_id,
        "cache": done.cache_status,  # none | exact | semantic
        "similarity": round(done.similarity, 6),
        # For a cache hit, the key to report it by if the answer is wrong:
        # POST /v1/promptpress/bad_hits {"key": ...}.
        "matched_key": done.matched_key,
        "tier": done.decision.tier if done.decision else "",
        "routing_reason": done.decision.reason if done.decision else "answered from the cache",
        "upstream": done.upstream,
        "model": done.model,
        "tokens_before": stats.original_tokens,
        "tokens_after": stats.final_tokens,
        "dropped_messages": stats.dropped_messages,
        "cost_usd": done.cost_usd,  # what the upstream call cost (0 for a cache hit)
        "estimated_cost_before_usd": stats.cost_before_usd,
        "estimated_cost_after_usd": stats.cost_after_usd,
        "warnings": list(done.pre.warnings),
    }


def report_headers(done: Completion) -> dict[str, str]:
    stats = done.pre.stats
    headers = {
        "cache": done.cache_status,
        "matched-key": done.matched_key,
        "tier": done.decision.tier if done.decision else "",
        "upstream": done.upstream,
        "tokens-before": str(stats.original_tokens),
        "tokens-after": str(stats.final_tokens),
        "cost-usd": f"{done.cost_usd:.8f}",
    }
    return {HEADER_PREFIX + k: v for k, v in headers.items() if v}
