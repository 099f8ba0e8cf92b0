"""Compress, and Preprocess with a compression rate, through the server (real SmolLM2)."""

from __future__ import annotations

import json

import grpc
import pytest

from promptpress import PromptPressRpcError
from promptpress.tokens import counter_for
from promptpress.v1 import promptpress_pb2 as pb

PASSAGE = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, "
    "a region in France. They were descended from Norse raiders and pirates from Denmark, Iceland "
    "and Norway who, under their leader Rollo, agreed to swear fealty to King Charles III of West "
    "Francia. Through generations of assimilation and mixing with the native Frankish and "
    "Roman-Gaulish populations, their descendants would gradually merge with the Carolingian-based "
    "cultures of West Francia. Order ord_8f3a2c91 ships from https://example.com/track?id=42 on "
    "2024-03-05; contact ops@example.com. "
) * 3


async def test_compress_meets_rate_and_keeps_structure(client) -> None:  # type: ignore[no-untyped-def]
    req = pb.CompressRequest(text=PASSAGE, rate=0.5, target=pb.Target(model="gpt-4o"))
    out = await client.compress(req)
    counter = counter_for("gpt-4o")
    assert out.original_tokens == counter.count(PASSAGE)
    assert out.compressed_tokens == counter.count(out.text)
    assert out.compressed_tokens <= out.original_tokens * 0.5 * 1.1
    assert out.ratio == pytest.approx(out.original_tokens / out.compressed_tokens)
    for keep in (
        "ord_8f3a2c91",
        "https://example.com/track?id=42",
        "2024-03-05",
        "ops@example.com",
    ):
        assert keep in out.text
    again = await client.compress(req)
    assert again.text == out.text and again.cached


async def test_compress_protected_span_survives(client) -> None:  # type: ignore[no-untyped-def]
    secret = "KEEP THIS EXACT SENTENCE, with its odd   spacing."
    text = PASSAGE + secret + " " + PASSAGE
    start = len((PASSAGE).encode())
    span = pb.ByteSpan(start=start, end=start + len(secret.encode()))
    out = await client.compress(pb.CompressRequest(text=text, rate=0.3, protected_spans=[span]))
    assert secret in out.text


async def test_compress_empty_and_one_megabyte(client) -> None:  # type: ignore[no-untyped-def]
    empty = await client.compress(pb.CompressRequest(text="", rate=0.5))
    assert empty.text == "" and empty.compressed_tokens == 0
    big = "x" * (1024 * 1024)  # within limits: must work, never expand
    # rate 1.0: accepted and returned whole without a model pass (a full SmolLM2 pass over
    # ~130k tokens takes minutes on 2 cores; tests/compressor covers 1 MB with a fast scorer).
    out = await client.compress(pb.CompressRequest(text=big, rate=1.0), timeout=120)
    assert out.compressed_tokens <= out.original_tokens


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.CompressRequest(text="abc", rate=1.5), "rate"),
        (pb.CompressRequest(text="abc", rate=-0.2), "rate"),
        (pb.CompressRequest(text="abc", target_tokens=-3), "target_tokens"),
        (pb.CompressRequest(text="abc", method=99), "method"),
        (
            pb.CompressRequest(text="abc", protected_spans=[pb.ByteSpan(start=2, end=10)]),
            "protected_spans[0]",
        ),
        (pb.CompressRequest(text="x" * (8 * 1024 * 1024 + 1)), "text"),
    ],
)
async def test_compress_bad_input_names_field(client, request_, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptPressRpcError) as err:
        await client.compress(request_, timeout=120)
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert field in [v.field for v in err.value.violations]


async def test_llmlingua2_without_model_is_failed_precondition(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptPressRpcError) as err:
        await client.compress(
            pb.CompressRequest(text=PASSAGE, method=pb.COMPRESSION_METHOD_LLMLINGUA2)
        )
    assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION


def chat(turns: int, question: str) -> list[pb.Message]:
    msgs = [pb.Message(role=pb.ROLE_SYSTEM, content="You are a historian. Answer precisely.")]
    for t in range(turns):
        msgs.append(pb.Message(role=pb.ROLE_USER, content=f"Tell me more, part {t}."))
        msgs.append(pb.Message(role=pb.ROLE_ASSISTANT, content=PASSAGE))
    msgs.append(pb.Message(role=pb.ROLE_USER, content=question))
    return msgs


async def test_preprocess_compression_is_cache_stable_across_turns(client) -> None:  # type: ignore[no-untyped-def]
    budget = pb.Budget(compression_rate=0.5)
    q1 = "Who was the Norman leader?"
    first = await client.preprocess(pb.PreprocessRequest(messages=chat(2, q1), budget=budget))
    assert first.stats.final_tokens < first.stats.original_tokens * 0.8
    assert "compress" in first.stats.stage_ms
    # The system prompt and the question are never compressed.
    assert first.messages[0].content == "You are a historian. Answer precisely."
    assert first.messages[-1].content == q1
    # Next turn: the earlier (compressed) history is byte-identical, so the provider's
    # prompt cache still hits on it.
    nxt = [
        *chat(2, q1)[:-1],
        pb.Message(role=pb.ROLE_USER, content=q1),
        pb.Message(role=pb.ROLE_ASSISTANT, content="Rollo."),
        pb.Message(role=pb.ROLE_USER, content="When did they swear fealty?"),
    ]
    second = await client.preprocess(pb.PreprocessRequest(messages=nxt, budget=budget))
    shared = len(first.messages) - 1
    assert [m.content for m in second.messages[:shared]] == [
        m.content for m in first.messages[:shared]
    ]
    body = json.loads(second.provider_body)
    assert body["messages"][-1]["content"] == "When did they swear fealty?"
