"""Tool choice and structured output in each provider body format.

They do not touch the cacheable prefix, so they are laid over a rendered body
rather than threaded through every renderer: one small function per format,
chosen by lookup on the profile's ``format``.

- OpenAI Chat Completions: ``tool_choice`` ("auto" | "none" | "required" |
  a function), ``parallel_tool_calls``, ``response_format``.
- Anthropic Messages: ``tool_choice`` ({"type": auto|none|any|tool},
  ``disable_parallel_tool_use``), structured outputs in ``output_config.format``.
- Gemini: ``toolConfig.functionCallingConfig``, ``generationConfig.responseJsonSchema``.
- Bedrock Converse: ``toolConfig.toolChoice`` (no "none", no structured output).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from promptpress.errors import InvalidInput
from promptpress.types import ResponseFormat, ResponseFormatType, ToolChoice, ToolChoiceMode


def _response_schema(rf: ResponseFormat) -> Any:
    if rf.type is ResponseFormatType.JSON_OBJECT:
        return {"type": "object"}
    try:
        return json.loads(rf.schema_json)
    except ValueError:
        raise InvalidInput.single("response_format.schema_json", "is not valid JSON") from None


def _openai_controls(
    body: dict[str, Any], choice: ToolChoice | None, rf: ResponseFormat | None
) -> None:
    if choice is not None:
        if choice.mode is ToolChoiceMode.TOOL:
            body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        else:
            body["tool_choice"] = choice.mode.value
        if choice.disable_parallel_tool_calls and "tools" in body:
            body["parallel_tool_calls"] = False
    if rf is not None:
        if rf.type is ResponseFormatType.JSON_SCHEMA:
            spec = {"name": rf.name or "response", "schema": _response_schema(rf)}
            if rf.strict:
                spec["strict"] = True
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
        else:
            body["response_format"] = {"type": rf.type.value}


_ANTHROPIC_CHOICE = {
    ToolChoiceMode.AUTO: "auto",
    ToolChoiceMode.NONE: "none",
    ToolChoiceMode.REQUIRED: "any",
    ToolChoiceMode.TOOL: "tool",
}


def _anthropic_controls(
    body: dict[str, Any], choice: ToolChoice | None, rf: ResponseFormat | None
) -> None:
    if choice is not None:
        tc: dict[str, Any] = {"type": _ANTHROPIC_CHOICE[choice.mode]}
        if choice.mode is ToolChoiceMode.TOOL:
            tc["name"] = choice.name
        if choice.disable_parallel_tool_calls and choice.mode is not ToolChoiceMode.NONE:
            tc["disable_parallel_tool_use"] = True
        body["tool_choice"] = tc
    if rf is not None and rf.type is not ResponseFormatType.TEXT:
        # Anthropic's structured outputs: output_config.format (JSON object mode has no
        # equivalent of its own: it is a schema that admits any object).
        fmt = {"type": "json_schema", "schema": _response_schema(rf)}
        body["output_config"] = {"format": fmt}


_GEMINI_CHOICE = {
    ToolChoiceMode.AUTO: "AUTO",
    ToolChoiceMode.NONE: "NONE",
    ToolChoiceMode.REQUIRED: "ANY",
    ToolChoiceMode.TOOL: "ANY",
}


def _gemini_controls(
    body: dict[str, Any], choice: ToolChoice | None, rf: ResponseFormat | None
) -> None:
    if choice is not None:
        config: dict[str, Any] = {"mode": _GEMINI_CHOICE[choice.mode]}
        if choice.mode is ToolChoiceMode.TOOL:
            config["allowedFunctionNames"] = [choice.name]
        body["toolConfig"] = {"functionCallingConfig": config}
    if rf is not None and rf.type is not ResponseFormatType.TEXT:
        gen = body.setdefault("generationConfig", {})
        gen["responseMimeType"] = "application/json"
        gen["responseJsonSchema"] = _response_schema(rf)


def _bedrock_controls(
    body: dict[str, Any], choice: ToolChoice | None, rf: ResponseFormat | None
) -> None:
    # Converse has no "none" choice and no structured-output field: those are left out.
    if choice is not None and "toolConfig" in body and choice.mode is not ToolChoiceMode.NONE:
        if choice.mode is ToolChoiceMode.TOOL:
            body["toolConfig"]["toolChoice"] = {"tool": {"name": choice.name}}
        elif choice.mode is ToolChoiceMode.REQUIRED:
            body["toolConfig"]["toolChoice"] = {"any": {}}
        else:
            body["toolConfig"]["toolChoice"] = {"auto": {}}


Controls = Callable[[dict[str, Any], ToolChoice | None, ResponseFormat | None], None]
CONTROLS: dict[str, Controls] = {
    "openai_chat": _openai_controls,
    "anthropic_messages": _anthropic_controls,
    "gemini_generate": _gemini_controls,
    "bedrock_converse": _bedrock_controls,
}
