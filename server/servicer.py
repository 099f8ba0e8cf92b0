"""The gRPC servicer: a thin adapter from protobuf to the pipeline and back.

Every RPC goes through `_unary`: authenticate (tenant from the API key), convert
and validate, run the work in the worker pool (never on the event loop), convert
back, and map errors to statuses in one place (promptpress.server.status).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import grpc
from promptpress.compressor.tokens import counter_for
from promptpress.server import convert
from promptpress.server.auth import KeyRing
from promptpress.server.logs import log_event
from promptpress.server.pipeline import Pipeline, PreprocessOutput
from promptpress.server.status import status_for
from promptpress.v1 import promptpress_pb2 as pb
from promptpress.v1 import promptpress_pb2_grpc as pb_grpc

log = logging.getLogger("promptpress.server")
T = TypeVar("T")


class PromptPressServicer(pb_grpc.PromptPressServiceServicer):
    def __init__(self, *, keyring: KeyRing, limits: convert.Limits, pipeline: Pipeline, executor: Executor) -> None:
        self.keyring = keyring
        self.limits = limits
        self.pipeline = pipeline
        self.executor = executor

    async def _unary(
        self,
        rpc: str,
        request: Any,
        context: grpc.aio.ServicerContext,
        work: Callable[[str, Any], T],
    ) -> T:
        request_id = uuid.uuid4().hex[:16]
        try:
            await context.send_initial_metadata((("x-request-id", request_id),))
            tenant = self.keyring.tenant_for(context.invocation_metadata() or ())
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.executor, work, tenant, request)
            log_event(log, "rpc", rpc=rpc, tenant=tenant, request_id=request_id, code="OK")
            return result
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # mapped to a status below; never a traceback to the client
            code, message, trailer = status_for(exc, request_id)
            level = logging.ERROR if code is grpc.StatusCode.INTERNAL else logging.INFO
            log.log(
                level,
                "rpc",
                exc_info=exc if level == logging.ERROR else None,
                extra={"rpc": rpc, "request_id": request_id, "code": code.name, "detail": message},
            )
            await context.abort(code, message, trailing_metadata=trailer)
            raise AssertionError("unreachable") from exc  # context.abort raises

    # --- CountTokens -----------------------------------------------------------------

    def _count_tokens(self, tenant: str, req: pb.CountTokensRequest) -> pb.CountTokensResponse:
        v = convert.Violations()
        if len(req.texts) > self.limits.max_texts:
            v.add("texts", f"has {len(req.texts)} texts; the limit is {self.limits.max_texts}")
        for i, text in enumerate(req.texts):
            if len(text.encode("utf-8", "surrogatepass")) > self.limits.max_text_bytes:
                v.add(f"texts[{i}]", f"exceeds {self.limits.max_text_bytes} bytes")
        messages = convert.messages_from_proto(req.messages, "messages", self.limits, v, required=False)
        v.raise_if_any()
        counter = counter_for(req.model)
        counts = counter.count_many(req.texts)
        messages_tokens = counter.count_messages(messages)
        return pb.CountTokensResponse(
            counts=counts,
            total=sum(counts) + messages_tokens,
            encoding=counter.encoding_name,
            messages_tokens=messages_tokens,
            approximate=counter.approximate,
        )

    async def CountTokens(self, request: pb.CountTokensRequest, context: grpc.aio.ServicerContext) -> pb.CountTokensResponse:
        return await self._unary("CountTokens", request, context, self._count_tokens)

    # --- Preprocess ------------------------------------------------------------------

    def _preprocess(self, tenant: str, req: pb.PreprocessRequest) -> pb.PreprocessResponse:
        inp = convert.preprocess_from_proto(req, tenant, self.limits)
        return preprocess_output_to_proto(self.pipeline.preprocess(inp))

    async def Preprocess(self, request: pb.PreprocessRequest, context: grpc.aio.ServicerContext) -> pb.PreprocessResponse:
        return await self._unary("Preprocess", request, context, self._preprocess)

    # --- RPCs whose stages land later --------------------------------------------------

    def _unimplemented(self, tenant: str, req: Any) -> Any:
        raise NotImplementedError("this RPC is not implemented yet")

    async def Compress(self, request: pb.CompressRequest, context: grpc.aio.ServicerContext) -> pb.CompressResponse:
        return await self._unary("Compress", request, context, self._unimplemented)

    async def IndexDocuments(self, request: pb.IndexDocumentsRequest, context: grpc.aio.ServicerContext) -> pb.IndexDocumentsResponse:
        return await self._unary("IndexDocuments", request, context, self._unimplemented)

    async def DeleteDocuments(self, request: pb.DeleteDocumentsRequest, context: grpc.aio.ServicerContext) -> pb.DeleteDocumentsResponse:
        return await self._unary("DeleteDocuments", request, context, self._unimplemented)

    async def Complete(self, request: pb.CompleteRequest, context: grpc.aio.ServicerContext) -> pb.CompleteResponse:
        return await self._unary("Complete", request, context, self._unimplemented)

    async def StreamComplete(self, request: pb.StreamCompleteRequest, context: grpc.aio.ServicerContext):  # type: ignore[no-untyped-def]
        await self._unary("StreamComplete", request, context, self._unimplemented)
        yield pb.StreamCompleteResponse()  # pragma: no cover - unreachable until implemented


def preprocess_output_to_proto(out: PreprocessOutput) -> pb.PreprocessResponse:
    s = out.stats
    return pb.PreprocessResponse(
        messages=[convert.message_to_proto(m) for m in out.messages],
        provider_body=out.provider_body,
        cache=pb.CacheInfo(
            breakpoints=[
                pb.Breakpoint(message_index=b.message_index, prefix_tokens=b.prefix_tokens, prefix_hash=b.prefix_hash)
                for b in out.breakpoints
            ],
            prompt_cache_key=out.prompt_cache_key,
            exact_key=out.exact_key,
            semantic_key=out.semantic_key,
            context_fingerprint=out.context_fingerprint,
        ),
        stats=pb.Stats(
            original_tokens=s.original_tokens,
            final_tokens=s.final_tokens,
            stage_ms=s.stage_ms,
            encoding=s.encoding,
            approximate=s.approximate,
            dropped_messages=s.dropped_messages,
            cost_before_usd=s.cost_before_usd,
            cost_after_usd=s.cost_after_usd,
        ),
        chunks=[
            pb.SelectedChunk(document_id=c.document_id, chunk_id=c.chunk_id, score=c.score, tokens=c.tokens)
            for c in out.chunks
        ],
        warnings=out.warnings,
    )
