"""`store`: the same behavioural tests against every back end: LMDB in a temp dir,
the session's real Valkey, and a one-node Valkey Redis Cluster (every key of a
tenant in one slot, Lua commits routed by key), each test with a key prefix of
its own."""

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

    url = request.getfixturevalue("valkey_cluster_url" if kind == "cluster" else "valkey_url")
    return RedisStore(url, prefix=f"test-{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["lmdb", "valkey", "cluster"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = make_store(request.param, tmp_path, request)
    yield s
    s.close()


class CountingStore:
    """A real store that counts the writes made through it (commit, cache_put)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.writes = 0
        self.fail_commit: BaseException | None = None

    @property
    def name(self) -> str:
        return self.inner.name

    def get(self, tenant, keys):  # type: ignore[no-untyped-def]
        return self.inner.get(tenant, keys)

    def items(self, tenant, space):  # type: ignore[no-untyped-def]
        return self.inner.items(tenant, space)

    def first(self, tenant, space, count, **kw):  # type: ignore[no-untyped-def]
        return self.inner.first(tenant, space, count, **kw)

    def commit(self, tenant, ops):  # type: ignore[no-untyped-def]
        if self.fail_commit is not None:
            raise self.fail_commit
        self.writes += 1
        return self.inner.commit(tenant, ops)

    def cache_get(self, tenant, space, keys):  # type: ignore[no-untyped-def]
        return self.inner.cache_get(tenant, space, keys)

    def cache_put(self, tenant, space, entries, **kw):  # type: ignore[no-untyped-def]
        self.writes += 1
        return self.inner.cache_put(tenant, space, entries, **kw)

    def close(self) -> None:
        self.inner.close()
