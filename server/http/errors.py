"""Errors -> HTTP status and each API's own error JSON, in one place.

`failure_for` maps any exception to an `HttpFailure` (status, a neutral kind, the
message, the offending parameter); `openai_error` and `anthropic_error` render it
the way each SDK parses it. Unexpected exceptions become 500 with a request id
that is also logged; no traceback ever reaches the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from promptpress.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidInput,
    NotFound,
    PromptPressError,
    ResourceExhausted,
    Unavailable,
)
from promptpress.server.auth import Unauthenticated
from promptpress.server.status import http_retry_after

MAX_MESSAGE_CHARS = 2048
MAX_VIOLATIONS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class HttpFailure:
    status: int
    # invalid_request | authentication | not_found | too_large | rate_limit | unavailable
    # | timeout | internal
    kind: str
    message: str
    param: str | None = None
    retry_after_s: float | None = None

    def headers(self, request_id: str) -> dict[str, str]:
        headers = {"x-request-id": request_id}
        if self.retry_after_s is not None:
            headers.update(http_retry_after(self.retry_after_s)[1])
        return headers


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _invalid(err: InvalidInput) -> HttpFailure:
    shown = err.violations[:MAX_VIOLATIONS_SHOWN]
    text = "; ".join(f"{v.field}: {v.description}" if v.field else v.description for v in shown)
    if len(err.violations) > len(shown):
        text += f"; and {len(err.violations) - len(shown)} more"
    return HttpFailure(400, "invalid_request", _clip(text), param=shown[0].field or None)


def failure_for(exc: BaseException, request_id: str) -> HttpFailure:
    """How `exc` is reported to an HTTP caller."""
    if isinstance(exc, InvalidInput):
        return _invalid(exc)
    if isinstance(exc, NotFound):
        return HttpFailure(404, "not_found", _clip(str(exc)), param=exc.field)
    if isinstance(exc, Unauthenticated):
        return HttpFailure(401, "authentication", _clip(str(exc)))
    if isinstance(exc, ResourceExhausted):
        return HttpFailure(
            429, "rate_limit", _clip(str(exc)), retry_after_s=exc.retry_after_s or 1.0
        )
    if isinstance(exc, Unavailable):
        return HttpFailure(503, "unavailable", _clip(str(exc)))
    if isinstance(exc, FailedPrecondition):
        # The server is not set up for this request (no upstream, no model loaded):
        # nothing the caller can change in the request, so 503 rather than 400.
        return HttpFailure(503, "unavailable", _clip(str(exc)))
    if isinstance(exc, DeadlineExceeded):
        return HttpFailure(504, "timeout", _clip(str(exc)))
    if isinstance(exc, web.HTTPException):
        return _from_aiohttp(exc)
    if isinstance(exc, PromptPressError):
        return HttpFailure(500, "internal", f"{_clip(str(exc))} (request id {request_id})")
    return HttpFailure(500, "internal", f"internal error (request id {request_id})")


def _from_aiohttp(exc: web.HTTPException) -> HttpFailure:
    """aiohttp's own refusals (unknown route, wrong method, body too large)."""
    kinds = {404: "not_found", 405: "invalid_request", 413: "too_large"}
    kind = kinds.get(exc.status, "invalid_request" if exc.status < 500 else "internal")
    return HttpFailure(exc.status, kind, exc.reason or "request refused")


# --- each API's error JSON --------------------------------------------------------

_OPENAI_TYPES = {
    "invalid_request": ("invalid_request_error", None),
    "authentication": ("invalid_request_error", "invalid_api_key"),
    "not_found": ("invalid_request_error", "not_found"),
    "too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "unavailable": ("server_error", "service_unavailable"),
    "timeout": ("server_error", "timeout"),
    "internal": ("server_error", None),
}

_ANTHROPIC_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "not_found": "not_found_error",
    "too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "unavailable": "overloaded_error",
    "timeout": "timeout_error",
    "internal": "api_error",
}


def openai_error(f: HttpFailure) -> dict[str, Any]:
    """{"error": {"message", "type", "param", "code"}}, as OpenAI's API sends it."""
    kind, code = _OPENAI_TYPES[f.kind]
    if f.kind == "not_found" and f.param == "model":
        code = "model_not_found"
    return {"error": {"message": f.message, "type": kind, "param": f.param, "code": code}}


def anthropic_error(f: HttpFailure, request_id: str) -> dict[str, Any]:
    """{"type": "error", "error": {"type", "message"}}, as Anthropic's API sends it."""
    return {
        "type": "error",
        "error": {"type": _ANTHROPIC_TYPES[f.kind], "message": f.message},
        "request_id": request_id,
    }
