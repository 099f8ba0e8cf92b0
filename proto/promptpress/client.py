"""The promptpress client library: `Client` (blocking) and `AsyncClient` (asyncio).

Needs only grpcio and protobuf. Both clients send `authorization: Bearer KEY`
when given an api_key, apply a default deadline, and retry UNAVAILABLE with
exponential backoff through gRPC's own retry policy. Errors surface as
PromptPressRpcError, with the server's field violations parsed out.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

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


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class PromptPressRpcError(Exception):
    """A failed RPC: the status code, the server's message and any field violations."""

    def __init__(
        self, code: grpc.StatusCode, details: str, violations: Sequence[FieldViolation] = ()
    ) -> None:
        self.code = code
        self.details = details
        self.violations = tuple(violations)
        super().__init__(f"{code.name}: {details}")

    @classmethod
    def from_rpc_error(cls, err: grpc.RpcError) -> PromptPressRpcError:
        code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
        details = err.details() if hasattr(err, "details") else str(err)
        trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else ()
        return cls(code, details or "", _violations_from_trailers(trailers or ()))


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, bytes | int]]:
    """Minimal protobuf wire-format reader (varint and length-delimited fields)."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            yield number, value
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            yield number, buf[pos : pos + size]
            pos += size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            return


def _violations_from_trailers(trailers: Any) -> list[FieldViolation]:
    """google.rpc.Status -> BadRequest.field_violations, decoded without googleapis protos."""
    out: list[FieldViolation] = []
    for key, value in trailers:
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        try:
            for num, detail in _fields(value):
                if num != 3 or not isinstance(detail, bytes):  # Status.details (Any)
                    continue
                parts = dict(_fields(detail))
                if str(parts.get(1, b""), "utf-8", "replace").endswith("google.rpc.BadRequest"):
                    for fnum, fv in _fields(parts.get(2, b"")):  # type: ignore[arg-type]
                        if fnum == 1 and isinstance(fv, bytes):
                            f = dict(_fields(fv))
                            out.append(
                                FieldViolation(
                                    bytes(f.get(1, b"")).decode("utf-8", "replace"),  # type: ignore[arg-type]
                                    bytes(f.get(2, b"")).decode("utf-8", "replace"),  # type: ignore[arg-type]
                                )
                            )
        except (IndexError, ValueError):
            continue
    return out


def _channel_options() -> list[tuple[str, Any]]:
    return [
        ("grpc.service_config", _RETRY_CONFIG),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ]


def _metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


class Client:
    """Blocking client. Use as a context manager or call close()."""

    def __init__(
        self, address: str = "127.0.0.1:50051", *, api_key: str | None = None, timeout: float = 60.0
    ) -> None:
        self._channel = grpc.insecure_channel(address, options=_channel_options())
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
        self, address: str = "127.0.0.1:50051", *, api_key: str | None = None, timeout: float = 60.0
    ) -> None:
        self._channel = grpc.aio.insecure_channel(address, options=_channel_options())
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
