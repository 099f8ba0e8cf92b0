"""The Preprocess pipeline: retrieve -> trim -> compress -> layout, keys, cost.

Each stage is a plain function or a small object holding a loaded model; this
module only composes them and times them. It runs in a worker thread (the
servicer calls it off the event loop), so stages may block.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from promptpress.cachekeys.cost import estimate_cost
from promptpress.cachekeys.layout import (
    ContextChunk,
    build_layout,
    check_messages,
    split_messages,
)
from promptpress.cachekeys.plan import CachePlan, plan_request
from promptpress.compressor.history import trim_history
from promptpress.compressor.segments import Segment, compress_segments
from promptpress.compressor.settings import CompressionSettings
from promptpress.errors import InvalidInput
from promptpress.retrieval import Retrieval, retrieve
from promptpress.server.resources import Resources
from promptpress.tokens import TokenCounter, counter_for
from promptpress.types import Document, Message, PreprocessInput, Role, question_of


@dataclass(frozen=True)
class ChunkInfo:
    document_id: str
    chunk_id: str
    score: float
    tokens: int


@dataclass
class PreprocessStats:
    original_tokens: int = 0
    final_tokens: int = 0
    stage_ms: dict[str, float] = field(default_factory=dict)
    encoding: str = ""
    approximate: bool = False
    dropped_messages: int = 0
    cost_before_usd: float = 0.0
    cost_after_usd: float = 0.0


@dataclass
class PreprocessOutput:
    messages: tuple[Message, ...]
    plan: CachePlan
    stats: PreprocessStats
    query: str
    chunks: list[ChunkInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Stage:
    """Times one `with timer.stage(name):` block (a class: no generator per stage)."""

    __slots__ = ("_ms", "_name", "_t0")

    def __init__(self, ms: dict[str, float], name: str) -> None:
        self._ms = ms
        self._name = name
        self._t0 = 0.0

    def __enter__(self) -> None:
        self._t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = (time.perf_counter() - self._t0) * 1000
        self._ms[self._name] = self._ms.get(self._name, 0.0) + elapsed


class StageTimer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._start = time.perf_counter()

    def stage(self, name: str) -> _Stage:
        return _Stage(self.ms, name)

    def finish(self) -> dict[str, float]:
        self.ms["total"] = (time.perf_counter() - self._start) * 1000
        return {k: round(v, 3) for k, v in self.ms.items()}


def history_budget(inp: PreprocessInput, other_tokens: int) -> int:
    """max_history_tokens, capped by what max_prompt_tokens leaves after everything else."""
    limits = [inp.budget.max_history_tokens] if inp.budget.max_history_tokens > 0 else []
    if inp.budget.max_prompt_tokens > 0:
        limits.append(max(1, inp.budget.max_prompt_tokens - other_tokens))
    return min(limits) if limits else 0


def context_budget(inp: PreprocessInput, counter: TokenCounter) -> int:
    """max_context_tokens, capped so retrieved context fits max_prompt_tokens too.

    What can never be trimmed (system messages, the last user turn, tools, inline
    static documents) comes first; retrieved context may take what is left, or
    half of it when there is history to keep as well. 0 means no limit.
    """
    limit = inp.budget.max_context_tokens
    if inp.budget.max_prompt_tokens <= 0:
        return limit
    system, history, last_user, tail = split_messages(inp.messages)
    kept = [*system, *([last_user] if last_user else []), *tail]
    fixed = counter.count_messages(kept) + tools_tokens(inp, counter)
    fixed += sum(counter.count_many([d.text for d in inp.documents if d.static]))
    room = inp.budget.max_prompt_tokens - fixed
    share = room // 2 if history else room
    capped = max(1, share)  # never 0: that would mean "no limit"
    return min(limit, capped) if limit > 0 else capped


def tools_tokens(inp: PreprocessInput, counter: TokenCounter) -> int:
    return sum(
        counter.count(t.name) + counter.count(t.description) + counter.count(t.parameters_json)
        for t in inp.tools
    )


def naive_prompt_tokens(
    inp: PreprocessInput, counter: TokenCounter, documents_text: list[str]
) -> int:
    """What the request would cost sent as is: every message, every document whole, tools."""
    documents = sum(counter.count_many(documents_text))
    return counter.count_messages(inp.messages) + documents + tools_tokens(inp, counter)


class Pipeline:
    """Composes the stages over the loaded resources."""

    def __init__(self, resources: Resources, *, max_compress_tokens: int = 32_768) -> None:
        self.resources = resources
        # Work limit: tokens one request may send through the compressor model.
        self.max_compress_tokens = max_compress_tokens

    def _retrieve(self, inp: PreprocessInput, counter: TokenCounter, query: str) -> Retrieval:
        if not inp.documents and not inp.document_ids:
            return Retrieval()
        corpus = self.resources.require_corpus()
        return retrieve(
            corpus,
            inp.tenant,
            query=query,
            counter=counter,
            max_tokens=context_budget(inp, counter),
            documents=inp.documents,
            document_ids=inp.document_ids,
            placement=inp.placement,
        )

    def _compress(
        self,
        inp: PreprocessInput,
        query: str,
        history: Sequence[Message],
        static_docs: Sequence[Document],
        chunks: Sequence[ContextChunk],
    ) -> tuple[tuple[Message, ...], tuple[Document, ...], list[ContextChunk]]:
        """Compress what the cacheable prefix holds frozen, and the retrieved context question-aware.

        System messages, the last user message (the question) and what follows it
        are never compressed; nor are messages marked no_compress or carrying
        volatile spans (their byte offsets must stay valid).
        """
        compressor = self.resources.require_compressor()
        prefix = [
            Segment(
                m.content,
                m.protected_spans,
                compress=bool(m.content)
                and not (m.no_compress or m.volatile_spans or m.role is Role.SYSTEM),
            )
            for m in history
        ] + [Segment(d.text) for d in static_docs]
        context = [Segment(c.text) for c in chunks]
        settings = CompressionSettings(
            method=inp.compression_method,
            rate=inp.budget.compression_rate,
            question=query,
            target_model=inp.target.model,
        )
        counter = counter_for(inp.target.model)
        work = sum(counter.count(seg.text) for seg in (*prefix, *context) if seg.compress)
        model_runs = inp.budget.compression_rate < 1.0
        if model_runs and self.max_compress_tokens and work > self.max_compress_tokens:
            raise InvalidInput.single(
                "budget.compression_rate",
                f"compression would score {work} tokens; the limit is "
                f"{self.max_compress_tokens} (max_compress_tokens)",
            )
        out = compress_segments(compressor, prefix, context, settings, tenant=inp.tenant)
        texts = [r.text for r in out.prefix]
        # A compressed message's protected spans have done their job; their offsets
        # no longer apply to the new text.
        new_history = tuple(
            m if t == m.content else replace(m, content=t, protected_spans=())
            for m, t in zip(history, texts[: len(history)], strict=True)
        )
        new_docs = tuple(
            replace(d, text=t) for d, t in zip(static_docs, texts[len(history) :], strict=True)
        )
        new_chunks = [replace(c, text=r.text) for c, r in zip(chunks, out.context, strict=True)]
        return new_history, new_docs, new_chunks

    def preprocess(self, inp: PreprocessInput) -> PreprocessOutput:
        timer = StageTimer()
        counter = counter_for(inp.target.model)
        target = self.resources.profiles.resolve(inp.target)
        query = question_of(inp.messages, query=inp.query)

        with timer.stage("retrieve"):
            found = self._retrieve(inp, counter, query)
        static_tokens = sum(counter.count_many([d.text for d in found.static_documents]))
        context_tokens = sum(c.tokens for c in found.selection.chunks)

        # Volatile spans and tool-call JSON are checked against the request's own
        # field paths (messages[i]...), before trimming renumbers anything.
        problems = check_messages(inp.messages)
        if problems:
            raise InvalidInput(problems)

        with timer.stage("trim"):
            others = static_tokens + context_tokens + tools_tokens(inp, counter)
            budget = history_budget(inp, others)
            trimmed = trim_history(inp.messages, budget, counter)
            system, history, last_user, tail = split_messages(trimmed.messages)

        static_docs: Sequence[Document] = found.static_documents
        chunks = [
            ContextChunk(c.chunk.document_id, c.chunk.chunk_id, c.chunk.text)
            for c in found.selection.chunks
        ]
        if inp.budget.compression_rate > 0:
            with timer.stage("compress"):
                history, static_docs, chunks = self._compress(
                    inp, query, history, static_docs, chunks
                )

        with timer.stage("layout"):
            layout = build_layout(
                system=system,
                static_docs=static_docs,
                history=history,
                chunks=chunks,
                last_user=last_user,
                tail=tail,
                tools=inp.tools,
            )
            embedder = self.resources.embedder
            plan = plan_request(
                inp.tenant,
                layout,
                target,
                counter,
                sampling=inp.sampling,
                query_text=query,
                embedder_model_id=embedder.model_id if embedder else "",
                tool_choice=inp.tool_choice,
                response_format=inp.response_format,
            )

        original = naive_prompt_tokens(inp, counter, [d.text for d in found.documents])
        stats = PreprocessStats(
            original_tokens=original,
            final_tokens=plan.prompt_tokens,
            encoding=counter.encoding_name,
            approximate=counter.approximate,
            dropped_messages=trimmed.dropped,
            cost_before_usd=estimate_cost(target, prompt_tokens=original).prompt_usd,
            cost_after_usd=plan.cost_after.prompt_usd,
        )
        out = PreprocessOutput(
            messages=layout.messages,
            plan=plan,
            stats=stats,
            query=query,
            chunks=[
                ChunkInfo(c.chunk.document_id, c.chunk.chunk_id, c.score, c.tokens)
                for c in found.selection.chunks
            ],
            warnings=list(plan.warnings),
        )
        if counter.warning:
            out.warnings.append(counter.warning)
        if trimmed.over_budget:
            out.warnings.append("messages that must be kept exceed the history budget")
        stats.stage_ms = timer.finish()
        return out
