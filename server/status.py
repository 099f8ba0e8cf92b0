"""Core errors -> gRPC status, in one place.

InvalidInput becomes INVALID_ARGUMENT with google.rpc.BadRequest field
violations in the `grpc-status-details-bin` trailer (what grpcio-status and
every gRPC client library read). Unexpected errors become INTERNAL with a
request id that is also logged; no traceback ever reaches the client.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from promptpress.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidInput,
    NotFound,
    PromptPressError,
    Unavailable,
)
from promptpress.server.auth import Unauthenticated

_SIMPLE = {
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
}


def details_trailer(
    code: grpc.StatusCode, message: str, details: list[any_pb2.Any]
) -> tuple[tuple[str, bytes], ...]:
    status = status_pb2.Status(code=code.value[0], message=message, details=details)
    return (("grpc-status-details-bin", status.SerializeToString()),)


def bad_request_details(err: InvalidInput) -> list[any_pb2.Any]:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in err.violations
        ]
    )
    packed = any_pb2.Any()
    packed.Pack(bad)
    return [packed]


def status_for(
    exc: BaseException, request_id: str
) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    """The status code, message and trailing metadata reporting `exc`."""
    if isinstance(exc, InvalidInput):
        code = grpc.StatusCode.INVALID_ARGUMENT
        message = f"invalid request: {exc}"
        return code, message, details_trailer(code, message, bad_request_details(exc))
    if isinstance(exc, NotFound):
        code = grpc.StatusCode.INVALID_ARGUMENT
        as_invalid = InvalidInput.single(exc.field, exc.description)
        return (
            code,
            f"invalid request: {exc}",
            details_trailer(code, str(exc), bad_request_details(as_invalid)),
        )
    for kind, code in _SIMPLE.items():
        if isinstance(exc, kind):
            return code, str(exc), ()
    if isinstance(exc, NotImplementedError):
        return grpc.StatusCode.UNIMPLEMENTED, str(exc) or "not implemented yet", ()
    if isinstance(exc, PromptPressError):
        return grpc.StatusCode.INTERNAL, f"{exc} (request id {request_id})", ()
    return grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})", ()
