"""`store`: the same behavioural tests against every back end (LMDB in a temp dir,
and the session's real Valkey with a key prefix of its own per test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptpress.storage import Store


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if kind == "lmdb":
        from promptpress.storage.lmdb_store import LmdbStore

        return LmdbStore(tmp_path / "store", map_size=64 << 20)
    from promptpress.storage.redis_store import RedisStore

    url = request.getfixturevalue("valkey_url")
    return RedisStore(url, prefix=f"test-{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["lmdb", "valkey"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = make_store(request.param, tmp_path, request)
    yield s
    s.close()
