"""Pick a back end from `store_url`: empty -> LMDB in the data directory."""

from __future__ import annotations

from pathlib import Path

from promptpress.storage import Store
from promptpress.storage.lmdb_store import DEFAULT_MAP_SIZE

REDIS_SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster", "unix")


def open_store(url: str, *, data_dir: Path, map_size: int = DEFAULT_MAP_SIZE) -> Store:
    """`url`: "" (LMDB under data_dir/store), ``lmdb:///path``, or a Redis/Valkey URL
    (``redis://``, ``rediss://`` for TLS, ``?cluster=true`` for Redis Cluster)."""
    if not url:
        from promptpress.storage.lmdb_store import LmdbStore

        return LmdbStore(Path(data_dir) / "store", map_size=map_size)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "lmdb":
        from promptpress.storage.lmdb_store import LmdbStore

        return LmdbStore(Path(url.split("://", 1)[1]), map_size=map_size)
    if scheme in REDIS_SCHEMES:
        from promptpress.storage.redis_store import RedisStore

        return RedisStore(url)
    raise ValueError(
        f"store_url must be empty, lmdb:///path or redis[s]://host:port/db; got scheme {scheme!r}"
    )
