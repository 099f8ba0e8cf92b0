"""Core types shared by every stage.

Plain, frozen dataclasses: the stages in compressor/, retrieval/ and cachekeys/
take and return these, never protobuf. server/ converts at the edge.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Role(enum.Enum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class CompressionMethod(enum.Enum):
    LLMLINGUA = "llmlingua"
    LONGLLMLINGUA = "longllmlingua"
    LLMLINGUA2 = "llmlingua2"


class Placement(enum.Enum):
    EDGES = "edges"
    SCORE = "score"
    SOURCE = "source"


@dataclass(frozen=True, slots=True)
class Span:
    """A byte range [start, end) in the UTF-8 encoding of a text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments_json: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str
    name: str = ""
    pinned: bool = False
    tool_call_id: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    protected_spans: tuple[Span, ...] = ()
    volatile_spans: tuple[Span, ...] = ()
    no_compress: bool = False


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    text: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    static: bool = False


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str = ""
    parameters_json: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    provider: str = "openai"
    model: str = "gpt-4o"
    strict: bool = False


@dataclass(frozen=True, slots=True)
class Budget:
    """Token budgets; 0 means no limit (compression_rate 0: no compression)."""

    max_prompt_tokens: int = 0
    max_history_tokens: int = 0
    max_context_tokens: int = 0
    compression_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class Sampling:
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int = 0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PreprocessInput:
    """Everything Preprocess needs, already validated and tenant-scoped."""

    tenant: str
    messages: tuple[Message, ...]
    target: Target = Target()
    budget: Budget = Budget()
    documents: tuple[Document, ...] = ()
    document_ids: tuple[str, ...] = ()
    query: str = ""
    tools: tuple[Tool, ...] = ()
    sampling: Sampling = Sampling()
    placement: Placement = Placement.EDGES
    compression_method: CompressionMethod | None = None
