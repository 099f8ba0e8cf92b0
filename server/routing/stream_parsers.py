"""Streamed answers: server-sent events in, text and tool-call pieces out.

- OpenAI-compatible: ``data: {chunk}`` lines ending with ``data: [DONE]``; text in
  ``choices[0].delta.content``; tool calls in ``choices[0].delta.tool_calls``, each
  piece naming its call by ``index`` (parallel calls interleave), with ``id`` and
  ``function.name`` on a call's first piece and ``function.arguments`` split into
  slices across chunks; usage in a last chunk when ``stream_options.include_usage``.
- Anthropic Messages: ``message_start``, then per content block
  ``content_block_start`` / ``content_block_delta`` / ``content_block_stop``
  (text blocks: ``text_delta``; ``tool_use`` blocks: ``input_json_delta`` slices of
  the input JSON), ``message_delta`` (stop reason, output usage), ``message_stop``.

Both parsers emit text as ``str`` and tool-call pieces as `ToolCallDelta` with the
call's ordinal among the answer's tool calls as its index, and assemble the whole
calls for the final `UpstreamReply`. Pure functions over events: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from promptpress.server.routing.protocols import (
    ProtocolError,
    UpstreamReply,
    anthropic_stop,
    finish_reason,
    json_object,
    snippet,
)
from promptpress.server.routing.tiers import UpstreamKind
from promptpress.server.routing.usage import (
    Usage,
    UsageError,
    merge_anthropic_stream_usage,
    usage_from_openai,
)
from promptpress.types import ToolCall, ToolCallDelta

StreamPiece = str | ToolCallDelta


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


@dataclass(slots=True)
class SSEDecoder:
    """Turns SSE lines (as httpx's aiter_lines yields them) into events."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed_line(self, line: str) -> SSEEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def flush(self) -> SSEEvent | None:
        """The last event when the stream ended without a blank line after it."""
        return self._dispatch()

    def _dispatch(self) -> SSEEvent | None:
        if not self._data and not self._event:
            return None
        event = SSEEvent(self._event or "message", "\n".join(self._data))
        self._event, self._data = "", []
        return event


@dataclass(slots=True)
class _CallParts:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ToolCallAssembler:
    """Collects tool-call pieces by index into whole calls, in index order."""

    _calls: dict[int, _CallParts] = field(default_factory=dict)

    def add(self, piece: ToolCallDelta) -> None:
        parts = self._calls.setdefault(piece.index, _CallParts())
        parts.id = parts.id or piece.id
        parts.name = parts.name or piece.name
        if piece.arguments:
            parts.arguments.append(piece.arguments)

    def calls(self, *, empty_arguments: str = "") -> tuple[ToolCall, ...]:
        out = []
        for index in sorted(self._calls):
            p = self._calls[index]
            if not p.id or not p.name:
                raise ProtocolError(f"streamed tool call {index} has no id or name")
            out.append(ToolCall(p.id, p.name, "".join(p.arguments) or empty_arguments))
        return tuple(out)


class StreamParser(Protocol):
    """Per-protocol stream state: feed events, get pieces, then the result."""

    done: bool

    def feed(self, event: SSEEvent) -> list[StreamPiece]: ...

    def result(self, text: str) -> UpstreamReply: ...


class OpenAIStreamParser:
    def __init__(self) -> None:
        self.done = False
        self._finish = ""
        self._usage: Usage | None = None
        self._model = ""
        self._calls = ToolCallAssembler()
        self._ordinal: dict[int, int] = {}  # the upstream's index -> our ordinal

    def feed(self, event: SSEEvent) -> list[StreamPiece]:
        if self.done:
            raise ProtocolError("data after [DONE]")
        if event.data.strip() == "[DONE]":
            self.done = True
            return []
        chunk = json_object(event.data)
        try:
            self._model = str(chunk.get("model") or self._model)
            if chunk.get("usage"):
                self._usage = usage_from_openai(chunk["usage"])
            pieces: list[StreamPiece] = []
            for choice in chunk.get("choices") or []:
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                content = delta.get("content")
                if content:
                    if not isinstance(content, str):
                        raise TypeError("delta.content is not a string")
                    pieces.append(content)
                for raw in delta.get("tool_calls") or ():
                    pieces.append(self._tool_piece(raw))
                if choice.get("finish_reason"):
                    self._finish = str(choice["finish_reason"])
            return pieces
        except (AttributeError, TypeError, KeyError, UsageError) as exc:
            raise ProtocolError(
                f"malformed stream chunk ({exc!r}): {snippet(event.data)}"
            ) from None

    def _tool_piece(self, raw: Any) -> ToolCallDelta:
        index = raw.get("index", len(self._ordinal))
        if not isinstance(index, int):
            raise TypeError("tool_calls[].index is not an integer")
        ordinal = self._ordinal.setdefault(index, len(self._ordinal))
        function = raw.get("function") or {}
        arguments = function.get("arguments") or ""
        if not isinstance(arguments, str):
            raise TypeError("tool_calls[].function.arguments is not a string")
        piece = ToolCallDelta(
            ordinal, str(raw.get("id") or ""), str(function.get("name") or ""), arguments
        )
        self._calls.add(piece)
        return piece

    def result(self, text: str) -> UpstreamReply:
        calls = self._calls.calls(empty_arguments="{}")
        return UpstreamReply(
            text,
            finish_reason(self._finish, bool(calls)),
            self._usage or Usage(),
            self._usage is not None,
            self._model,
            calls,
        )


class AnthropicStreamParser:
    def __init__(self) -> None:
        self.done = False
        self._stop = ""
        self._start_usage: dict[str, Any] = {}
        self._delta_usage: dict[str, Any] = {}
        self._model = ""
        self._calls = ToolCallAssembler()
        self._ordinal: dict[int, int] = {}  # content block index -> tool-call ordinal

    def feed(self, event: SSEEvent) -> list[StreamPiece]:
        if self.done:
            raise ProtocolError("event after message_stop")
        if event.event == "ping":
            return []
        if event.event == "error":
            raise ProtocolError(f"upstream stream error: {snippet(event.data)}")
        data = json_object(event.data)
        kind = data.get("type", event.event)
        try:
            if kind == "message_start":
                message = data["message"]
                self._model = str(message.get("model", ""))
                self._start_usage = dict(message.get("usage") or {})
            elif kind == "content_block_start":
                block = data["content_block"]
                if block.get("type") == "tool_use":
                    ordinal = self._ordinal.setdefault(int(data["index"]), len(self._ordinal))
                    piece = ToolCallDelta(ordinal, str(block["id"]), str(block["name"]))
                    self._calls.add(piece)
                    return [piece]
            elif kind == "content_block_delta":
                delta = data["delta"]
                if delta.get("type") == "text_delta":
                    return [str(delta["text"])]
                if delta.get("type") == "input_json_delta":
                    found = self._ordinal.get(int(data["index"]))
                    if found is None:
                        raise KeyError("input_json_delta outside a tool_use block")
                    piece = ToolCallDelta(found, arguments=str(delta["partial_json"]))
                    self._calls.add(piece)
                    return [piece] if piece.arguments else []
            elif kind == "message_delta":
                self._stop = anthropic_stop((data.get("delta") or {}).get("stop_reason"))
                self._delta_usage.update(data.get("usage") or {})
            elif kind == "message_stop":
                self.done = True
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(
                f"malformed stream event ({exc!r}): {snippet(event.data)}"
            ) from None
        return []

    def result(self, text: str) -> UpstreamReply:
        reported = bool(self._start_usage or self._delta_usage)
        try:
            usage = merge_anthropic_stream_usage(self._start_usage, self._delta_usage)
        except UsageError as exc:
            raise ProtocolError(f"malformed stream usage: {exc}") from None
        # A tool without parameters streams no input JSON: its input is {}.
        calls = self._calls.calls(empty_arguments="{}")
        return UpstreamReply(
            text, finish_reason(self._stop, bool(calls)), usage, reported, self._model, calls
        )


def stream_parser_for(kind: UpstreamKind) -> StreamParser:
    return AnthropicStreamParser() if kind is UpstreamKind.ANTHROPIC else OpenAIStreamParser()
