"""The Messages API's event stream for one answer, as SSE bytes.

    message_start
    content_block_start / content_block_delta* / content_block_stop   (per block)
    message_delta (stop_reason, usage, the promptpress report)
    message_stop

Blocks never overlap: one is open at a time, as the API sends them. Tool calls
that arrive interleaved (OpenAI-compatible upstreams may stream parallel calls
piece by piece, call 0, call 1, call 0, ...) cannot be streamed that way, so the
first call streams live and the pieces of any other call that arrive while it is
open are held and sent whole, each as its own block, when the answer ends.
"""

from __future__ import annotations

from typing import Any

from promptpress.server.completion import Completion
from promptpress.server.http import sse
from promptpress.server.http.anthropic_api import stop_reason, usage_json
from promptpress.server.http.errors import HttpFailure, anthropic_error
from promptpress.types import ToolCallDelta


class EventStream:
    def __init__(self, *, model: str, request_id: str) -> None:
        self.model = model
        self.id = f"msg_{request_id}"
        self.open_block: int | None = None
        self.open_call: int | None = None  # the tool call whose block is open
        self.blocks = 0
        self.call_blocks: dict[int, int] = {}  # tool call index -> its block
        self.held: dict[int, list[ToolCallDelta]] = {}  # calls waiting for the open one

    @staticmethod
    def _event(name: str, **data: Any) -> bytes:
        return sse.frame({"type": name, **data}, event=name)

    def start(self) -> bytes:
        # Input tokens are known only once the upstream answers: message_delta has them.
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_json(None),
        }
        return self._event("message_start", message=message)

    def _close(self) -> bytes:
        if self.open_block is None:
            return b""
        index, self.open_block, self.open_call = self.open_block, None, None
        return self._event("content_block_stop", index=index)

    def _open(self, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.open_block = self.blocks
        self.blocks += 1
        return out + self._event("content_block_start", index=self.open_block, content_block=block)

    def _tool_block(self, d: ToolCallDelta) -> bytes:
        out = self._open({"type": "tool_use", "id": d.id, "name": d.name, "input": {}})
        self.open_call = d.index
        self.call_blocks[d.index] = self.blocks - 1
        return out

    def _arguments(self, text: str, block: int | None = None) -> bytes:
        if not text:
            return b""
        delta = {"type": "input_json_delta", "partial_json": text}
        index = self.open_block if block is None else block
        return self._event("content_block_delta", index=index, delta=delta)

    def text(self, text: str) -> bytes:
        out = b""
        if self.open_block is None or self.open_call is not None:
            out += self._open({"type": "text", "text": ""})
        delta = {"type": "text_delta", "text": text}
        return out + self._event("content_block_delta", index=self.open_block, delta=delta)

    def tool_call(self, d: ToolCallDelta) -> bytes:
        """Streams the open call's pieces; a new call opens a block unless another call
        is open, in which case it is held (see the module doc)."""
        if d.index == self.open_call:
            return self._arguments(d.arguments)
        if d.index in self.call_blocks:
            # Its block was closed by text that came after it (unusual): the piece
            # still goes to the call's own block index, which the SDKs accumulate by.
            return self._arguments(d.arguments, self.call_blocks[d.index])
        if d.index in self.held or self.open_call is not None:
            self.held.setdefault(d.index, []).append(d)
            return b""
        return self._tool_block(d) + self._arguments(d.arguments)

    def _release_held(self) -> bytes:
        out = b""
        for index in sorted(self.held):
            pieces = self.held[index]
            first = next((p for p in pieces if p.id or p.name), pieces[0])
            out += self._tool_block(first)
            out += self._arguments("".join(p.arguments for p in pieces))
        self.held.clear()
        return out

    def finish(self, done: Completion, report: dict[str, Any]) -> bytes:
        """The held calls, then message_delta (stop reason, usage, report) and message_stop."""
        out = self._release_held()
        if not self.blocks:
            out += self.text("")
        out += self._close()
        delta = {"stop_reason": stop_reason(done), "stop_sequence": None}
        usage = usage_json(done.usage)
        out += self._event("message_delta", delta=delta, usage=usage, promptpress=report)
        return out + self._event("message_stop")

    def error(self, failure: HttpFailure, request_id: str) -> bytes:
        """A failure after the stream started, as the API's `error` event."""
        return sse.frame(anthropic_error(failure, request_id), event="error")
