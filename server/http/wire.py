"""The HTTP edge's one bridge to the pipeline: a parsed wire request -> CompletionInput.

Each API module (openai_api, anthropic_api) turns its JSON into a `WireRequest`:
the request in the gRPC API's terms (a `pb.PreprocessRequest`), so both doors
share the gRPC API's validation and size limits (promptpress.server.convert) and
the stages never see HTTP types. Violations found there are renamed back to the
caller's own JSON paths (``messages[3].content``, ``max_tokens``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptpress.errors import FieldViolation, InvalidInput
from promptpress.server import convert
from promptpress.server.completion import CompletionInput
from promptpress.server.http.models import ModelChoice
from promptpress.server.http.options import HttpOptions
from promptpress.v1 import promptpress_pb2 as pb

_MESSAGE_PATH = re.compile(r"^messages\[(\d+)\](.*)$")
# Fields set from the promptpress settings (options.py), by their proto path.
_OPTION_PATHS = {
    "budget": "promptpress",
    "document_ids": "promptpress.document_ids",
    "query": "promptpress.query",
    "compression_method": "promptpress.compression_method",
    "placement": "promptpress.placement",
}
_METHODS = {m.value: pb_value for m, pb_value in convert.METHOD_TO_PB.items()}
_PLACEMENTS = {
    "edges": pb.PLACEMENT_EDGES,
    "score": pb.PLACEMENT_SCORE,
    "source": pb.PLACEMENT_SOURCE,
}


@dataclass(frozen=True)
class WireRequest:
    """What an HTTP caller asked for, in the gRPC API's terms."""

    model: object  # as sent; checked by models.resolve_model
    request: pb.PreprocessRequest  # messages, tools, sampling
    stream: bool = False
    include_usage: bool = False  # OpenAI's stream_options.include_usage
    # The caller's JSON path of each pb message (several may come from one wire message).
    message_paths: Sequence[str] = ()
    # proto field path -> the caller's JSON path, for the other fields.
    field_paths: Mapping[str, str] = field(default_factory=dict)


def json_object(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, else InvalidInput."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput.single("", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInput.single("", "the body must be a JSON object")
    return body


def wire_path(path: str, wire: WireRequest) -> str:
    match = _MESSAGE_PATH.match(path)
    if match:
        index, rest = int(match.group(1)), match.group(2)
        if index < len(wire.message_paths):
            return wire.message_paths[index] + rest.replace(
                ".arguments_json", ".function.arguments"
            )
    for proto_path, caller_path in [*wire.field_paths.items(), *_OPTION_PATHS.items()]:
        if path == proto_path or path.startswith((proto_path + ".", proto_path + "[")):
            return caller_path + path[len(proto_path) :]
    return path


def renamed(err: InvalidInput, wire: WireRequest) -> InvalidInput:
    """`err` with every field path in the caller's JSON terms."""
    return InvalidInput(
        FieldViolation(wire_path(v.field, wire), v.description) for v in err.violations
    )


def completion_input(
    wire: WireRequest,
    options: HttpOptions,
    choice: ModelChoice,
    *,
    tenant: str,
    limits: convert.RequestLimits,
) -> CompletionInput:
    """Validated, tenant-scoped input for Completer.complete / .stream."""
    req = pb.PreprocessRequest()
    req.CopyFrom(wire.request)
    req.target.CopyFrom(pb.Target(provider=choice.target.provider, model=choice.target.model))
    req.budget.CopyFrom(
        pb.Budget(
            max_prompt_tokens=options.max_prompt_tokens,
            max_history_tokens=options.max_history_tokens,
            max_context_tokens=options.max_context_tokens,
            compression_rate=options.compression_rate,
        )
    )
    req.document_ids.extend(options.document_ids)
    req.query = options.query
    if options.compression_method:
        req.compression_method = _METHODS[options.compression_method]
    if options.placement:
        req.placement = _PLACEMENTS[options.placement]
    try:
        inp = convert.preprocess_from_proto(req, tenant, limits)
    except InvalidInput as exc:
        raise renamed(exc, wire) from None
    return CompletionInput(request=inp, tier=choice.tier, skip_cache=options.skip_cache)


# --- small checked readers shared by the API modules -------------------------------


def number(value: Any, path: str, v: convert.Violations, *, integer: bool = False) -> Any:
    """`value` if it is a JSON number (an integer when asked), else a violation and None."""
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if value is None or isinstance(value, bool) or not ok:
        if value is not None:
            v.add(path, "must be an integer" if integer else "must be a number")
        return None
    return value


def strings(value: Any, path: str, v: convert.Violations) -> list[str]:
    """A string or an array of strings (stop sequences), as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return list(value)
    v.add(path, "must be a string or an array of strings")
    return []


INT32_MAX = 2**31 - 1  # Sampling.max_output_tokens is an int32 on the wire


def sampling(
    v: convert.Violations,
    *,
    temperature: Any,
    top_p: Any,
    max_tokens: Any,
    max_tokens_path: str,
    seed: Any = None,
    stop: Any = None,
    stop_path: str = "stop",
) -> pb.Sampling:
    s = pb.Sampling(stop=strings(stop, stop_path, v))
    if (t := number(temperature, "temperature", v)) is not None:
        s.temperature = float(t)
    if (p := number(top_p, "top_p", v)) is not None:
        s.top_p = float(p)
    if (m := number(max_tokens, max_tokens_path, v, integer=True)) is not None:
        if not 0 < m <= INT32_MAX:
            v.add(max_tokens_path, f"must be between 1 and {INT32_MAX}")
        else:
            s.max_output_tokens = m
    if (n := number(seed, "seed", v, integer=True)) is not None:
        if not -(2**63) <= n < 2**63:
            v.add("seed", "must fit in 64 bits")
        else:
            s.seed = n
    return s


def tool(name: Any, description: Any, schema: Any, path: str, v: convert.Violations) -> pb.Tool:
    if not isinstance(name, str) or not name:
        v.add(f"{path}.name", "must be a non-empty string")
        name = ""
    if description is not None and not isinstance(description, str):
        v.add(f"{path}.description", "must be a string")
        description = ""
    if schema is not None and not isinstance(schema, dict):
        v.add(path, "the parameter schema must be a JSON object")
        schema = None
    return pb.Tool(
        name=name,
        description=description or "",
        parameters_json=json.dumps(schema, separators=(",", ":")) if schema else "",
    )
