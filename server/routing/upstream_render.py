"""What to send upstream: one request body per wire protocol.

A tier plan can fail over from an OpenAI-compatible upstream to an Anthropic one,
so a request carries a body for each kind it may be sent as. The bodies normally
come from cachekeys' provider layout (which places cache breakpoints); the
forwarder only overwrites ``model`` and ``stream``. `UpstreamRequest.from_messages`
renders minimal bodies straight from core Messages for callers without a layout;
unlike cachekeys' renderers it keeps every system message in a plain ``system``
string, keeps message order, and tolerates tool-call arguments that are not JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptpress.errors import FailedPrecondition
from promptpress.server.routing.tiers import UpstreamKind
from promptpress.types import Message, Role, Sampling

DEFAULT_MAX_OUTPUT_TOKENS = 1024  # Anthropic requires max_tokens; used when none is given
_NO_SAMPLING = Sampling()


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """Provider bodies without ``model``/``stream``; None: cannot be sent to that kind."""

    openai: Mapping[str, Any] | None = None
    anthropic: Mapping[str, Any] | None = None

    def body_for(self, kind: UpstreamKind) -> Mapping[str, Any]:
        body = self.openai if kind is UpstreamKind.OPENAI else self.anthropic
        if body is None:
            raise FailedPrecondition(f"no {kind.value} request body for this request")
        return body

    def supports(self, kind: UpstreamKind) -> bool:
        return (self.openai if kind is UpstreamKind.OPENAI else self.anthropic) is not None

    @classmethod
    def from_messages(
        cls, messages: Sequence[Message], sampling: Sampling = _NO_SAMPLING
    ) -> UpstreamRequest:
        return cls(
            openai=render_openai(messages, sampling),
            anthropic=render_anthropic(messages, sampling),
        )


def render_openai(messages: Sequence[Message], sampling: Sampling = _NO_SAMPLING) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role.value, "content": m.content}
        if m.name:
            item["name"] = m.name
        if m.tool_call_id:
            item["tool_call_id"] = m.tool_call_id
        if m.tool_calls:
            item["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_json or "{}"},
                }
                for c in m.tool_calls
            ]
        out.append(item)
    body: dict[str, Any] = {"messages": out}
    _sampling(body, sampling, max_key="max_tokens")
    return body


def render_anthropic(
    messages: Sequence[Message], sampling: Sampling = _NO_SAMPLING
) -> dict[str, Any]:
    system = "\n\n".join(m.content for m in messages if m.role is Role.SYSTEM)
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role is Role.SYSTEM:
            continue
        role = "assistant" if m.role is Role.ASSISTANT else "user"
        blocks = _anthropic_blocks(m)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # the API wants alternating roles
        else:
            turns.append({"role": role, "content": blocks})
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    _sampling(body, sampling, max_key="max_tokens")
    body.setdefault("max_tokens", DEFAULT_MAX_OUTPUT_TOKENS)
    body.pop("seed", None)  # not part of the Messages API
    if "stop" in body:
        body["stop_sequences"] = body.pop("stop")
    return body


def _anthropic_blocks(m: Message) -> list[dict[str, Any]]:
    if m.role is Role.TOOL:
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}]
    blocks: list[dict[str, Any]] = []
    if m.content:
        blocks.append({"type": "text", "text": m.content})
    for c in m.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": c.id,
                "name": c.name,
                "input": _json_or_empty(c.arguments_json),
            }
        )
    return blocks or [{"type": "text", "text": ""}]


def _json_or_empty(text: str) -> Any:
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def _sampling(body: dict[str, Any], s: Sampling, *, max_key: str) -> None:
    if s.temperature is not None:
        body["temperature"] = s.temperature
    if s.top_p is not None:
        body["top_p"] = s.top_p
    if s.max_output_tokens:
        body[max_key] = s.max_output_tokens
    if s.seed is not None:
        body["seed"] = s.seed
    if s.stop:
        body["stop"] = list(s.stop)
