"""The session's Valkey (tests/procs.py via tests/conftest.py) is a real store.
The server and Envoy launchers are exercised by every other test in this folder."""

from __future__ import annotations


def test_valkey_fixture_is_a_real_store(valkey_url: str) -> None:
    import redis

    client = redis.Redis.from_url(valkey_url)
    try:
        assert client.ping()
        client.set("promptpress-test:procs", b"v", ex=30)
        assert client.get("promptpress-test:procs") == b"v"
    finally:
        client.close()
