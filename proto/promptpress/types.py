"""Core types shared by every stage.

Plain, frozen dataclasses: the stages in compressor/, retrieval/ and cachekeys/
take and return these, never protobuf. server/ converts at the edge.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # numpy only for the annotation: the client imports this module too
    import numpy as np


class Role(enum.Enum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class CompressionMethod(enum.Enum):
    LLMLINGUA = "llmlingua"
    LONGLLMLINGUA = "longllmlingua"
    LLMLINGUA2 = "llmlingua2"
    # LLMLingua (no question) or LongLLMLingua (question) scoring with surprisal
    # predicted by a small encoder distilled from the SmolLM2 scorer.
    DISTILLED = "distilled"


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
    """A call the model made: provider-assigned id, function name, and the arguments
    exactly as the model produced them (normally JSON text, not guaranteed)."""

    id: str
    name: str
    arguments_json: str = ""


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a streamed tool call. ``index`` tells parallel calls apart (they may
    interleave); ``id`` and ``name`` come with a call's first piece, ``arguments`` is
    the next slice of its arguments text (concatenate the slices in order)."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


class FinishReason(enum.StrEnum):
    """Why an answer ended, in OpenAI's vocabulary (Anthropic's stop reasons map to it)."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"


class ToolChoiceMode(enum.Enum):
    AUTO = "auto"  # the model decides (the providers' default when tools are given)
    NONE = "none"  # no tool calls
    REQUIRED = "required"  # at least one tool call (Anthropic: "any")
    TOOL = "tool"  # a call to the named tool


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: ToolChoiceMode = ToolChoiceMode.AUTO
    name: str = ""  # for ToolChoiceMode.TOOL
    disable_parallel_tool_calls: bool = False


class ResponseFormatType(enum.Enum):
    TEXT = "text"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Structured output: OpenAI ``response_format``, Anthropic ``output_config.format``."""

    type: ResponseFormatType = ResponseFormatType.TEXT
    name: str = ""  # the schema's name (OpenAI requires one; default "response")
    schema_json: str = ""  # JSON Schema as JSON text, for JSON_SCHEMA
    strict: bool = False


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


def question_of(messages: Sequence[Message], *, query: str = "") -> str:
    """The question a request asks: its explicit `query`, else its last non-blank user message.

    Every stage that needs "the question" (retrieval's query, the compressor's
    question, the semantic cache's key text, routing's difficulty features)
    takes it from here, so they all agree on it. "" when there is none.
    """
    if query.strip():
        return query
    for message in reversed(messages):
        if message.role is Role.USER and message.content.strip():
            return message.content
    return ""


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
    tool_choice: ToolChoice | None = None  # None: the provider's default
    response_format: ResponseFormat | None = None  # None: plain text


@runtime_checkable
class TextEmbedder(Protocol):
    """A sentence-embedding model, as every stage that embeds text needs it.

    `embed(texts)` returns float32 (n, dim) with L2-normalised rows and is safe to
    call from many threads; `model_id` is a cache-key-safe identity of the weights.
    retrieval's `SentenceTransformerEmbedder` implements it.
    """

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...
