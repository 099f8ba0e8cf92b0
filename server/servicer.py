"""The gRPC servicer: a thin adapter from protobuf to the pipeline and back.

Every RPC goes through `_rpc`: authenticate (tenant from the API key), admission
(shed at once when over capacity), a CancelToken bound for the call (cancelled
when the call ends early, so its worker-thread work stops at the next
checkpoint), and errors mapped to statuses in one place
(promptpress.server.status). The unary stage RPCs (CountTokens, Preprocess, the
corpus, Compress) then go through `_unary`: convert and validate, run the work in
the worker pool, convert back. Only work that is provably small and cannot block
(server/inline.py: a few KiB, no store, model or file) runs on the event loop
itself, where it costs less than the hop to a worker would. Complete and
StreamComplete await the Completer instead, which keeps its own blocking work
off the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import grpc

from promptpress.cachekeys.cost import round_usd
from promptpress.cancel import CancelToken
from promptpress.errors import InvalidInput
from promptpress.retrieval import IndexStatus
from promptpress.server import convert, experiment_wire
from promptpress.server import inline as inline_calls
from promptpress.server.admission import Admission
from promptpress.server.auth import KeyRing
from promptpress.server.completion import Completer, Completion, CompletionInput
from promptpress.server.experiments import (
    Assignment,
    Experiments,
    Served,
    served,
    with_arm_settings,
)
from promptpress.server.keyfile import KeyFile
from promptpress.server.pipeline import Pipeline, PreprocessOutput
from promptpress.server.rate_limits import LocalCounters, RateLimits
from promptpress.server.scopes import Admitted, RpcScope
from promptpress.tokens import counter_for
from promptpress.types import ToolCallDelta
from promptpress.v1 import promptpress_pb2 as pb
from promptpress.v1 import promptpress_pb2_grpc as pb_grpc

log = logging.getLogger("promptpress.server")
T = TypeVar("T")
INDEX_STATUS_TO_PB = {
    IndexStatus.CREATED: pb.INDEX_STATUS_CREATED,
    IndexStatus.UNCHANGED: pb.INDEX_STATUS_UNCHANGED,
    IndexStatus.REPLACED: pb.INDEX_STATUS_REPLACED,
}


class PromptPressServicer(pb_grpc.PromptPressServiceServicer):
    def __init__(
        self,
        *,
        keyring: KeyRing | KeyFile,
        limits: convert.RequestLimits,
        pipeline: Pipeline,
        executor: Executor,
        completer: Completer,
        rate_limits: RateLimits | None = None,
        admission: Admission | None = None,
        max_compress_tokens: int = 0,
        experiments: Experiments | None = None,
        inline_max_request_bytes: int = inline_calls.DEFAULT_MAX_BYTES,
    ) -> None:
        self.completer = completer
        self.rate_limits = rate_limits or RateLimits({}, LocalCounters())
        self.keyring = keyring
        self.limits = limits
        self.pipeline = pipeline
        self.executor = executor
        self.admission = admission or Admission()
        self.max_compress_tokens = max_compress_tokens
        self.experiments = experiments or Experiments((), None)
        # Requests at most this big (serialised) whose work cannot block run on the
        # event loop (server/inline.py); 0: every call goes to the worker pool.
        self.inline_max_request_bytes = inline_max_request_bytes
        # Tokens of the calls in flight: shutdown cancels what is left at its deadline.
        self.tokens: set[CancelToken] = set()

    def cancel_all(self, reason: str) -> None:
        for token in list(self.tokens):
            token.cancel(reason)

    def admitted(self, tenant: str, remaining: float | None) -> Admitted:
        """`async with servicer.admitted(tenant, remaining):` one call of `tenant`,
        inside its limits: rate limits, admission (shed at once when over capacity),
        and a CancelToken bound for the call (server/scopes.py). Every call runs in
        this, gRPC (`_rpc`) and HTTP (server/http) alike."""
        return Admitted(self, tenant, remaining)

    def _rpc(
        self, rpc: str, context: grpc.aio.ServicerContext, *, header: bool = False
    ) -> RpcScope:
        """`async with self._rpc(name, context) as tenant:` authenticate, admit, and
        map any error to a status, in one place; `x-request-id` in the trailing
        metadata (and first in the initial metadata with `header`, for streams)."""
        return RpcScope(self, rpc, context, header=header)

    async def _unary(
        self,
        rpc: str,
        request: Any,
        context: grpc.aio.ServicerContext,
        work: Callable[[str, Any], T],
        runs_inline: Callable[[Any, int], bool] | None = None,
    ) -> T:
        """Run blocking `work(tenant, request)` in the worker pool, never on the event
        loop, unless `runs_inline(request, max bytes)` vouches it is small (server/inline.py)."""
        async with self._rpc(rpc, context) as tenant:
            return await self._run(tenant, request, work, runs_inline)
        raise AssertionError("unreachable")  # _rpc aborts on every error

    async def _run(
        self,
        tenant: str,
        request: Any,
        work: Callable[[str, Any], T],
        runs_inline: Callable[[Any, int], bool] | None,
    ) -> T:
        if runs_inline is not None and runs_inline(request, self.inline_max_request_bytes):
            return work(tenant, request)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, work, tenant, request)

    # --- CountTokens -----------------------------------------------------------------

    def _count_tokens(self, tenant: str, req: pb.CountTokensRequest) -> pb.CountTokensResponse:
        texts, messages = convert.count_tokens_from_proto(req, self.limits)
        counter = counter_for(req.model)
        counts = counter.count_many(texts)
        messages_tokens = counter.count_messages(messages)
        return pb.CountTokensResponse(
            counts=counts,
            total=sum(counts) + messages_tokens,
            encoding=counter.encoding_name,
            messages_tokens=messages_tokens,
            approximate=counter.approximate,
            warnings=[counter.warning] if counter.warning else [],
        )

    async def CountTokens(
        self, request: pb.CountTokensRequest, context: grpc.aio.ServicerContext
    ) -> pb.CountTokensResponse:
        return await self._unary(
            "CountTokens",
            request,
            context,
            self._count_tokens,
            inline_calls.count_tokens_runs_inline,
        )

    # --- Preprocess ------------------------------------------------------------------

    def _preprocess(self, tenant: str, req: pb.PreprocessRequest) -> pb.PreprocessResponse:
        inp = convert.preprocess_from_proto(req, tenant, self.limits)
        inp, assignment = self.experiments.assign(tenant, inp, req.conversation_id.strip())
        started = time.perf_counter()
        out = self.pipeline.preprocess(inp)
        resp = preprocess_output_to_proto(out)
        if assignment is not None:
            # Preprocess spends nothing itself: the estimated cost of the prompt it made.
            contribution = served(out, cost_usd=out.stats.cost_after_usd, cache_status="",
                                            latency_s=time.perf_counter() - started)  # fmt: skip
            self._experiment_done(tenant, assignment, contribution, resp)
        return resp

    def _experiment_done(
        self,
        tenant: str,
        assignment: Assignment,
        contribution: Served,
        resp: pb.PreprocessResponse | pb.CompleteResponse,
    ) -> None:
        request_id = experiment_wire.request_id_var.get()
        self.experiments.record(tenant, assignment, request_id, contribution)
        experiment_wire.stamp(resp, assignment, request_id)

    async def _complete_experiment(
        self, tenant: str, assignment: Assignment | None, done: Completion, started: float,
        resp: pb.CompleteResponse,
    ) -> None:  # fmt: skip
        if assignment is None:
            return
        contribution = served(done.pre, cost_usd=done.cost_usd,
                                        cache_status=done.cache_status,
                                        latency_s=time.perf_counter() - started)  # fmt: skip
        await asyncio.get_running_loop().run_in_executor(
            self.executor, self._experiment_done, tenant, assignment, contribution, resp
        )

    async def Preprocess(
        self, request: pb.PreprocessRequest, context: grpc.aio.ServicerContext
    ) -> pb.PreprocessResponse:
        # With experiments a Preprocess writes to their ledger (a store): never inline.
        small = None if self.experiments else inline_calls.preprocess_runs_inline
        async with self._rpc("Preprocess", context) as tenant:
            resp = await self._run(tenant, request, self._preprocess, small)
            await self.rate_limits.charge(tenant, tokens=resp.stats.final_tokens)
            return resp
        raise AssertionError("unreachable")

    # --- The corpus ---------------------------------------------------------------------

    def _index_documents(
        self, tenant: str, req: pb.IndexDocumentsRequest
    ) -> pb.IndexDocumentsResponse:
        docs = convert.index_documents_from_proto(req, self.limits)
        results = self.pipeline.resources.require_corpus().index_documents(tenant, docs)
        return pb.IndexDocumentsResponse(
            documents=[
                pb.IndexedDocument(
                    document_id=r.document_id,
                    status=INDEX_STATUS_TO_PB[r.status],
                    chunks=r.chunks,
                    tokens=r.tokens,
                )
                for r in results
            ]
        )

    async def IndexDocuments(
        self, request: pb.IndexDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.IndexDocumentsResponse:
        return await self._unary("IndexDocuments", request, context, self._index_documents)

    def _delete_documents(
        self, tenant: str, req: pb.DeleteDocumentsRequest
    ) -> pb.DeleteDocumentsResponse:
        ids = convert.document_ids_from_proto(req)
        result = self.pipeline.resources.require_corpus().delete_documents(tenant, ids)
        return pb.DeleteDocumentsResponse(deleted=result.deleted, not_found=result.not_found)

    async def DeleteDocuments(
        self, request: pb.DeleteDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteDocumentsResponse:
        return await self._unary("DeleteDocuments", request, context, self._delete_documents)

    # --- Compress ----------------------------------------------------------------------

    def _compress(self, tenant: str, req: pb.CompressRequest) -> pb.CompressResponse:
        text, settings = convert.compress_from_proto(req, self.limits)
        compressor = self.pipeline.resources.require_compressor()
        if self.max_compress_tokens:
            tokens = counter_for(settings.target_model).count(text)
            model_runs = compressor.budget_for(tokens, settings) < tokens
            if model_runs and tokens > self.max_compress_tokens:
                raise InvalidInput.single(
                    "text",
                    f"is {tokens} tokens; compression takes at most "
                    f"{self.max_compress_tokens} (max_compress_tokens)",
                )
        result = compressor.compress(text, settings, tenant=tenant)
        return pb.CompressResponse(
            text=result.text,
            original_tokens=result.original_tokens,
            compressed_tokens=result.compressed_tokens,
            ratio=result.ratio,
            method=convert.METHOD_TO_PB[result.method],
            encoding=result.encoding,
            cached=result.cached,
        )

    async def Compress(
        self, request: pb.CompressRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompressResponse:
        return await self._unary("Compress", request, context, self._compress)

    # --- ReportBadHit ------------------------------------------------------------------

    def _report_bad_hit(self, tenant: str, req: pb.ReportBadHitRequest) -> pb.ReportBadHitResponse:
        report = self.completer.report_bad_hit(tenant, convert.report_key_from_proto(req))
        return pb.ReportBadHitResponse(
            removed=report.removed,
            cache_status=CACHE_STATUS_TO_PB.get(report.kind, pb.CACHE_STATUS_UNSPECIFIED),
            tenant_threshold=report.tenant_threshold or 0.0,
        )

    async def ReportBadHit(
        self, request: pb.ReportBadHitRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportBadHitResponse:
        return await self._unary("ReportBadHit", request, context, self._report_bad_hit)

    # --- Complete and StreamComplete ---------------------------------------------------

    def _completion_input(
        self, tenant: str, req: pb.CompleteRequest
    ) -> tuple[CompletionInput, Assignment | None]:
        inp = convert.preprocess_from_proto(req.request, tenant, self.limits)
        inp, assignment = self.experiments.assign(tenant, inp, req.request.conversation_id.strip())
        completion = CompletionInput(request=inp, tier=req.tier.strip(), skip_cache=req.skip_cache)
        return with_arm_settings(completion, assignment), assignment

    async def Complete(
        self, request: pb.CompleteRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompleteResponse:
        async with self._rpc("Complete", context) as tenant:
            started = time.perf_counter()
            inp, assignment = self._completion_input(tenant, request)
            done = await self.completer.complete(tenant, inp, context.time_remaining())
            await self.charge_completion(tenant, done)
            resp = completion_to_proto(done)
            await self._complete_experiment(tenant, assignment, done, started, resp)
            return resp
        raise AssertionError("unreachable")

    async def StreamComplete(
        self, request: pb.StreamCompleteRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamCompleteResponse]:
        async with self._rpc("StreamComplete", context, header=True) as tenant:
            started = time.perf_counter()
            inp, assignment = self._completion_input(tenant, request.request)
            events = self.completer.stream(tenant, inp, context.time_remaining())
            async with contextlib.aclosing(events):
                async for event in events:
                    if isinstance(event, str):
                        yield pb.StreamCompleteResponse(delta=event)
                    elif isinstance(event, ToolCallDelta):
                        yield pb.StreamCompleteResponse(
                            tool_call=convert.tool_call_delta_to_proto(event)
                        )
                    else:
                        await self.charge_completion(tenant, event)
                        resp = completion_to_proto(event)
                        await self._complete_experiment(tenant, assignment, event, started, resp)
                        yield pb.StreamCompleteResponse(done=resp)

    # --- Experiments ----------------------------------------------------------------

    def _record_outcome(
        self, tenant: str, req: pb.RecordOutcomeRequest
    ) -> pb.RecordOutcomeResponse:
        result = self.experiments.record_outcome(
            tenant,
            request_id=req.request_id.strip(),
            conversation_id=req.conversation_id.strip(),
            metric=req.metric.strip(),
            success=req.success,
            score=req.score if req.HasField("score") else None,
        )
        return pb.RecordOutcomeResponse(
            recorded=result.recorded, experiment=result.experiment, arm=result.arm
        )

    async def RecordOutcome(
        self, request: pb.RecordOutcomeRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordOutcomeResponse:
        return await self._unary("RecordOutcome", request, context, self._record_outcome)

    def _experiment_report(
        self, tenant: str, req: pb.GetExperimentReportRequest
    ) -> pb.GetExperimentReportResponse:
        report = self.experiments.report(tenant, req.name.strip(), req.metric.strip())
        return experiment_wire.report_to_proto(report)

    async def GetExperimentReport(
        self, request: pb.GetExperimentReportRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetExperimentReportResponse:
        return await self._unary("GetExperimentReport", request, context, self._experiment_report)

    async def charge_completion(self, tenant: str, done: Completion) -> None:
        """Count an answer against the tenant's limits: the input tokens sent upstream
        (after preprocessing; none for a cache hit) and what the upstream cost.
        The HTTP endpoints charge through this too."""
        upstream = done.cache_status == "none"
        tokens = done.pre.stats.final_tokens if upstream else 0
        await self.rate_limits.charge(tenant, tokens=tokens, spend_usd=done.cost_usd)


CACHE_STATUS_TO_PB = {
    "none": pb.CACHE_STATUS_NONE,
    "exact": pb.CACHE_STATUS_EXACT,
    "semantic": pb.CACHE_STATUS_SEMANTIC,
}


def completion_to_proto(done: Completion) -> pb.CompleteResponse:
    pre = preprocess_output_to_proto(done.pre)
    d = done.decision
    u = done.usage
    return pb.CompleteResponse(
        message=pb.Message(
            role=pb.ROLE_ASSISTANT,
            content=done.text,
            tool_calls=[
                pb.ToolCall(id=c.id, name=c.name, arguments_json=c.arguments_json)
                for c in done.tool_calls
            ],
        ),
        routing=pb.RoutingDecision(tier=d.tier, score=d.score, forced=d.forced, reason=d.reason)
        if d
        else pb.RoutingDecision(reason="answered from the semantic cache"),
        upstream=done.upstream,
        model=done.model,
        cache_status=CACHE_STATUS_TO_PB[done.cache_status],
        similarity=done.similarity,
        matched_key=done.matched_key,
        usage=pb.Usage(
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            cached_tokens=u.cached_tokens,
            cache_write_tokens=u.cache_write_tokens + u.cache_write_1h_tokens,
        )
        if u
        else pb.Usage(),
        cost_usd=round_usd(done.cost_usd),
        finish_reason=done.finish_reason,
        stats=pre.stats,
        cache=pre.cache,
        warnings=[*pre.warnings, *done.warnings],
    )


def preprocess_output_to_proto(out: PreprocessOutput) -> pb.PreprocessResponse:
    s = out.stats
    plan = out.plan
    return pb.PreprocessResponse(
        messages=[convert.message_to_proto(m) for m in out.messages],
        provider_body=plan.provider_body,
        cache=pb.CacheInfo(
            breakpoints=[
                pb.Breakpoint(
                    message_index=b.message_index,
                    prefix_tokens=b.prefix_tokens,
                    prefix_hash=b.prefix_hash,
                )
                for b in plan.breakpoints
            ],
            prompt_cache_key=plan.keys.prompt_cache_key,
            exact_key=plan.keys.exact_key,
            semantic_key=plan.keys.semantic_key,
            context_fingerprint=plan.keys.context_fingerprint,
        ),
        stats=pb.Stats(
            original_tokens=s.original_tokens,
            final_tokens=s.final_tokens,
            stage_ms=s.stage_ms,
            encoding=s.encoding,
            approximate=s.approximate,
            dropped_messages=s.dropped_messages,
            cost_before_usd=round_usd(s.cost_before_usd),
            cost_after_usd=round_usd(s.cost_after_usd),
        ),
        chunks=[
            pb.SelectedChunk(
                document_id=c.document_id, chunk_id=c.chunk_id, score=c.score, tokens=c.tokens
            )
            for c in out.chunks
        ],
        warnings=out.warnings,
    )
