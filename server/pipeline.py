"""The Preprocess pipeline: trim -> retrieve -> compress -> layout and keys.

Each stage is a plain function or a small object holding a loaded model; this
module only composes them and times them. It runs in a worker thread (the
servicer calls it off the event loop), so stages may block.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from promptpress.compressor.history import trim_history
from promptpress.compressor.tokens import counter_for
from promptpress.types import Message, PreprocessInput, Role


@dataclass(frozen=True)
class BreakpointInfo:
    message_index: int
    prefix_tokens: int
    prefix_hash: str


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
    provider_body: str
    stats: PreprocessStats
    breakpoints: list[BreakpointInfo] = field(default_factory=list)
    prompt_cache_key: str = ""
    exact_key: str = ""
    semantic_key: str = ""
    context_fingerprint: str = ""
    chunks: list[ChunkInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class StageTimer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - t0) * 1000

    def finish(self) -> dict[str, float]:
        self.ms["total"] = (time.perf_counter() - self._start) * 1000
        return {k: round(v, 3) for k, v in self.ms.items()}


def history_budget(inp: PreprocessInput, other_tokens: int) -> int:
    """The history budget: max_history_tokens, capped by what max_prompt_tokens leaves."""
    limits = [b for b in (inp.budget.max_history_tokens,) if b > 0]
    if inp.budget.max_prompt_tokens > 0:
        limits.append(max(1, inp.budget.max_prompt_tokens - other_tokens))
    return min(limits) if limits else 0


class Pipeline:
    """Composes the stages. Holds the loaded resources the stages need."""

    def preprocess(self, inp: PreprocessInput) -> PreprocessOutput:
        timer = StageTimer()
        counter = counter_for(inp.target.model)
        original = counter.count_messages(inp.messages)
        with timer.stage("trim"):
            trimmed = trim_history(inp.messages, history_budget(inp, 0), counter)
        with timer.stage("layout"):
            body = _openai_body(inp, trimmed.messages)
        stats = PreprocessStats(
            original_tokens=original,
            final_tokens=trimmed.tokens,
            encoding=counter.encoding_name,
            approximate=counter.approximate,
            dropped_messages=trimmed.dropped,
        )
        out = PreprocessOutput(messages=trimmed.messages, provider_body=body, stats=stats)
        if trimmed.over_budget:
            out.warnings.append("messages that must be kept exceed the history budget")
        stats.stage_ms = timer.finish()
        return out


def _openai_body(inp: PreprocessInput, messages: tuple[Message, ...]) -> str:
    body: dict[str, object] = {
        "model": inp.target.model,
        "messages": [{"role": m.role.value, "content": m.content} for m in messages if m.role is not Role.TOOL],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
