"""End to end through a real server on 127.0.0.1:0 and the real client."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from promptpress import PromptPressRpcError
from promptpress.tokens import counter_for
from promptpress.v1 import promptpress_pb2 as pb


async def test_health_serving(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for service in ("", "promptpress.v1.PromptPressService"):
            resp = await stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_service(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)

        async def requests():  # type: ignore[no-untyped-def]
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        names = []
        async for resp in stub.ServerReflectionInfo(requests()):
            names = [s.name for s in resp.list_services_response.service]
        assert "promptpress.v1.PromptPressService" in names


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4", "gpt-3.5-turbo"])
async def test_count_tokens_exact(client, model: str) -> None:  # type: ignore[no-untyped-def]
    texts = ["hello world", "Ünïcödé 🚀 and code: def f(x): return x**2", ""]
    resp = await client.count_tokens(
        pb.CountTokensRequest(
            texts=texts, model=model, messages=[pb.Message(role=pb.ROLE_USER, content="hi")]
        )
    )
    enc = counter_for(model).encoding
    assert list(resp.counts) == [len(enc.encode(t)) for t in texts]
    # 3 per message + role + content, + 3 reply priming (OpenAI cookbook).
    assert resp.messages_tokens == 3 + len(enc.encode("user")) + len(enc.encode("hi")) + 3
    assert resp.total == sum(resp.counts) + resp.messages_tokens
    assert resp.encoding == counter_for(model).encoding_name
    assert not resp.approximate


async def test_count_tokens_other_provider_is_flagged_approximate(client) -> None:  # type: ignore[no-untyped-def]
    resp = await client.count_tokens(
        pb.CountTokensRequest(texts=["hello there"], model="claude-sonnet-4-5")
    )
    assert resp.approximate and resp.encoding == "cl100k_base"


def conversation(turns: int) -> list[pb.Message]:
    msgs = [pb.Message(role=pb.ROLE_SYSTEM, content="You are a careful assistant.")]
    for t in range(turns):
        msgs.append(pb.Message(role=pb.ROLE_USER, content=f"Question {t}: " + "details " * 120))
        msgs.append(
            pb.Message(role=pb.ROLE_ASSISTANT, content=f"Answer {t}: " + "reasoning " * 150)
        )
    msgs.append(pb.Message(role=pb.ROLE_USER, content="And finally?"))
    return msgs


async def test_preprocess_trims_long_conversation(client) -> None:  # type: ignore[no-untyped-def]
    req = pb.PreprocessRequest(
        messages=conversation(30),
        target=pb.Target(provider="openai", model="gpt-4o"),
        budget=pb.Budget(max_history_tokens=3000),
    )
    resp = await client.preprocess(req)
    assert resp.stats.original_tokens > 8000
    assert 0 < resp.stats.final_tokens <= 3000
    assert resp.stats.dropped_messages > 0
    assert resp.messages[0].role == pb.ROLE_SYSTEM
    assert resp.messages[-1].content == "And finally?"
    assert resp.stats.encoding == "o200k_base"
    assert "total" in resp.stats.stage_ms
    assert resp.provider_body.startswith("{")


async def test_preprocess_prefix_stable_across_turns(client) -> None:  # type: ignore[no-untyped-def]
    budget = pb.Budget(max_history_tokens=4000)
    first = await client.preprocess(pb.PreprocessRequest(messages=conversation(20), budget=budget))
    nxt = [
        *conversation(20)[:-1],
        pb.Message(role=pb.ROLE_USER, content="Question 20: " + "details " * 120),
        pb.Message(role=pb.ROLE_ASSISTANT, content="Answer 20: " + "reasoning " * 150),
        pb.Message(role=pb.ROLE_USER, content="One more?"),
    ]
    second = await client.preprocess(pb.PreprocessRequest(messages=nxt, budget=budget))
    # Same first kept messages: the provider's cached prefix survives the new turn.
    shared = len(first.messages) - 1
    assert [m.content for m in second.messages[:shared]] == [
        m.content for m in first.messages[:shared]
    ]


BAD_REQUESTS = [
    (
        pb.PreprocessRequest(
            messages=[
                pb.Message(role=pb.ROLE_USER, content="q"),
                pb.Message(
                    role=pb.ROLE_ASSISTANT,
                    tool_calls=[pb.ToolCall(id="c1", name="f", arguments_json="{not json")],
                ),
                pb.Message(role=pb.ROLE_TOOL, content="1", tool_call_id="c1"),
                pb.Message(role=pb.ROLE_USER, content="and?"),
            ]
        ),
        "messages[1].tool_calls[0].arguments_json",
    ),
    (pb.PreprocessRequest(), "messages"),
    (
        pb.PreprocessRequest(messages=[pb.Message(role=pb.ROLE_UNSPECIFIED, content="x")]),
        "messages[0].role",
    ),
    (pb.PreprocessRequest(messages=[pb.Message(role=17, content="x")]), "messages[0].role"),
    (
        pb.PreprocessRequest(
            messages=[pb.Message(role=pb.ROLE_USER, content="x")],
            budget=pb.Budget(max_history_tokens=-5),
        ),
        "budget.max_history_tokens",
    ),
    (
        pb.PreprocessRequest(
            messages=[pb.Message(role=pb.ROLE_USER, content="x")],
            budget=pb.Budget(compression_rate=1.5),
        ),
        "budget.compression_rate",
    ),
    (
        pb.PreprocessRequest(
            messages=[pb.Message(role=pb.ROLE_USER, content="x")],
            budget=pb.Budget(compression_rate=-0.1),
        ),
        "budget.compression_rate",
    ),
    (
        pb.PreprocessRequest(
            messages=[pb.Message(role=pb.ROLE_USER, content="x")],
            documents=[pb.Document(id="a", text="t"), pb.Document(id="a", text="u")],
        ),
        "documents[1].id",
    ),
    (
        pb.PreprocessRequest(
            messages=[pb.Message(role=pb.ROLE_USER, content="x" * (1024 * 1024 + 1))]
        ),
        "messages[0].content",
    ),
    (
        pb.PreprocessRequest(
            messages=[
                pb.Message(role=pb.ROLE_TOOL, content="42"),
                pb.Message(role=pb.ROLE_USER, content="q"),
            ]
        ),
        "messages[0].tool_call_id",
    ),
    (
        pb.PreprocessRequest(
            messages=[
                pb.Message(
                    role=pb.ROLE_USER, content="abc", protected_spans=[pb.ByteSpan(start=1, end=9)]
                )
            ]
        ),
        "messages[0].protected_spans[0]",
    ),
]


@pytest.mark.parametrize(("request_", "field"), BAD_REQUESTS)
async def test_bad_preprocess_names_field(
    client, request_: pb.PreprocessRequest, field: str
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptPressRpcError) as err:
        await client.preprocess(request_)
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert field in [v.field for v in err.value.violations], err.value.violations
    assert "Traceback" not in err.value.details


async def test_bad_request_details_readable_with_grpc_status(address: str) -> None:
    """Other-language clients read google.rpc.BadRequest from the standard trailer."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    from promptpress.v1 import promptpress_pb2_grpc as pb_grpc

    async with grpc.aio.insecure_channel(address) as ch:
        stub = pb_grpc.PromptPressServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Preprocess(pb.PreprocessRequest())
    status = rpc_status.from_call(err.value)  # type: ignore[arg-type]
    assert status is not None and status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert bad.field_violations[0].field == "messages"


async def test_count_tokens_limits(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptPressRpcError) as err:
        await client.count_tokens(pb.CountTokensRequest(texts=["a"] * 1001))
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.violations[0].field == "texts"
