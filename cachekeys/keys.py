"""Cache keys, every one namespaced by tenant.

- ``exact_key``: the canonical request (tools, messages, provider, model and the
  sampling parameters that change the answer).
- ``prefix_hashes[i]``: the canonical prefix up to and including message i
  (tools first). Provider-independent, so a router can keep requests that share
  a prefix on one upstream.
- ``prompt_cache_key``: the conversation's anchor (tools, system, static
  documents and its first user message, volatile spans removed): the same on
  every turn of a conversation, different across conversations.
- ``context_fingerprint``: everything in the prompt except the final query
  (tool definitions, tool calls and tool results included), plus the tool
  choice and response format when set: an answer never crosses them.
- ``semantic_key``: the context fingerprint plus the id of the normalised
  query's embedding. The same question in another conversation, or over other
  documents, gets another key.

Every digest starts with a key kind and the length-prefixed tenant, so keys of
different tenants (or kinds) cannot collide short of a SHA-256 collision.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from json.encoder import encode_basestring

from promptpress.cachekeys.layout import (
    PromptLayout,
    Section,
    canonical_json,
    canonical_json_text,
)
from promptpress.types import Message, ResponseFormat, Sampling, ToolChoice

_NO_SAMPLING = Sampling()
# A section's name framed as _feed hashes it (length, then UTF-8).
_SECTION_FRAME = {s: len(b := s.value.encode("utf-8")).to_bytes(8, "big") + b for s in Section}

KEY_VERSION = "1"
_MARKER = re.compile(r"\[\[v\d+\]\]")


@dataclass(frozen=True, slots=True)
class CacheKeys:
    exact_key: str
    prompt_cache_key: str
    context_fingerprint: str
    semantic_key: str
    embedding_id: str
    prefix_hashes: tuple[str, ...]  # one per layout message


def _hasher(kind: str, tenant: str) -> hashlib._Hash:
    return _started(kind, tenant).copy()


@functools.lru_cache(maxsize=1024)
def _started(kind: str, tenant: str) -> hashlib._Hash:
    """The state after the kind and the tenant, hashed once (callers copy it)."""
    h = hashlib.sha256()
    _feed(h, f"promptpress/{KEY_VERSION}/{kind}")
    _feed(h, tenant)
    return h


def _feed(h: hashlib._Hash, text: str) -> None:
    _feed_utf8(h, text.encode("utf-8"))


def _feed_utf8(h: hashlib._Hash, data: bytes) -> None:
    """What _feed hashes, for text already encoded: 8-byte length, then the bytes."""
    h.update(len(data).to_bytes(8, "big"))
    h.update(data)


def normalize_query(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: what the query's embedding id hashes."""
    # is_normalized is a quick check that skips rebuilding text that is already NFKC
    # (most is); split() and the regex \s both split on str.isspace characters, so
    # joining the words with single spaces is the regex substitution plus strip().
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split()).casefold()


def sampling_spec(s: Sampling) -> dict[str, object]:
    """The answer-changing sampling parameters; floats at float32 precision
    (the API carries them as proto floats: 0.7 arrives as 0.699999988...)."""

    def f(x: float | None) -> str | None:
        return None if x is None else f"{x:.6g}"

    return {
        "max_output_tokens": s.max_output_tokens,
        "seed": s.seed,
        "stop": list(s.stop),
        "temperature": f(s.temperature),
        "top_p": f(s.top_p),
    }


@functools.lru_cache(maxsize=1024)
def _sampling_json(s: Sampling) -> str:
    """canonical_json(sampling_spec(s)), once per distinct Sampling (most requests share one)."""
    return canonical_json(sampling_spec(s))


def answer_spec(tool_choice: ToolChoice | None, response_format: ResponseFormat | None) -> str:
    """What besides the prompt shapes the answer; "" when neither is set (so requests
    without them keep the keys they always had)."""
    if tool_choice is None and response_format is None:
        return ""
    spec: dict[str, object] = {}
    if tool_choice is not None:
        tc = tool_choice
        spec["tool_choice"] = [tc.mode.value, tc.name, tc.disable_parallel_tool_calls]
    if response_format is not None:
        rf = response_format
        schema = canonical_json_text(rf.schema_json) if rf.schema_json else ""
        spec["response_format"] = [rf.type.value, rf.name, schema, rf.strict]
    return canonical_json(spec)


def prefix_hashes(tenant: str, layout: PromptLayout) -> tuple[str, ...]:
    h = _hasher("prefix", tenant)
    h.update(layout.tools_frame())
    out = []
    for frame in layout.message_frames():
        h.update(frame)
        out.append(h.copy().hexdigest()[:32])
    return tuple(out)


def exact_key(
    tenant: str,
    layout: PromptLayout,
    *,
    provider: str,
    model: str,
    sampling: Sampling,
    answer: str = "",
) -> str:
    h = _hasher("exact", tenant)
    for part in (provider.lower(), model, _sampling_json(sampling)):
        _feed(h, part)
    h.update(layout.tools_frame())
    if answer:
        _feed(h, answer)
    h.update(b"".join(layout.message_frames()))
    return h.hexdigest()


def _stable_text(m: Message) -> str:
    """Content without volatile spans or the placeholders the layout cut them to."""
    if not m.volatile_spans and "[[v" not in m.content:
        return m.content  # nothing to cut (the common case)
    raw = m.content.encode("utf-8")
    keep, pos = [], 0
    for s in sorted(m.volatile_spans, key=lambda s: s.start):
        keep.append(raw[pos : max(pos, s.start)])
        pos = max(pos, s.end)
    keep.append(raw[pos:])
    return _MARKER.sub("", b"".join(keep).decode("utf-8", errors="replace"))


def prompt_cache_key(tenant: str, layout: PromptLayout) -> str:
    h = _hasher("conversation", tenant)
    h.update(layout.tools_frame())
    h.update(b"".join(layout.message_frames()[: layout.static_end + 1]))
    anchors = layout.indices(Section.HISTORY, Section.QUERY)
    first_user = next((i for i in anchors if layout.messages[i].role.value == "user"), None)
    if first_user is not None:
        # Volatile spans stay in the query but are cut to placeholders in history:
        # drop both so turn 1 and turn 2 of a conversation share the key.
        anchor = layout.messages[first_user]
        # canonical_json([role, text, name]), written directly (three strings).
        parts = (anchor.role.value, _stable_text(anchor), anchor.name)
        _feed(h, "[" + ",".join(map(encode_basestring, parts)) + "]")
    return "pp1-" + h.hexdigest()[:32]


def context_fingerprint(
    tenant: str, layout: PromptLayout, *, include_volatile: bool = True, answer: str = ""
) -> str:
    """Everything but the final query (volatile values too, unless excluded:
    an answer may depend on the date a system prompt carries)."""
    h = _hasher("context", tenant)
    h.update(layout.tools_frame())
    if answer:
        _feed(h, answer)
    parts: list[bytes] = []
    for seg, frame in zip(layout.sections, layout.message_frames(), strict=True):
        if seg is Section.QUERY or (seg is Section.VOLATILE and not include_volatile):
            continue
        parts += (_SECTION_FRAME[seg], frame)
    h.update(b"".join(parts))
    return h.hexdigest()


def embedding_id(tenant: str, query_text: str, embedder_model_id: str) -> str:
    h = _hasher("embedding", tenant)
    _feed(h, embedder_model_id)
    _feed(h, normalize_query(query_text))
    return h.hexdigest()[:32]


def compute_keys(
    tenant: str,
    layout: PromptLayout,
    *,
    provider: str,
    model: str,
    sampling: Sampling = _NO_SAMPLING,
    query_text: str | None = None,
    embedder_model_id: str = "",
    include_volatile: bool = True,
    tool_choice: ToolChoice | None = None,
    response_format: ResponseFormat | None = None,
) -> CacheKeys:
    """All keys for one laid-out request. `query_text` defaults to the last user
    message; `embedder_model_id` names the model whose embedding the id stands for."""
    if query_text is None:
        q = layout.query_index
        query_text = layout.messages[q].content if q >= 0 else ""
    answer = answer_spec(tool_choice, response_format)
    ctx = context_fingerprint(tenant, layout, include_volatile=include_volatile, answer=answer)
    emb = embedding_id(tenant, query_text, embedder_model_id)
    return CacheKeys(
        exact_key=exact_key(
            tenant, layout, provider=provider, model=model, sampling=sampling, answer=answer
        ),
        prompt_cache_key=prompt_cache_key(tenant, layout),
        context_fingerprint=ctx,
        semantic_key=f"{ctx[:32]}.{emb}",
        embedding_id=emb,
        prefix_hashes=prefix_hashes(tenant, layout),
    )
