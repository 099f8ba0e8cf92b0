"""The canonical, cache-stable layout of a prompt.

Provider prompt caches hit only on a byte-identical prefix, so the layout puts
what changes least first and serialises it the same way every time:

    tools -> system -> static documents -> history -> retrieved chunks
          -> volatile values -> last user message -> (tool turns after it)

Tools are sorted by name and their JSON schemas re-serialised with sorted keys
and no whitespace. Caller-marked volatile spans (dates, request ids) are cut out
of the messages before the last user message, replaced by a stable placeholder
(``[[v1]]``), and their values are sent in one message after the cacheable
prefix. Message text is otherwise never touched.
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from json.encoder import encode_basestring
from xml.sax.saxutils import quoteattr

from promptpress.errors import FieldViolation, InvalidInput
from promptpress.types import Document, Message, Role, Span, Tool

VOLATILE_HEADER = "Values of the placeholders used above:"


class Section(enum.Enum):
    SYSTEM = "system"
    STATIC = "static"  # static documents
    HISTORY = "history"
    CONTEXT = "context"  # retrieved chunks
    VOLATILE = "volatile"  # values of volatile spans moved out of the prefix
    QUERY = "query"  # the last user message
    TAIL = "tail"  # tool calls/results after the last user message


@dataclass(frozen=True, slots=True)
class ContextChunk:
    """A retrieved chunk as the layout needs it (retrieval's own type stays there)."""

    document_id: str
    chunk_id: str
    text: str


@dataclass(frozen=True, slots=True)
class VolatileValue:
    marker: str  # e.g. "[[v1]]"
    text: str
    message_index: int  # the layout message it was cut from


@dataclass(frozen=True)
class PromptLayout:
    tools: tuple[Tool, ...]  # canonical: sorted by name, schemas canonical JSON
    messages: tuple[Message, ...]
    sections: tuple[Section, ...]  # one per message
    volatile: tuple[VolatileValue, ...] = ()

    def indices(self, *sections: Section) -> list[int]:
        return [i for i, s in enumerate(self.sections) if s in sections]

    @functools.cached_property
    def query_index(self) -> int:
        found = self.indices(Section.QUERY)
        return found[0] if found else -1

    @functools.cached_property  # read by breakpoints and keys several times per request
    def static_end(self) -> int:
        """Index of the last system/static message of the leading block, or -1."""
        end = -1
        for i, s in enumerate(self.sections):
            if s not in (Section.SYSTEM, Section.STATIC):
                break
            end = i
        return end

    @property
    def conversation_end(self) -> int:
        """The last message the next turn of this conversation will start with.

        Without retrieved context that is the end of the prompt (the next turn
        repeats this query and its tail as history); with context, the chunks and
        the query are not part of the next turn's history, so it is the end of
        the history (or of the static block).
        """
        if self.indices(Section.CONTEXT, Section.VOLATILE):
            history = self.indices(Section.HISTORY)
            return history[-1] if history else self.static_end
        return len(self.messages) - 1

    # The keys (exact, prefix, conversation, context) each hash the tools and most
    # messages: computed once per layout, not once per key (the layout is frozen).
    @functools.cached_property
    def _tools_json(self) -> str:
        if not self.tools:
            return "[]"  # canonical_json([]); most requests have no tools
        return canonical_json([tool_spec(t) for t in self.tools])

    @functools.cached_property
    def _message_jsons(self) -> tuple[str, ...]:
        return tuple(message_json(m) for m in self.messages)

    @functools.cached_property
    def _tools_utf8(self) -> bytes:
        return self._tools_json.encode("utf-8")

    @functools.cached_property
    def _message_utf8(self) -> tuple[bytes, ...]:
        return tuple(j.encode("utf-8") for j in self._message_jsons)

    # What the keys feed their hashes: each piece framed as an 8-byte big-endian
    # length and the UTF-8 bytes (keys._feed_utf8), framed once per layout, so a
    # key hashes a run of messages in one update instead of two per message.
    @functools.cached_property
    def _tools_frame(self) -> bytes:
        return _frame(self._tools_utf8)

    @functools.cached_property
    def _message_frames(self) -> tuple[bytes, ...]:
        return tuple(_frame(b) for b in self._message_utf8)

    def tools_frame(self) -> bytes:
        """`tools_json_utf8()` framed as the keys hash it (length, then bytes)."""
        return self._tools_frame

    def message_frames(self) -> tuple[bytes, ...]:
        """Every `message_json_utf8(i)` framed as the keys hash it."""
        return self._message_frames

    def tools_json(self) -> str:
        return self._tools_json

    def message_json(self, index: int) -> str:
        return self._message_jsons[index]

    def tools_json_utf8(self) -> bytes:
        """`tools_json()` encoded, once per layout (what the keys hash)."""
        return self._tools_utf8

    def message_json_utf8(self, index: int) -> bytes:
        """`message_json(index)` encoded, once per layout (what the keys hash)."""
        return self._message_utf8[index]


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


def canonical_json(value: object) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json_text(text: str) -> str:
    """A JSON text re-serialised canonically; text that is not JSON is returned unchanged."""
    if not text:
        return text
    try:
        return canonical_json(json.loads(text))
    except ValueError:
        return text


def tool_spec(tool: Tool) -> dict[str, object]:
    return {"d": tool.description, "n": tool.name, "p": canonical_json_text(tool.parameters_json)}


def message_spec(m: Message) -> dict[str, object]:
    spec: dict[str, object] = {"c": m.content, "r": m.role.value}
    if m.name:
        spec["n"] = m.name
    if m.tool_call_id:
        spec["t"] = m.tool_call_id
    if m.tool_calls:
        spec["k"] = [[c.id, c.name, canonical_json_text(c.arguments_json)] for c in m.tool_calls]
    return spec


def message_json(m: Message) -> str:
    """`canonical_json(message_spec(m))`, written directly: sorted keys ("c" < "k" <
    "n" < "r" < "t"), no whitespace, each string as json.dumps writes it with
    ensure_ascii=False (`encode_basestring`). The same text, without building a
    dict and sorting its keys for every message of every request."""
    if m.tool_calls:  # rare: the nested lists go the general way
        return canonical_json(message_spec(m))
    parts = ['{"c":', encode_basestring(m.content)]
    if m.name:
        parts += [',"n":', encode_basestring(m.name)]
    parts += [',"r":', encode_basestring(m.role.value)]
    if m.tool_call_id:
        parts += [',"t":', encode_basestring(m.tool_call_id)]
    parts.append("}")
    return "".join(parts)


def canonical_tools(tools: Sequence[Tool], field: str = "tools") -> tuple[Tool, ...]:
    """Tools sorted by name with canonical JSON schemas; bad schemas raise InvalidInput."""
    violations: list[FieldViolation] = []
    out: list[Tool] = []
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if not tool.name:
            violations.append(FieldViolation(f"{field}[{i}].name", "must not be empty"))
        elif tool.name in seen:
            violations.append(FieldViolation(f"{field}[{i}].name", f"duplicate tool {tool.name!r}"))
        seen.add(tool.name)
        params = tool.parameters_json
        if params:
            try:
                params = canonical_json(json.loads(params))
            except ValueError:
                violations.append(
                    FieldViolation(f"{field}[{i}].parameters_json", "is not valid JSON")
                )
        out.append(replace(tool, parameters_json=params))
    if violations:
        raise InvalidInput(violations)
    return tuple(sorted(out, key=lambda t: t.name))


def check_messages(messages: Sequence[Message], field: str = "messages") -> list[FieldViolation]:
    """Problems the layout would reject: bad volatile spans and tool-call arguments."""
    problems: list[FieldViolation] = []
    for i, m in enumerate(messages):
        if m.volatile_spans:  # most messages have none: no encoding, no sorting
            raw = m.content.encode("utf-8")
            for j, span in enumerate(m.volatile_spans):
                reason = _span_problem(raw, span)
                if reason:
                    problems.append(FieldViolation(f"{field}[{i}].volatile_spans[{j}]", reason))
            ordered = sorted(m.volatile_spans, key=lambda s: (s.start, s.end))
            for a, b in itertools.pairwise(ordered):
                if b.start < a.end:
                    problems.append(FieldViolation(f"{field}[{i}].volatile_spans", "spans overlap"))
                    break
        for j, call in enumerate(m.tool_calls):
            if not call.arguments_json:
                continue
            try:
                json.loads(call.arguments_json)
            except ValueError:
                problems.append(
                    FieldViolation(
                        f"{field}[{i}].tool_calls[{j}].arguments_json", "is not valid JSON"
                    )
                )
    return problems


def _span_problem(raw: bytes, span: Span) -> str:
    if span.start < 0 or span.end < span.start or span.end > len(raw):
        return f"[{span.start}, {span.end}) is outside the {len(raw)}-byte content"
    for pos in (span.start, span.end):
        if pos < len(raw) and 0x80 <= raw[pos] <= 0xBF:
            return f"byte {pos} is inside a UTF-8 character"
    return ""


def _cut_volatile(m: Message, first_number: int, index: int) -> tuple[Message, list[VolatileValue]]:
    """The message with its volatile spans replaced by numbered placeholders."""
    spans = sorted((s for s in m.volatile_spans if s.end > s.start), key=lambda s: s.start)
    if not spans:
        return replace(m, volatile_spans=()), []
    raw = m.content.encode("utf-8")
    parts: list[bytes] = []
    values: list[VolatileValue] = []
    shifts: list[tuple[int, int, int]] = []  # (start, end, replacement length)
    pos = 0
    for n, span in enumerate(spans, start=first_number):
        marker = f"[[v{n}]]"
        parts += [raw[pos : span.start], marker.encode()]
        values.append(VolatileValue(marker, raw[span.start : span.end].decode("utf-8"), index))
        shifts.append((span.start, span.end, len(marker)))
        pos = span.end
    parts.append(raw[pos:])
    content = b"".join(parts).decode("utf-8")
    protected = tuple(
        moved for s in m.protected_spans if (moved := _shift_span(s, shifts)) is not None
    )
    return replace(m, content=content, volatile_spans=(), protected_spans=protected), values


def _shift_span(span: Span, shifts: list[tuple[int, int, int]]) -> Span | None:
    """A protected span moved past the cut spans; None when it overlaps one."""
    delta_start = delta_end = 0
    for start, end, new_len in shifts:
        if span.start < end and start < span.end:
            return None
        change = new_len - (end - start)
        if end <= span.start:
            delta_start += change
        if end <= span.end:
            delta_end += change
    return Span(span.start + delta_start, span.end + delta_end)


def document_message(doc: Document) -> Message:
    return Message(
        role=Role.SYSTEM,
        content=f"<document id={quoteattr(doc.id)}>\n{doc.text}\n</document>",
        no_compress=True,
    )


def context_message(chunks: Sequence[ContextChunk]) -> Message:
    body = "".join(
        f"<chunk document_id={quoteattr(c.document_id)} chunk_id={quoteattr(c.chunk_id)}>\n"
        f"{c.text}\n</chunk>\n"
        for c in chunks
    )
    return Message(role=Role.USER, content=f"<context>\n{body}</context>")


def split_messages(
    messages: Sequence[Message],
) -> tuple[tuple[Message, ...], tuple[Message, ...], Message | None, tuple[Message, ...]]:
    """(leading system messages, history, last user message, messages after it)."""
    lead = 0
    while lead < len(messages) and messages[lead].role is Role.SYSTEM:
        lead += 1
    last_user = max((i for i, m in enumerate(messages) if m.role is Role.USER), default=-1)
    if last_user < lead:
        return tuple(messages[:lead]), tuple(messages[lead:]), None, ()
    return (
        tuple(messages[:lead]),
        tuple(messages[lead:last_user]),
        messages[last_user],
        tuple(messages[last_user + 1 :]),
    )


def build_layout(
    *,
    system: Sequence[Message | str] = (),
    static_docs: Sequence[Document] = (),
    history: Sequence[Message] = (),
    chunks: Sequence[ContextChunk] = (),
    last_user: Message | None = None,
    tail: Sequence[Message] = (),
    tools: Sequence[Tool] = (),
) -> PromptLayout:
    """Lays a request out stable-first (see the module docstring)."""
    sys_msgs = [Message(Role.SYSTEM, s) if isinstance(s, str) else s for s in system]
    groups: list[tuple[Section, str, Sequence[Message]]] = [
        (Section.SYSTEM, "system", sys_msgs),
        (Section.STATIC, "static_docs", [document_message(d) for d in static_docs]),
        (Section.HISTORY, "history", history),
    ]
    messages: list[Message] = []
    sections: list[Section] = []
    volatile: list[VolatileValue] = []
    for section, field, group in groups:
        problems = check_messages(group, field)
        if problems:
            raise InvalidInput(problems)
        for m in group:
            cut, values = _cut_volatile(m, len(volatile) + 1, len(messages))
            messages.append(cut)
            sections.append(section)
            volatile += values
    if chunks:
        messages.append(context_message(chunks))
        sections.append(Section.CONTEXT)
    if volatile:
        lines = "\n".join(f"{v.marker} = {v.text}" for v in volatile)
        messages.append(Message(role=Role.USER, content=f"{VOLATILE_HEADER}\n{lines}"))
        sections.append(Section.VOLATILE)
    for section, group in ((Section.QUERY, [last_user] if last_user else []), (Section.TAIL, tail)):
        for m in group:
            messages.append(m)
            sections.append(section)
    return PromptLayout(
        tools=canonical_tools(tools),
        messages=tuple(messages),
        sections=tuple(sections),
        volatile=tuple(volatile),
    )
