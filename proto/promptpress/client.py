"""The promptpress client library: `Client` (blocking) and `AsyncClient` (asyncio).

Needs only grpcio, protobuf and grpcio-status (which reads the standard
`google.rpc.Status` error details). Both clients send `authorization: Bearer KEY`
when given an api_key, apply a default deadline, and retry UNAVAILABLE with
exponential backoff through gRPC's own retry policy. Errors surface as
PromptPressRpcError, with the server's rich error details unpacked.

TLS: `tls=True` verifies the server against the system's roots, or against
`root_certificates` (PEM bytes) when given; `certificate_chain` + `private_key`
(PEM bytes) present a client certificate for mutual TLS. Any of them turns TLS on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from promptpress.errors import FieldViolation
from promptpress.v1 import promptpress_pb2 as pb
from promptpress.v1 import promptpress_pb2_grpc as pb_grpc

SERVICE = "promptpress.v1.PromptPressService"
_RETRY_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": SERVICE}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


class PromptPressRpcError(Exception):
    """A failed RPC: the status code, the server's message and its rich error details.

    `status` is the server's `google.rpc.Status` (None when it sent none); its
    `details` are `google.protobuf.Any` values, unpacked here for the common
    kinds: `violations` (BadRequest), `retry_delay_s` (RetryInfo) and
    `error_info` (ErrorInfo). Anything else is still in `status.details`.
    `request_id` is the server's id for the call (its `x-request-id` trailer, also in
    the server's log), or None when the error did not come from a promptpress handler.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        violations: Sequence[FieldViolation] = (),
        *,
        status: status_pb2.Status | None = None,
        request_id: str | None = None,
    ) -> None:
        self.code = code
        self.request_id = request_id
        self.details = details
        self.violations = tuple(violations)
        self.status = status
        self.retry_delay_s: float | None = None
        self.error_info: error_details_pb2.ErrorInfo | None = None
        for detail in status.details if status is not None else ():
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                self.retry_delay_s = info.retry_delay.ToTimedelta().total_seconds()
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                self.error_info = error_details_pb2.ErrorInfo()
                detail.Unpack(self.error_info)
        super().__init__(f"{code.name}: {details}")

    @classmethod
    def from_rpc_error(cls, err: grpc.RpcError) -> PromptPressRpcError:
        code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
        details = err.details() if hasattr(err, "details") else str(err)
        status = _rich_status(err)
        return cls(
            code, details or "", _violations(status), status=status, request_id=_request_id(err)
        )


def _rich_status(err: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status in the trailers, or None (none sent, or it does not match)."""
    if not hasattr(err, "trailing_metadata"):
        return None
    try:
        return rpc_status.from_call(err)  # type: ignore[arg-type]
    except ValueError:  # code or message disagree with the status line: ignore the details
        return None


def _request_id(err: grpc.RpcError) -> str | None:
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == "x-request-id":
            return value if isinstance(value, str) else value.decode("ascii", "replace")
    return None


def _violations(status: status_pb2.Status | None) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return out


def _channel_options() -> list[tuple[str, Any]]:
    return [
        ("grpc.service_config", _RETRY_CONFIG),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ]


def _credentials(
    tls: bool,
    root_certificates: bytes | None,
    certificate_chain: bytes | None,
    private_key: bytes | None,
) -> grpc.ChannelCredentials | None:
    """Channel credentials when TLS is asked for (explicitly or by passing any PEM)."""
    if bool(certificate_chain) != bool(private_key):
        raise ValueError("certificate_chain and private_key go together (mutual TLS)")
    if not (tls or root_certificates or certificate_chain):
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=root_certificates,
        private_key=private_key,
        certificate_chain=certificate_chain,
    )


def _metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


class Client:
    """Blocking client. Use as a context manager or call close()."""

    def __init__(
        self,
        address: str = "127.0.0.1:50051",
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
    ) -> None:
        credentials = _credentials(tls, root_certificates, certificate_chain, private_key)
        if credentials is None:
            self._channel = grpc.insecure_channel(address, options=_channel_options())
        else:
            self._channel = grpc.secure_channel(address, credentials, options=_channel_options())
        self._stub = pb_grpc.PromptPressServiceStub(self._channel)
        self._metadata = _metadata(api_key)
        self.timeout = timeout

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: str, request: Any, timeout: float | None) -> Any:
        try:
            return getattr(self._stub, method)(
                request, timeout=timeout or self.timeout, metadata=self._metadata
            )
        except grpc.RpcError as err:
            raise PromptPressRpcError.from_rpc_error(err) from None

    def preprocess(
        self, request: pb.PreprocessRequest, *, timeout: float | None = None
    ) -> pb.PreprocessResponse:
        return self._call("Preprocess", request, timeout)

    def compress(
        self, request: pb.CompressRequest, *, timeout: float | None = None
    ) -> pb.CompressResponse:
        return self._call("Compress", request, timeout)

    def count_tokens(
        self, request: pb.CountTokensRequest, *, timeout: float | None = None
    ) -> pb.CountTokensResponse:
        return self._call("CountTokens", request, timeout)

    def index_documents(
        self, request: pb.IndexDocumentsRequest, *, timeout: float | None = None
    ) -> pb.IndexDocumentsResponse:
        return self._call("IndexDocuments", request, timeout)

    def delete_documents(
        self, request: pb.DeleteDocumentsRequest, *, timeout: float | None = None
    ) -> pb.DeleteDocumentsResponse:
        return self._call("DeleteDocuments", request, timeout)

    def complete(
        self, request: pb.CompleteRequest, *, timeout: float | None = None
    ) -> pb.CompleteResponse:
        return self._call("Complete", request, timeout)

    def report_bad_hit(
        self, request: pb.ReportBadHitRequest, *, timeout: float | None = None
    ) -> pb.ReportBadHitResponse:
        """Marks a served cached answer wrong by its CompleteResponse.matched_key."""
        return self._call("ReportBadHit", request, timeout)

    def record_outcome(
        self, request: pb.RecordOutcomeRequest, *, timeout: float | None = None
    ) -> pb.RecordOutcomeResponse:
        return self._call("RecordOutcome", request, timeout)

    def get_experiment_report(
        self, request: pb.GetExperimentReportRequest, *, timeout: float | None = None
    ) -> pb.GetExperimentReportResponse:
        return self._call("GetExperimentReport", request, timeout)

    def stream_complete(
        self, request: pb.StreamCompleteRequest, *, timeout: float | None = None
    ) -> Iterator[pb.StreamCompleteResponse]:
        try:
            yield from self._stub.StreamComplete(
                request, timeout=timeout or self.timeout, metadata=self._metadata
            )
        except grpc.RpcError as err:
            raise PromptPressRpcError.from_rpc_error(err) from None


class AsyncClient:
    """asyncio client. Use `async with` or await close()."""

    def __init__(
        self,
        address: str = "127.0.0.1:50051",
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
    ) -> None:
        credentials = _credentials(tls, root_certificates, certificate_chain, private_key)
        if credentials is None:
            self._channel = grpc.aio.insecure_channel(address, options=_channel_options())
        else:
            self._channel = grpc.aio.secure_channel(
                address, credentials, options=_channel_options()
            )
        self._stub = pb_grpc.PromptPressServiceStub(self._channel)
        self._metadata = _metadata(api_key)
        self.timeout = timeout

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: str, request: Any, timeout: float | None) -> Any:
        try:
            return await getattr(self._stub, method)(
                request, timeout=timeout or self.timeout, metadata=self._metadata
            )
        except grpc.RpcError as err:
            raise PromptPressRpcError.from_rpc_error(err) from None

    async def preprocess(
        self, request: pb.PreprocessRequest, *, timeout: float | None = None
    ) -> pb.PreprocessResponse:
        return await self._call("Preprocess", request, timeout)

    async def compress(
        self, request: pb.CompressRequest, *, timeout: float | None = None
    ) -> pb.CompressResponse:
        return await self._call("Compress", request, timeout)

    async def count_tokens(
        self, request: pb.CountTokensRequest, *, timeout: float | None = None
    ) -> pb.CountTokensResponse:
        return await self._call("CountTokens", request, timeout)

    async def index_documents(
        self, request: pb.IndexDocumentsRequest, *, timeout: float | None = None
    ) -> pb.IndexDocumentsResponse:
        return await self._call("IndexDocuments", request, timeout)

    async def delete_documents(
        self, request: pb.DeleteDocumentsRequest, *, timeout: float | None = None
    ) -> pb.DeleteDocumentsResponse:
        return await self._call("DeleteDocuments", request, timeout)

    async def complete(
        self, request: pb.CompleteRequest, *, timeout: float | None = None
    ) -> pb.CompleteResponse:
        return await self._call("Complete", request, timeout)

    async def report_bad_hit(
        self, request: pb.ReportBadHitRequest, *, timeout: float | None = None
    ) -> pb.ReportBadHitResponse:
        """Marks a served cached answer wrong by its CompleteResponse.matched_key."""
        return await self._call("ReportBadHit", request, timeout)

    async def record_outcome(
        self, request: pb.RecordOutcomeRequest, *, timeout: float | None = None
    ) -> pb.RecordOutcomeResponse:
        return await self._call("RecordOutcome", request, timeout)

    async def get_experiment_report(
        self, request: pb.GetExperimentReportRequest, *, timeout: float | None = None
    ) -> pb.GetExperimentReportResponse:
        return await self._call("GetExperimentReport", request, timeout)

    async def stream_complete(
        self, request: pb.StreamCompleteRequest, *, timeout: float | None = None
    ) -> AsyncIterator[pb.StreamCompleteResponse]:
        call = self._stub.StreamComplete(
            request, timeout=timeout or self.timeout, metadata=self._metadata
        )
        try:
            async for item in call:
                yield item
        except grpc.RpcError as err:
            raise PromptPressRpcError.from_rpc_error(err) from None
        finally:
            call.cancel()
