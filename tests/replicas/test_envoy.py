"""Envoy (deploy/envoy.yaml) in front of two real replicas on one real Valkey."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from promptpress.bench.cluster import envoy_renderer
from tests.procs import (
    Envoy,
    Server,
    free_port,
    render_envoy,
    start_envoy,
    start_server,
    stop_all,
    temp_log_dir,
)

CLUSTER = "promptpress"
TOTAL = 400  # requests in the stream
KILL_AFTER = 100  # SIGTERM replica A once this many have completed
WORKERS = 4


@dataclass
class Front:
    envoy: Envoy
    a: Server
    b: Server

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.envoy.port}"


@pytest.fixture(scope="module")
def front(valkey_url: str) -> Iterator[Front]:
    with temp_log_dir() as log_dir:
        settings = {"load_models": False, "store_url": valkey_url, "grace_period_s": 5.0}
        a = start_server(log_dir, settings=settings, name="a", wait=False)
        b = start_server(log_dir, settings=settings, name="b", wait=False)
        envoy = None
        try:
            a.wait_serving()
            b.wait_serving()
            port, admin = free_port(), free_port()
            config = render_envoy(
                [a.address, b.address], port=port, admin_port=admin, health_interval="0.25s"
            )
            envoy = start_envoy(config, log_dir, port=port, admin_port=admin)
            envoy.wait_healthy(CLUSTER, 2)
            yield Front(envoy, a, b)
        finally:
            stop_all(*(p for p in (envoy, a, b) if p is not None))


def test_rendered_config_lists_every_replica() -> None:
    text = envoy_renderer().render(["10.0.0.1:50051", "[::1]:50052"], health_interval="2s")
    assert "address: 10.0.0.1, port_value: 50051" in text
    assert "address: ::1, port_value: 50052" in text
    assert "interval: 2s" in text and "${" not in text


def served_rpcs(server: Server) -> int:
    return server.log_tail(10**9).count('"rpc": "CountTokens"')


def test_envoy_spreads_calls_over_both_replicas(front: Front) -> None:
    from promptpress import Client
    from promptpress.v1 import promptpress_pb2 as pb

    before = served_rpcs(front.a), served_rpcs(front.b)
    with Client(front.address, timeout=10) as client:
        for _ in range(20):
            assert client.count_tokens(pb.CountTokensRequest(texts=["hi there"])).total > 0
    after = served_rpcs(front.a), served_rpcs(front.b)
    assert after[0] > before[0] and after[1] > before[1]
    assert sum(after) - sum(before) == 20
