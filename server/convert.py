"""Protobuf -> core types for every request, with validation of every field.

Each `*_from_proto` function collects every violation it finds (proto3
JSON-style field paths) and raises one InvalidInput, so the caller sees all
problems at once. The enum tables go both ways; the responses (core -> protobuf)
are built by the servicer, next to the RPC that returns them. Nothing here
imports model code (tests/server/test_edge_is_light.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

from promptpress import types as core
from promptpress.compressor.settings import CompressionSettings
from promptpress.errors import FieldViolation, InvalidInput
from promptpress.v1 import promptpress_pb2 as pb

ROLE_FROM_PB = {
    pb.ROLE_SYSTEM: core.Role.SYSTEM,
    pb.ROLE_USER: core.Role.USER,
    pb.ROLE_ASSISTANT: core.Role.ASSISTANT,
    pb.ROLE_TOOL: core.Role.TOOL,
}
ROLE_TO_PB = {v: k for k, v in ROLE_FROM_PB.items()}
METHOD_FROM_PB: dict[pb.CompressionMethod, core.CompressionMethod] = {
    pb.COMPRESSION_METHOD_LLMLINGUA: core.CompressionMethod.LLMLINGUA,
    pb.COMPRESSION_METHOD_LONGLLMLINGUA: core.CompressionMethod.LONGLLMLINGUA,
    pb.COMPRESSION_METHOD_LLMLINGUA2: core.CompressionMethod.LLMLINGUA2,
    pb.COMPRESSION_METHOD_DISTILLED: core.CompressionMethod.DISTILLED,
}
METHOD_TO_PB = {v: k for k, v in METHOD_FROM_PB.items()}
PLACEMENT_FROM_PB = {
    pb.PLACEMENT_UNSPECIFIED: core.Placement.EDGES,
    pb.PLACEMENT_EDGES: core.Placement.EDGES,
    pb.PLACEMENT_SCORE: core.Placement.SCORE,
    pb.PLACEMENT_SOURCE: core.Placement.SOURCE,
}

TOOL_CHOICE_FROM_PB = {
    pb.TOOL_CHOICE_MODE_AUTO: core.ToolChoiceMode.AUTO,
    pb.TOOL_CHOICE_MODE_NONE: core.ToolChoiceMode.NONE,
    pb.TOOL_CHOICE_MODE_REQUIRED: core.ToolChoiceMode.REQUIRED,
    pb.TOOL_CHOICE_MODE_TOOL: core.ToolChoiceMode.TOOL,
}
RESPONSE_FORMAT_FROM_PB = {
    pb.RESPONSE_FORMAT_TYPE_TEXT: core.ResponseFormatType.TEXT,
    pb.RESPONSE_FORMAT_TYPE_JSON_OBJECT: core.ResponseFormatType.JSON_OBJECT,
    pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA: core.ResponseFormatType.JSON_SCHEMA,
}


@dataclass(frozen=True)
class RequestLimits:
    """Sizes of a request the edge accepts; checked before any work starts."""

    max_messages: int
    max_message_bytes: int
    max_documents: int
    max_document_bytes: int
    max_texts: int
    max_text_bytes: int
    max_document_ids: int


class Violations:
    """Collects field violations; raise() if any."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInput(self.items)


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _on_char_boundary(data: bytes, offset: int) -> bool:
    # UTF-8 continuation bytes are 0b10xxxxxx; a boundary never sits before one.
    return offset == len(data) or (data[offset] & 0xC0) != 0x80


def _spans(
    spans: Iterable[pb.ByteSpan], text: str, field: str, v: Violations
) -> tuple[core.Span, ...]:
    """Byte spans checked whether or not compression runs later: inside the text and
    on UTF-8 character boundaries, reported with the caller's full field path."""
    items = list(spans)
    if not items:
        return ()
    data = text.encode("utf-8", "surrogatepass")
    size = len(data)
    out = []
    for i, s in enumerate(items):
        if not 0 <= s.start <= s.end <= size:
            v.add(
                f"{field}[{i}]", f"span [{s.start}, {s.end}) is outside the text (0..{size} bytes)"
            )
        elif not (_on_char_boundary(data, s.start) and _on_char_boundary(data, s.end)):
            v.add(
                f"{field}[{i}]",
                f"span [{s.start}, {s.end}) has a boundary inside a UTF-8 character",
            )
        else:
            out.append(core.Span(s.start, s.end))
    return tuple(out)


def message_from_proto(
    m: pb.Message, field: str, limits: RequestLimits, v: Violations
) -> core.Message | None:
    role = ROLE_FROM_PB.get(m.role)
    if role is None:
        v.add(f"{field}.role", "must be ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL")
    # Each read of a string field builds a new str from the wire bytes: read once.
    content = m.content
    tool_call_id = m.tool_call_id
    # A character is at most 4 bytes in UTF-8: short texts need no encoding to check.
    if len(content) * 4 > limits.max_message_bytes:
        size = _utf8_len(content)
        if size > limits.max_message_bytes:
            v.add(f"{field}.content", f"is {size} bytes; the limit is {limits.max_message_bytes}")
    if role is core.Role.TOOL and not tool_call_id:
        v.add(f"{field}.tool_call_id", "is required for ROLE_TOOL messages")
    calls: tuple[core.ToolCall, ...] = ()
    if m.tool_calls:
        calls = tuple(core.ToolCall(c.id, c.name, c.arguments_json) for c in m.tool_calls)
        for i, c in enumerate(calls):
            if not c.id:
                v.add(f"{field}.tool_calls[{i}].id", "must not be empty")
    protected = (
        _spans(m.protected_spans, content, f"{field}.protected_spans", v)
        if m.protected_spans
        else ()
    )
    volatile = (
        _spans(m.volatile_spans, content, f"{field}.volatile_spans", v) if m.volatile_spans else ()
    )
    if role is None:
        return None
    return core.Message(
        role=role,
        content=content,
        name=m.name,
        pinned=m.pinned,
        tool_call_id=tool_call_id,
        tool_calls=calls,
        protected_spans=protected,
        volatile_spans=volatile,
        no_compress=m.no_compress,
    )


def messages_from_proto(
    messages: object, field: str, limits: RequestLimits, v: Violations, *, required: bool
) -> tuple[core.Message, ...]:
    items = list(messages)  # type: ignore[call-overload]
    if required and not items:
        v.add(field, "must contain at least one message")
    if len(items) > limits.max_messages:
        v.add(field, f"has {len(items)} messages; the limit is {limits.max_messages}")
        return ()
    out = [message_from_proto(m, f"{field}[{i}]", limits, v) for i, m in enumerate(items)]
    return tuple(m for m in out if m is not None)


def message_to_proto(m: core.Message) -> pb.Message:
    out = pb.Message(role=ROLE_TO_PB[m.role], content=m.content)
    # Only what is set: every keyword costs the constructor, and proto3 leaves
    # defaults off the wire anyway (the bytes are the same).
    if m.name:
        out.name = m.name
    if m.pinned:
        out.pinned = True
    if m.tool_call_id:
        out.tool_call_id = m.tool_call_id
    if m.tool_calls:
        out.tool_calls.extend(
            pb.ToolCall(id=c.id, name=c.name, arguments_json=c.arguments_json) for c in m.tool_calls
        )
    if m.protected_spans:
        out.protected_spans.extend(pb.ByteSpan(start=s.start, end=s.end) for s in m.protected_spans)
    if m.volatile_spans:
        out.volatile_spans.extend(pb.ByteSpan(start=s.start, end=s.end) for s in m.volatile_spans)
    if m.no_compress:
        out.no_compress = True
    return out


def documents_from_proto(
    docs: object, field: str, limits: RequestLimits, v: Violations
) -> tuple[core.Document, ...]:
    items = list(docs)  # type: ignore[call-overload]
    if len(items) > limits.max_documents:
        v.add(field, f"has {len(items)} documents; the limit is {limits.max_documents}")
        return ()
    seen: dict[str, int] = {}
    out = []
    for i, d in enumerate(items):
        if not d.id:
            v.add(f"{field}[{i}].id", "must not be empty")
        elif d.id in seen:
            v.add(f"{field}[{i}].id", f"duplicates {field}[{seen[d.id]}].id ({d.id!r})")
        else:
            seen[d.id] = i
        size = _utf8_len(d.text)
        if not d.text.strip():
            v.add(f"{field}[{i}].text", "must not be empty")
        elif size > limits.max_document_bytes:
            v.add(
                f"{field}[{i}].text", f"is {size} bytes; the limit is {limits.max_document_bytes}"
            )
        out.append(core.Document(id=d.id, text=d.text, metadata=dict(d.metadata), static=d.static))
    return tuple(out)


_DEFAULT_TARGET = core.Target()


def target_from_proto(t: pb.Target) -> core.Target:
    return core.Target(
        provider=t.provider.strip().lower() or _DEFAULT_TARGET.provider,
        model=t.model.strip() or _DEFAULT_TARGET.model,
        strict=t.strict,
    )


def budget_from_proto(b: pb.Budget, v: Violations) -> core.Budget:
    for name in ("max_prompt_tokens", "max_history_tokens", "max_context_tokens"):
        if getattr(b, name) < 0:
            v.add(f"budget.{name}", "must not be negative (0 means no limit)")
    rate = b.compression_rate
    if (rate != 0 and not (0 < rate <= 1)) or math.isnan(rate):
        v.add("budget.compression_rate", "must be in (0, 1] (0 means no compression)")
    return core.Budget(
        max_prompt_tokens=max(0, b.max_prompt_tokens),
        max_history_tokens=max(0, b.max_history_tokens),
        max_context_tokens=max(0, b.max_context_tokens),
        compression_rate=rate if 0 < rate <= 1 else 0.0,
    )


def sampling_from_proto(s: pb.Sampling, v: Violations) -> core.Sampling:
    if s.HasField("temperature") and not 0 <= s.temperature <= 2:
        v.add("sampling.temperature", "must be in [0, 2]")
    if s.HasField("top_p") and not 0 < s.top_p <= 1:
        v.add("sampling.top_p", "must be in (0, 1]")
    if s.max_output_tokens < 0:
        v.add("sampling.max_output_tokens", "must not be negative")
    return core.Sampling(
        temperature=round(s.temperature, 6) if s.HasField("temperature") else None,
        top_p=round(s.top_p, 6) if s.HasField("top_p") else None,
        max_output_tokens=max(0, s.max_output_tokens),
        seed=s.seed if s.HasField("seed") else None,
        stop=tuple(s.stop),
    )


def method_from_proto(
    value: pb.CompressionMethod, field: str, v: Violations
) -> core.CompressionMethod | None:
    if value == pb.COMPRESSION_METHOD_UNSPECIFIED:
        return None
    method = METHOD_FROM_PB.get(value)
    if method is None:
        v.add(field, f"unknown compression method {value}")
    return method


def tool_choice_from_proto(
    req: pb.PreprocessRequest, tools: Iterable[core.Tool], v: Violations
) -> core.ToolChoice | None:
    if not req.HasField("tool_choice"):
        return None
    tc = req.tool_choice
    if tc.mode == pb.TOOL_CHOICE_MODE_UNSPECIFIED:
        if tc.name or tc.disable_parallel_tool_calls:
            v.add("tool_choice.mode", "must be set when name or disable_parallel_tool_calls is")
        return None
    mode = TOOL_CHOICE_FROM_PB.get(tc.mode)
    if mode is None:
        v.add("tool_choice.mode", f"unknown mode {tc.mode}")
        return None
    names = {t.name for t in tools}
    if mode is core.ToolChoiceMode.TOOL and tc.name not in names:
        v.add("tool_choice.name", f"must name one of the request's tools, got {tc.name!r}")
    elif mode is not core.ToolChoiceMode.TOOL and tc.name:
        v.add("tool_choice.name", "is only allowed with TOOL_CHOICE_MODE_TOOL")
    if mode is not core.ToolChoiceMode.NONE and not names:
        v.add("tool_choice", "asks for tool calls but the request has no tools")
    return core.ToolChoice(mode, tc.name, tc.disable_parallel_tool_calls)


def response_format_from_proto(
    req: pb.PreprocessRequest, v: Violations
) -> core.ResponseFormat | None:
    if not req.HasField("response_format"):
        return None
    rf = req.response_format
    if rf.type == pb.RESPONSE_FORMAT_TYPE_UNSPECIFIED:
        return None
    kind = RESPONSE_FORMAT_FROM_PB.get(rf.type)
    if kind is None:
        v.add("response_format.type", f"unknown type {rf.type}")
        return None
    if kind is core.ResponseFormatType.JSON_SCHEMA:
        try:
            schema = json.loads(rf.schema_json)
        except ValueError:
            schema = None
        if not isinstance(schema, dict):
            v.add("response_format.schema_json", "must be a JSON Schema object as JSON text")
    elif rf.schema_json:
        v.add(
            "response_format.schema_json", "is only allowed with RESPONSE_FORMAT_TYPE_JSON_SCHEMA"
        )
    return core.ResponseFormat(kind, rf.name, rf.schema_json, rf.strict)


def tool_call_delta_to_proto(d: core.ToolCallDelta) -> pb.ToolCallDelta:
    return pb.ToolCallDelta(index=d.index, id=d.id, name=d.name, arguments_delta=d.arguments)


def preprocess_from_proto(
    req: pb.PreprocessRequest, tenant: str, limits: RequestLimits
) -> core.PreprocessInput:
    v = Violations()
    messages = messages_from_proto(req.messages, "messages", limits, v, required=True)
    if messages and not any(m.role is core.Role.USER for m in messages):
        v.add("messages", "must contain at least one ROLE_USER message")
    documents = documents_from_proto(req.documents, "documents", limits, v)
    if len(req.document_ids) > limits.max_document_ids:
        v.add(
            "document_ids",
            f"has {len(req.document_ids)} ids; the limit is {limits.max_document_ids}",
        )
    for i, doc_id in enumerate(req.document_ids):
        if not doc_id:
            v.add(f"document_ids[{i}]", "must not be empty")
    budget = budget_from_proto(req.budget, v)
    sampling = sampling_from_proto(req.sampling, v)
    placement = PLACEMENT_FROM_PB.get(req.placement)
    if placement is None:
        v.add("placement", f"unknown placement {req.placement}")
    method = method_from_proto(req.compression_method, "compression_method", v)
    tools = tuple(core.Tool(t.name, t.description, t.parameters_json) for t in req.tools)
    for i, t in enumerate(req.tools):
        if not t.name:
            v.add(f"tools[{i}].name", "must not be empty")
    tool_choice = tool_choice_from_proto(req, tools, v)
    response_format = response_format_from_proto(req, v)
    v.raise_if_any()
    return core.PreprocessInput(
        tenant=tenant,
        messages=messages,
        target=target_from_proto(req.target),
        budget=budget,
        documents=documents,
        document_ids=tuple(req.document_ids),
        query=req.query,
        tools=tools,
        sampling=sampling,
        placement=placement or core.Placement.EDGES,
        compression_method=method,
        tool_choice=tool_choice,
        response_format=response_format,
    )


def compress_from_proto(
    req: pb.CompressRequest, limits: RequestLimits
) -> tuple[str, CompressionSettings]:
    v = Violations()
    if math.isnan(req.rate) or req.rate < 0 or req.rate > 1:
        v.add("rate", "must be in (0, 1] (0 means the server's default rate)")
    if req.target_tokens < 0:
        v.add("target_tokens", "must not be negative (0 means use rate)")
    size = _utf8_len(req.text)
    if size > limits.max_text_bytes:
        v.add("text", f"is {size} bytes; the limit is {limits.max_text_bytes}")
    method = method_from_proto(req.method, "method", v)
    spans = _spans(req.protected_spans, req.text, "protected_spans", v)
    v.raise_if_any()
    return req.text, CompressionSettings(
        method=method,
        rate=req.rate if req.rate > 0 else None,
        target_tokens=req.target_tokens,
        question=req.question,
        target_model=target_from_proto(req.target).model,
        protected_spans=spans,
    )


def count_tokens_from_proto(
    req: pb.CountTokensRequest, limits: RequestLimits
) -> tuple[list[str], tuple[core.Message, ...]]:
    v = Violations()
    if len(req.texts) > limits.max_texts:
        v.add("texts", f"has {len(req.texts)} texts; the limit is {limits.max_texts}")
    for i, text in enumerate(req.texts):
        if _utf8_len(text) > limits.max_text_bytes:
            v.add(f"texts[{i}]", f"exceeds {limits.max_text_bytes} bytes")
    messages = messages_from_proto(req.messages, "messages", limits, v, required=False)
    v.raise_if_any()
    return list(req.texts), messages


def index_documents_from_proto(
    req: pb.IndexDocumentsRequest, limits: RequestLimits
) -> tuple[core.Document, ...]:
    v = Violations()
    docs = documents_from_proto(req.documents, "documents", limits, v)
    if not req.documents:
        v.add("documents", "must contain at least one document")
    v.raise_if_any()
    return docs


MAX_KEY_CHARS = 1024


def report_key_from_proto(req: pb.ReportBadHitRequest) -> str:
    return report_key(req.key)


def report_key(raw: str) -> str:
    """A bad-hit report's key: a served answer's matched_key (gRPC and HTTP alike)."""
    key = raw.strip()
    v = Violations()
    if not key:
        v.add("key", "must be the matched_key of a served cached answer (not empty)")
    elif len(key) > MAX_KEY_CHARS:
        v.add("key", f"must be at most {MAX_KEY_CHARS} characters")
    v.raise_if_any()
    return key


def document_ids_from_proto(req: pb.DeleteDocumentsRequest) -> list[str]:
    v = Violations()
    if not req.document_ids:
        v.add("document_ids", "must contain at least one id")
    for i, doc_id in enumerate(req.document_ids):
        if not doc_id:
            v.add(f"document_ids[{i}]", "must not be empty")
    v.raise_if_any()
    return list(req.document_ids)
