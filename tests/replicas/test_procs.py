"""The launchers in tests/procs.py start real processes that answer."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.procs import start_server, temp_log_dir


def test_valkey_fixture_is_a_real_store(valkey_url: str) -> None:
    import redis

    client = redis.Redis.from_url(valkey_url)
    try:
        assert client.ping()
        client.set("promptpress-test:procs", b"v", ex=30)
        assert client.get("promptpress-test:procs") == b"v"
    finally:
        client.close()


@pytest.fixture(scope="module")
def log_dir():  # type: ignore[no-untyped-def]
    with temp_log_dir() as path:
        yield path


def test_server_subprocess_serves_and_stops_on_sigterm(log_dir: Path) -> None:
    from promptpress import Client
    from promptpress.v1 import promptpress_pb2 as pb

    server = start_server(log_dir, settings={"load_models": False})
    try:
        with Client(server.address, timeout=10) as client:
            resp = client.count_tokens(pb.CountTokensRequest(texts=["hello world"], model="gpt-4o"))
        assert list(resp.counts) == [2]
        server.signal(signal.SIGTERM)
        assert server.wait(15) == 0, server.log_tail()
    finally:
        server.stop()
