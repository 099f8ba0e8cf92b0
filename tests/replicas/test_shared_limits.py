"""Two real servers on one real Valkey draw from the same per-tenant limits
(the tenants and their limits are in tests/replicas/conftest.py)."""

from __future__ import annotations

import grpc

from tests.procs import Server
from tests.replicas.conftest import TENANT_RPS, Pair


def preprocess(server: Server, key: str, text: str = "hello") -> tuple[grpc.StatusCode, float]:
    """(status code, RetryInfo delay in seconds or 0)."""
    from promptpress import Client, PromptPressRpcError
    from promptpress.v1 import promptpress_pb2 as pb

    request = pb.PreprocessRequest(
        messages=[pb.Message(role=pb.ROLE_USER, content=text)], target=pb.Target(model="gpt-4o")
    )
    with Client(server.address, api_key=key, timeout=10) as client:
        try:
            client.preprocess(request)
        except PromptPressRpcError as err:
            return err.code, err.retry_delay_s or 0.0
    return grpc.StatusCode.OK, 0.0


def test_requests_per_second_is_one_budget_across_replicas(pair: Pair) -> None:
    a, b = pair.a, pair.b
    assert preprocess(a, "key-rps") == (grpc.StatusCode.OK, 0.0)
    code, delay = preprocess(b, "key-rps")
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (a.log_tail(), b.log_tail())
    assert 90 < delay <= 100
    # Another tenant is not affected, on either replica.
    assert preprocess(a, "key-free")[0] == grpc.StatusCode.OK
    assert preprocess(b, "key-free")[0] == grpc.StatusCode.OK


def test_tokens_charged_on_one_replica_limit_the_other(pair: Pair) -> None:
    a, b = pair.a, pair.b
    long_text = " ".join(["tokens"] * 200)  # ~200 input tokens: ~140 in debt at 60/min
    assert preprocess(b, "key-tpm", long_text)[0] == grpc.StatusCode.OK
    code, delay = preprocess(a, "key-tpm")
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert delay > 100


def test_spend_on_one_replica_closes_the_day_on_the_other(pair: Pair) -> None:
    from promptpress import Client
    from promptpress.v1 import promptpress_pb2 as pb
    from tests.routing.fake_upstream import JSONReply, openai_completion

    pair.upstream.script(JSONReply(openai_completion("ok", prompt_tokens=20)))
    ask = pb.PreprocessRequest(
        messages=[pb.Message(role=pb.ROLE_USER, content="Spend a little, please.")],
        target=pb.Target(provider="openai", model="gpt-4o-mini"),
    )
    with Client(pair.a.address, api_key="key-spend", timeout=60) as client:
        answer = client.complete(pb.CompleteRequest(request=ask))
    assert answer.cost_usd > 0.000001
    code, delay = preprocess(pair.b, "key-spend")
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 0 < delay <= 86400  # until the next UTC day


def test_store_holds_the_counters(pair: Pair, valkey_url: str) -> None:
    import redis

    client = redis.Redis.from_url(valkey_url)
    try:
        assert client.exists("pp:{" + TENANT_RPS + "}:rl:requests")
    finally:
        client.close()
