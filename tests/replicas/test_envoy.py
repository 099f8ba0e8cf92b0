"""Envoy (deploy/envoy.yaml) in front of two real replicas on one real Valkey (the
light kind, without models; their keys file reloads on SIGHUP only):
calls spread over both, and SIGTERM to one replica in the middle of a bounded
stream of requests loses none (health goes NOT_SERVING while the replica keeps
serving for drain_period_s; Envoy's health check takes it out meanwhile)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
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
KILL_AFTER = 100  # SIGTERM replica A once this many calls have completed
AFTER_EXIT = 100  # and keep calling until this many more started after A exited
MAX_CALLS = 5000  # the bound, whatever happens
KEY = "key-a"
AUTH = (("authorization", f"Bearer {KEY}"),)
WORKERS = 4


@dataclass
class Front:
    envoy: Envoy
    a: Server
    b: Server
    keys: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.envoy.port}"


@pytest.fixture(scope="module")
def front(valkey_url: str) -> Iterator[Front]:
    with temp_log_dir() as log_dir:
        keys = log_dir / "keys"
        keys.write_text(f"{KEY} tenant-a\n")
        settings = {
            "load_models": False,
            "api_keys": str(keys),
            "api_keys_reload_s": 0,  # SIGHUP only: see test_sighup_reloads_the_keys
            "store_url": valkey_url,
            # Four of Envoy's health-check intervals (0.25 s below): long enough for
            # Envoy to see NOT_SERVING and stop sending before the replica stops.
            "drain_period_s": 1.0,
            "grace_period_s": 5.0,
        }
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
            yield Front(envoy, a, b, keys)
        finally:
            stop_all(*(p for p in (envoy, a, b) if p is not None))


def test_rendered_config_lists_every_replica() -> None:
    text = envoy_renderer().render(["10.0.0.1:50051", "[::1]:50052"], health_interval="2s")
    assert "address: 10.0.0.1, port_value: 50051" in text
    assert "address: ::1, port_value: 50052" in text
    assert "interval: 2s" in text and "${" not in text


def served_rpcs(server: Server) -> int:
    return server.log_tail(10**9).count('"rpc": "CountTokens"')


def settled_rpcs(front: Front, quiet_s: float = 0.5, limit_s: float = 15.0) -> tuple[int, int]:
    """Both replicas' CountTokens log lines, once no new one has appeared for `quiet_s`.
    A server writes its log lines from a writer thread every 50 ms (server/logs.py),
    so a count read right after the last answer can still miss the newest lines."""
    last = (served_rpcs(front.a), served_rpcs(front.b))
    quiet_since = time.monotonic()
    give_up = quiet_since + limit_s
    while time.monotonic() < give_up:
        time.sleep(0.1)
        now = (served_rpcs(front.a), served_rpcs(front.b))
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            break
    return last


def test_envoy_spreads_calls_over_both_replicas(front: Front) -> None:
    from promptpress import Client
    from promptpress.v1 import promptpress_pb2 as pb

    before = settled_rpcs(front)
    with Client(front.address, api_key=KEY, timeout=10) as client:
        for _ in range(20):
            assert client.count_tokens(pb.CountTokensRequest(texts=["hi there"])).total > 0
    after = settled_rpcs(front)
    assert after[0] > before[0] and after[1] > before[1]
    assert sum(after) - sum(before) == 20


def test_sigterm_one_replica_mid_stream_loses_no_request(front: Front) -> None:
    from promptpress.v1 import promptpress_pb2 as pb
    from promptpress.v1 import promptpress_pb2_grpc as pb_grpc

    # A bare channel without client-side retries: every failure Envoy lets through counts.
    channel = grpc.insecure_channel(front.address, options=[("grpc.enable_retries", 0)])
    stub = pb_grpc.PromptPressServiceStub(channel)
    request = pb.CountTokensRequest(texts=["the same workload, again and again"])
    a_before, b_before = settled_rpcs(front)
    lock = threading.Lock()
    started = done = after_exit = 0
    outcomes: Counter[str] = Counter()
    killed, a_exited = threading.Event(), threading.Event()

    def watch_a() -> None:
        killed.wait(60)
        front.a.wait(60)
        a_exited.set()

    def worker() -> None:
        nonlocal started, done, after_exit
        while True:
            with lock:
                if started >= MAX_CALLS or after_exit >= AFTER_EXIT:
                    return
                started += 1
                after_exit += a_exited.is_set()
            try:
                stub.CountTokens(request, timeout=10, metadata=AUTH)
                outcome = "OK"
            except grpc.RpcError as err:
                outcome = f"{err.code().name}: {err.details()}"
            with lock:
                outcomes[outcome] += 1
                done += 1
                if done == KILL_AFTER:
                    front.a.signal(signal.SIGTERM)
                    killed.set()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    threads.append(threading.Thread(target=watch_a))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    channel.close()
    assert killed.is_set() and a_exited.is_set(), front.a.log_tail()
    assert after_exit == AFTER_EXIT  # the stream outlived replica A
    assert outcomes == Counter({"OK": started}), (outcomes, front.envoy.log_tail())
    assert front.a.wait(1) == 0, front.a.log_tail()
    a_served, b_served = settled_rpcs(front)
    assert a_served > a_before and b_served > b_before  # both took part in the stream
    assert (a_served - a_before) + (b_served - b_before) == started  # each answered once
    assert front.envoy.healthy_hosts(CLUSTER) == {front.b.address}


def test_sighup_reloads_the_keys_and_a_bad_file_keeps_them(front: Front) -> None:
    """On a replica that does not poll its keys file (api_keys_reload_s = 0)."""
    from promptpress import Client, PromptPressRpcError
    from promptpress.v1 import promptpress_pb2 as pb

    def status(key: str) -> grpc.StatusCode:
        with Client(front.b.address, api_key=key, timeout=5) as client:
            try:
                client.count_tokens(pb.CountTokensRequest(texts=["hi"]))
            except PromptPressRpcError as err:
                return err.code
        return grpc.StatusCode.OK

    def replace(text: str) -> None:
        tmp = front.keys.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, front.keys)

    def eventually(check: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + 10
        while not check() and time.monotonic() < deadline:
            time.sleep(0.1)
        return check()

    replace("key-c tenant-c\n")
    time.sleep(0.5)  # no polling: nothing changes without the signal
    assert status("key-c") == grpc.StatusCode.UNAUTHENTICATED
    front.b.signal(signal.SIGHUP)
    assert eventually(lambda: status("key-c") == grpc.StatusCode.OK), front.b.log_tail()
    assert status(KEY) == grpc.StatusCode.UNAUTHENTICATED

    replace("key-c tenant-c\nkey-d\n")  # malformed: a key without a tenant
    front.b.signal(signal.SIGHUP)
    assert eventually(lambda: "api keys file rejected" in front.b.log_tail())
    assert status("key-c") == grpc.StatusCode.OK and front.b.alive()
