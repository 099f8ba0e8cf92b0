"""Two real servers on one real Valkey draw from the same per-tenant limits."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from tests.procs import Server, start_server, stop_all, temp_log_dir

KEYS = "key-rps tenant-rps\nkey-tpm tenant-tpm\nkey-free tenant-free\n"
TENANTS = {
    # A burst of one request, then one per 100 s: the second call anywhere is refused.
    "tenant-rps": {"requests_per_second": 0.01},
    # One token per second: a long Preprocess puts the bucket in debt for a while.
    "tenant-tpm": {"tokens_per_minute": 60},
}


@pytest.fixture(scope="module")
def pair(valkey_url: str) -> Iterator[tuple[Server, Server]]:
    with temp_log_dir() as log_dir:
        keys = log_dir / "keys"
        keys.write_text(KEYS)
        settings = {
            "load_models": False,
            "api_keys": str(keys),
            "store_url": valkey_url,
            "tenants": TENANTS,
        }
        a = start_server(log_dir, settings=settings, name="a", wait=False)
        b = start_server(log_dir, settings=settings, name="b", wait=False)
        try:
            yield a.wait_serving(), b.wait_serving()
        finally:
            stop_all(a, b)


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


def test_requests_per_second_is_one_budget_across_replicas(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    assert preprocess(a, "key-rps") == (grpc.StatusCode.OK, 0.0)
    code, delay = preprocess(b, "key-rps")
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (a.log_tail(), b.log_tail())
    assert 90 < delay <= 100
    # Another tenant is not affected, on either replica.
    assert preprocess(a, "key-free")[0] == grpc.StatusCode.OK
    assert preprocess(b, "key-free")[0] == grpc.StatusCode.OK


def test_tokens_charged_on_one_replica_limit_the_other(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    long_text = " ".join(["tokens"] * 200)  # ~200 input tokens: ~140 in debt at 60/min
    assert preprocess(b, "key-tpm", long_text)[0] == grpc.StatusCode.OK
    code, delay = preprocess(a, "key-tpm")
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert delay > 100


def test_store_holds_the_counters(pair, valkey_url: str) -> None:  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(valkey_url)
    try:
        assert client.exists("pp:{tenant-rps}:rl:requests")
    finally:
        client.close()
