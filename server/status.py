"""Core errors -> gRPC status, in one place.

InvalidInput becomes INVALID_ARGUMENT with google.rpc.BadRequest field
violations in the `grpc-status-details-bin` trailer (what grpcio-status and
every gRPC client library read). Unexpected errors become INTERNAL with a
request id that is also logged; no traceback ever reaches the client.

What is sent is capped: the first MAX_VIOLATIONS_SENT violations (each
description cut to MAX_DESCRIPTION_CHARS) plus one that counts the rest. The
message travels twice (`grpc-message` and inside the details trailer), and
gRPC clients refuse trailers past ~8 KiB by default, which turned a long list of
violations into RESOURCE_EXHAUSTED instead of INVALID_ARGUMENT.
"""

from __future__ import annotations

import math

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from promptpress.cancel import Cancelled
from promptpress.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidInput,
    NotFound,
    PromptPressError,
    ResourceExhausted,
    Unavailable,
)
from promptpress.server.auth import Unauthenticated

_SIMPLE = {
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    # Work stopped because its caller went away (or the server is stopping).
    Cancelled: grpc.StatusCode.CANCELLED,
}


def details_trailer(
    code: grpc.StatusCode, message: str, details: list[any_pb2.Any]
) -> tuple[tuple[str, bytes], ...]:
    status = status_pb2.Status(code=code.value[0], message=message, details=details)
    return (("grpc-status-details-bin", status.SerializeToString()),)


MAX_VIOLATIONS_SENT = 20
MAX_DESCRIPTION_CHARS = 200
MAX_MESSAGE_CHARS = 1024


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def capped_violations(violations: tuple[FieldViolation, ...]) -> list[FieldViolation]:
    """The first MAX_VIOLATIONS_SENT violations, clipped, plus one counting the rest."""
    head = [
        FieldViolation(
            _clip(v.field, MAX_DESCRIPTION_CHARS), _clip(v.description, MAX_DESCRIPTION_CHARS)
        )
        for v in violations[:MAX_VIOLATIONS_SENT]
    ]
    rest = len(violations) - len(head)
    if rest > 0:
        head.append(FieldViolation("", f"{rest} more violations not shown"))
    return head


def invalid_input_message(err: InvalidInput) -> str:
    shown = capped_violations(err.violations)
    text = "; ".join(f"{v.field}: {v.description}" if v.field else v.description for v in shown)
    return _clip(f"invalid request: {text}", MAX_MESSAGE_CHARS)


def bad_request_details(err: InvalidInput) -> list[any_pb2.Any]:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in capped_violations(err.violations)
        ]
    )
    packed = any_pb2.Any()
    packed.Pack(bad)
    return [packed]


def resource_exhausted(
    message: str, retry_after_s: float
) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    """RESOURCE_EXHAUSTED with google.rpc.RetryInfo: the one way every limit says "later".

    Returns (code, message, trailing metadata) for `context.abort(code, message,
    trailing_metadata=...)`.
    """
    seconds = max(0.0, retry_after_s)
    whole = int(seconds)
    info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))
    )
    packed = any_pb2.Any()
    packed.Pack(info)
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    return code, message, details_trailer(code, message, [packed])


def http_retry_after(retry_after_s: float | None) -> tuple[int, dict[str, str]]:
    """HTTP 429 and its `Retry-After` header (whole seconds, rounded up) for a
    ResourceExhausted, for the HTTP endpoints to answer what gRPC answers with RetryInfo."""
    seconds = max(1, math.ceil(retry_after_s or 1.0))
    return 429, {"Retry-After": str(seconds)}


def status_for(
    exc: BaseException, request_id: str
) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    """The status code, message and trailing metadata reporting `exc`."""
    if isinstance(exc, InvalidInput):
        code = grpc.StatusCode.INVALID_ARGUMENT
        message = invalid_input_message(exc)
        return code, message, details_trailer(code, message, bad_request_details(exc))
    if isinstance(exc, NotFound):
        code = grpc.StatusCode.INVALID_ARGUMENT
        as_invalid = InvalidInput.single(exc.field, exc.description)
        message = invalid_input_message(as_invalid)
        return code, message, details_trailer(code, message, bad_request_details(as_invalid))
    if isinstance(exc, ResourceExhausted):
        message = _clip(str(exc), MAX_MESSAGE_CHARS)
        if exc.retry_after_s is not None:
            return resource_exhausted(message, exc.retry_after_s)
        return grpc.StatusCode.RESOURCE_EXHAUSTED, message, ()
    for kind, code in _SIMPLE.items():
        if isinstance(exc, kind):
            return code, _clip(str(exc), MAX_MESSAGE_CHARS), ()
    if isinstance(exc, NotImplementedError):
        return grpc.StatusCode.UNIMPLEMENTED, str(exc) or "not implemented yet", ()
    if isinstance(exc, PromptPressError):
        return grpc.StatusCode.INTERNAL, f"{exc} (request id {request_id})", ()
    return grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})", ()
