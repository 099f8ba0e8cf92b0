"""The provider request body for a laid-out prompt, in the provider's own format.

One small renderer per wire format, chosen by lookup on the profile's
``format``: OpenAI Chat Completions (also DeepSeek, Mistral, Qwen and the
generic profile, with ``prompt_cache_key`` where the provider takes it),
Anthropic Messages (``cache_control`` on the block that ends each
breakpoint's prefix), Gemini ``generateContent`` and Bedrock Converse
(``cachePoint`` blocks). The model goes into the body where the format has a
field for it (Gemini and Bedrock take it in the URL). Bodies are serialised
canonically, so the same request always gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptpress.cachekeys.breakpoints import Breakpoint
from promptpress.cachekeys.controls import CONTROLS
from promptpress.cachekeys.layout import PromptLayout, canonical_json, canonical_json_text
from promptpress.cachekeys.profiles import ResolvedTarget
from promptpress.errors import InvalidInput
from promptpress.types import Message, ResponseFormat, Role, Sampling, Tool, ToolChoice

_NO_SAMPLING = Sampling()

_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def _json_value(text: str, field_path: str) -> Any:
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidInput.single(field_path, "is not valid JSON") from None


def _schema(tool: Tool, i: int) -> Any:
    return _json_value(tool.parameters_json, f"tools[{i}].parameters_json") or _EMPTY_SCHEMA


@dataclass(slots=True)
class _Block:
    kind: str  # "text" | "tool_use" | "tool_result"
    text: str = ""
    id: str = ""
    name: str = ""
    args: Any = None
    cache: bool = False


@dataclass(slots=True)
class _Turns:
    """The prompt as a leading system block list plus alternating user/assistant turns."""

    system: list[_Block] = field(default_factory=list)
    turns: list[tuple[str, list[_Block]]] = field(default_factory=list)


def _blocks(m: Message, index: int, tool_names: dict[str, str]) -> list[_Block]:
    if m.role is Role.TOOL:
        name = m.name or tool_names.get(m.tool_call_id, "")
        return [_Block("tool_result", text=m.content, id=m.tool_call_id, name=name)]
    text = m.content if m.role is not Role.SYSTEM else f"[system]\n{m.content}"
    out = [_Block("text", text=text)] if m.content else []
    for j, call in enumerate(m.tool_calls):
        tool_names[call.id] = call.name
        args = _json_value(call.arguments_json, f"messages[{index}].tool_calls[{j}].arguments_json")
        out.append(_Block("tool_use", id=call.id, name=call.name, args=args))
    return out


def _turns(layout: PromptLayout, breakpoints: Sequence[Breakpoint]) -> _Turns:
    marks = {b.message_index for b in breakpoints}
    out = _Turns()
    tool_names: dict[str, str] = {}
    leading = layout.static_end
    last_block: _Block | None = None
    for i, m in enumerate(layout.messages):
        if i <= leading:
            out.system.append(_Block("text", text=m.content))
            last_block = out.system[-1]
        else:
            blocks = _blocks(m, i, tool_names)
            role = "assistant" if m.role is Role.ASSISTANT else "user"
            if blocks and out.turns and out.turns[-1][0] == role:
                out.turns[-1][1].extend(blocks)  # these APIs want alternating roles
            elif blocks:
                out.turns.append((role, blocks))
            last_block = blocks[-1] if blocks else last_block
        if i in marks and last_block is not None:
            # An empty message adds no block: the previous block ends the same prefix.
            last_block.cache = True
    return out


def _set_sampling(body: dict[str, Any], s: Sampling, names: dict[str, str]) -> None:
    values = {
        "temperature": s.temperature,
        "top_p": s.top_p,
        "max_tokens": s.max_output_tokens or None,
        "seed": s.seed,
        "stop": list(s.stop) or None,
    }
    for key, value in values.items():
        if value is not None and names.get(key):
            body[names[key]] = value


def render_openai(
    target: ResolvedTarget,
    layout: PromptLayout,
    sampling: Sampling,
    breakpoints: Sequence[Breakpoint],
    prompt_cache_key: str,
) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for m in layout.messages:
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
                    "function": {
                        "name": c.name,
                        "arguments": canonical_json_text(c.arguments_json) or "{}",
                    },
                }
                for c in m.tool_calls
            ]
        messages.append(item)
    body: dict[str, Any] = {"model": target.model, "messages": messages}
    if layout.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": _schema(t, i),
                },
            }
            for i, t in enumerate(layout.tools)
        ]
    if target.profile.prompt_cache_key and prompt_cache_key:
        body["prompt_cache_key"] = prompt_cache_key
    p = target.profile
    names = {"temperature": "temperature", "top_p": "top_p", "stop": "stop"}
    _set_sampling(body, sampling, {**names, "max_tokens": p.max_tokens_field, "seed": p.seed_field})
    return body


def _cache_control(extended_ttl: bool) -> dict[str, str]:
    return {"type": "ephemeral", "ttl": "1h"} if extended_ttl else {"type": "ephemeral"}


def _anthropic_block(b: _Block, extended_ttl: bool) -> dict[str, Any]:
    if b.kind == "text":
        out: dict[str, Any] = {"type": "text", "text": b.text}
    elif b.kind == "tool_use":
        out = {"type": "tool_use", "id": b.id, "name": b.name, "input": b.args}
    else:
        out = {"type": "tool_result", "tool_use_id": b.id, "content": b.text}
    if b.cache:
        out["cache_control"] = _cache_control(extended_ttl)
    return out


def render_anthropic(
    target: ResolvedTarget,
    layout: PromptLayout,
    sampling: Sampling,
    breakpoints: Sequence[Breakpoint],
    prompt_cache_key: str,
    *,
    extended_ttl: bool = False,
) -> dict[str, Any]:
    t = _turns(layout, breakpoints if target.rules.explicit else ())
    body: dict[str, Any] = {
        "model": target.model,
        "messages": [
            {"role": role, "content": [_anthropic_block(b, extended_ttl) for b in blocks]}
            for role, blocks in t.turns
        ],
        "max_tokens": sampling.max_output_tokens
        or target.profile.default_max_output_tokens
        or 1024,
    }
    if t.system:
        body["system"] = [_anthropic_block(b, extended_ttl) for b in t.system]
    if layout.tools:
        body["tools"] = [
            {"name": tool.name, "description": tool.description, "input_schema": _schema(tool, i)}
            for i, tool in enumerate(layout.tools)
        ]
    names = {"temperature": "temperature", "top_p": "top_p", "stop": "stop_sequences"}
    _set_sampling(body, sampling, names)
    return body


def _gemini_part(b: _Block) -> dict[str, Any]:
    if b.kind == "text":
        return {"text": b.text}
    if b.kind == "tool_use":
        return {"functionCall": {"name": b.name, "args": b.args}}
    try:
        response = json.loads(b.text)
    except ValueError:
        response = None
    if not isinstance(response, dict):
        response = {"content": b.text}
    return {"functionResponse": {"name": b.name, "response": response}}


def render_gemini(
    target: ResolvedTarget,
    layout: PromptLayout,
    sampling: Sampling,
    breakpoints: Sequence[Breakpoint],
    prompt_cache_key: str,
) -> dict[str, Any]:
    t = _turns(layout, ())
    body: dict[str, Any] = {
        "contents": [
            {
                "role": "model" if role == "assistant" else "user",
                "parts": [_gemini_part(b) for b in blocks],
            }
            for role, blocks in t.turns
        ]
    }
    if t.system:
        body["systemInstruction"] = {"parts": [{"text": b.text} for b in t.system]}
    if layout.tools:
        decls = [
            {"name": tool.name, "description": tool.description, "parameters": _schema(tool, i)}
            for i, tool in enumerate(layout.tools)
        ]
        body["tools"] = [{"functionDeclarations": decls}]
    config: dict[str, Any] = {}
    names = {"temperature": "temperature", "top_p": "topP", "max_tokens": "maxOutputTokens"}
    _set_sampling(config, sampling, {**names, "seed": "seed", "stop": "stopSequences"})
    if config:
        body["generationConfig"] = config
    return body


_CACHE_POINT = {"cachePoint": {"type": "default"}}


def _bedrock_blocks(blocks: list[_Block]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for b in blocks:
        if b.kind == "text":
            out.append({"text": b.text})
        elif b.kind == "tool_use":
            out.append({"toolUse": {"toolUseId": b.id, "name": b.name, "input": b.args}})
        else:
            out.append({"toolResult": {"toolUseId": b.id, "content": [{"text": b.text}]}})
        if b.cache:
            out.append(dict(_CACHE_POINT))
    return out


def render_bedrock(
    target: ResolvedTarget,
    layout: PromptLayout,
    sampling: Sampling,
    breakpoints: Sequence[Breakpoint],
    prompt_cache_key: str,
) -> dict[str, Any]:
    t = _turns(layout, breakpoints if target.rules.explicit else ())
    body: dict[str, Any] = {
        "messages": [{"role": role, "content": _bedrock_blocks(blocks)} for role, blocks in t.turns]
    }
    if t.system:
        body["system"] = _bedrock_blocks(t.system)
    if layout.tools:
        specs = [
            {
                "toolSpec": {
                    "name": tool.name,
                    "description": tool.description,
                    "inputSchema": {"json": _schema(tool, i)},
                }
            }
            for i, tool in enumerate(layout.tools)
        ]
        body["toolConfig"] = {"tools": specs}
    config: dict[str, Any] = {}
    names = {"temperature": "temperature", "top_p": "topP", "max_tokens": "maxTokens"}
    _set_sampling(config, sampling, {**names, "stop": "stopSequences"})
    if config:
        body["inferenceConfig"] = config
    return body


Renderer = Callable[
    [ResolvedTarget, PromptLayout, Sampling, Sequence[Breakpoint], str], dict[str, Any]
]
RENDERERS: dict[str, Renderer] = {
    "openai_chat": render_openai,
    "anthropic_messages": render_anthropic,
    "gemini_generate": render_gemini,
    "bedrock_converse": render_bedrock,
}


def render_payload(
    target: ResolvedTarget,
    layout: PromptLayout,
    sampling: Sampling = _NO_SAMPLING,
    breakpoints: Sequence[Breakpoint] = (),
    prompt_cache_key: str = "",
    *,
    tool_choice: ToolChoice | None = None,
    response_format: ResponseFormat | None = None,
) -> dict[str, Any]:
    """The body as a dict, for callers that still change it (e.g. a forwarder)."""
    body = RENDERERS[target.format](target, layout, sampling, breakpoints, prompt_cache_key)
    if tool_choice is not None or response_format is not None:
        CONTROLS[target.format](body, tool_choice, response_format)
    return body


def render_provider_body(
    target: ResolvedTarget,
    layout: PromptLayout,
    sampling: Sampling = _NO_SAMPLING,
    breakpoints: Sequence[Breakpoint] = (),
    prompt_cache_key: str = "",
    *,
    tool_choice: ToolChoice | None = None,
    response_format: ResponseFormat | None = None,
) -> str:
    """The body as canonical JSON text (what PreprocessResponse.provider_body carries)."""
    return canonical_json(
        render_payload(
            target,
            layout,
            sampling,
            breakpoints,
            prompt_cache_key,
            tool_choice=tool_choice,
            response_format=response_format,
        )
    )
