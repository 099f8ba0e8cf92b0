"""How an upstream call can fail, what each failure means for the next try, and how
the failures of a whole request are summarised for the caller.

The errors raised to callers subclass the core's Unavailable / DeadlineExceeded /
FailedPrecondition / InvalidInput, so the servicer's one mapping to gRPC codes covers
them; they also carry every attempt made, for logs and metrics.

The caller's own mistakes fail at once, with the provider's message, instead of
being retried on every upstream and tier: 400, 404, 413 and 422 (context too long,
unknown model, bad tool schema) are INVALID_ARGUMENT; 401 and 403 (the configured
key is wrong) are FAILED_PRECONDITION. 408, 409, 429 and 5xx keep retry and failover.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from promptpress.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidInput,
    Unavailable,
)
from promptpress.server.routing.protocols import snippet

_MAX_SUMMARY = 600

# Worth another try on the same upstream after a pause (529: Anthropic "overloaded").
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
# The upstream, not the request, is at fault: let it rest before sending it more.
COOL_STATUS = RETRYABLE_STATUS | {401, 403, 404}
# The request is at fault: no other upstream will take it either.
CALLER_STATUS = frozenset({400, 404, 413, 422})
# The configuration (the API key) is at fault.
CONFIG_STATUS = frozenset({401, 403})


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one upstream and how it ended ("ok" or a failure summary)."""

    upstream: str  # tier/name
    outcome: str
    status: int | None = None
    kind: str = "ok"  # ok | http | timeout | connection | protocol | config | midstream
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


class UpstreamCallFailed(Exception):
    """One attempt failed. Internal to forwarding: never reaches the caller."""

    def __init__(
        self,
        summary: str,
        *,
        kind: str,
        retryable: bool,
        cool: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
        fatal: str = "",
    ) -> None:
        super().__init__(summary)
        self.summary = summary
        self.kind = kind
        self.retryable = retryable
        self.cool = cool
        self.status = status
        self.retry_after_s = retry_after_s
        self.fatal = fatal  # "caller" | "config": stop trying, tell the caller


def http_failure(status: int, summary: str, headers: Mapping[str, str]) -> UpstreamCallFailed:
    return UpstreamCallFailed(
        summary,
        kind="http",
        status=status,
        retryable=status in RETRYABLE_STATUS or status >= 500,
        cool=status in COOL_STATUS or status >= 500,
        retry_after_s=retry_after_seconds(headers),
        fatal="caller" if status in CALLER_STATUS else "config" if status in CONFIG_STATUS else "",
    )


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or an
    HTTP date); None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# --- what the caller gets ----------------------------------------------------------


class UpstreamUnavailable(Unavailable):
    """Every upstream of the plan failed (or one failed mid-stream)."""

    def __init__(self, message: str, attempts: Sequence[Attempt]) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)


class UpstreamDeadlineExceeded(DeadlineExceeded):
    def __init__(self, message: str, attempts: Sequence[Attempt]) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)


class UpstreamNotConfigured(FailedPrecondition):
    """No upstream of the plan could even be called (missing key, no body for its kind)."""

    def __init__(self, message: str, attempts: Sequence[Attempt]) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)


class UpstreamRejected(InvalidInput):
    """The provider refused the request itself (400/404/413/422): the caller's to fix."""

    def __init__(self, message: str, attempts: Sequence[Attempt]) -> None:
        super().__init__([FieldViolation("request", message)])
        self.attempts = tuple(attempts)


def fatal_error(
    upstream: str, failure: UpstreamCallFailed, attempts: Sequence[Attempt]
) -> Exception:
    """What the caller gets for a failure no other upstream would fix."""
    if failure.fatal == "config":
        return UpstreamNotConfigured(
            f"{upstream} refused the configured credentials: {failure.summary}", attempts
        )
    return UpstreamRejected(f"{upstream} rejected the request: {failure.summary}", attempts)


def summarise(attempts: Sequence[Attempt]) -> str:
    """``small/a: HTTP 503: overloaded (x2); frontier/b: timed out after 5.0 s``."""
    groups: dict[tuple[str, str], int] = {}
    for a in attempts:
        if not a.ok:
            groups[(a.upstream, a.outcome)] = groups.get((a.upstream, a.outcome), 0) + 1
    parts = [
        f"{up}: {outcome}" + (f" (x{n})" if n > 1 else "") for (up, outcome), n in groups.items()
    ]
    text = "; ".join(parts) or "no upstream was tried"
    return text if len(text) <= _MAX_SUMMARY else text[:_MAX_SUMMARY] + "…"


def exhausted_error(attempts: Sequence[Attempt]) -> Exception:
    if not attempts:
        return UpstreamNotConfigured("no upstream configured for this tier plan", attempts)
    failed = [a for a in attempts if not a.ok]
    if failed and all(a.kind == "config" for a in failed):
        return UpstreamNotConfigured(f"no usable upstream: {summarise(attempts)}", attempts)
    names = {a.upstream for a in failed}
    return UpstreamUnavailable(
        f"all {len(names)} upstream(s) failed: {summarise(attempts)}", attempts
    )


def deadline_error(attempts: Sequence[Attempt]) -> UpstreamDeadlineExceeded:
    tail = f" after: {summarise(attempts)}" if any(not a.ok for a in attempts) else ""
    return UpstreamDeadlineExceeded(f"deadline exceeded waiting for an upstream{tail}", attempts)


# --- one attempt's failure, by cause ---------------------------------------------------


def timeout_failure(budget: float, *, streaming: bool = False) -> UpstreamCallFailed:
    what = "no data" if streaming else "no answer"
    return UpstreamCallFailed(
        f"{what} within {budget:.1f} s", kind="timeout", retryable=True, cool=True
    )


def connection_failure(exc: Exception) -> UpstreamCallFailed:
    detail = str(exc) or type(exc).__name__
    return UpstreamCallFailed(
        f"connection failed: {snippet(detail)}", kind="connection", retryable=True, cool=True
    )


def garbage_failure(exc: Exception) -> UpstreamCallFailed:
    # An upstream that answers garbage will likely do so again: fail over, don't retry.
    return UpstreamCallFailed(str(exc), kind="protocol", retryable=False, cool=True)
