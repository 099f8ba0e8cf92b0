"""Cache of compression results on a Store, keyed by (tenant, content hash, model, settings).

A document chunk or an old history turn is compressed once, ever: later
requests with the same content and settings read the stored bytes back,
whichever replica computed them when the store is shared. Entries live in the
tenant's namespace (a cache hit must not reveal another tenant's text), expire
after `ttl_s` and are capped at `max_entries` per tenant (oldest first).

The cache is best effort: a store that cannot be reached or is full counts as
a miss and the result is simply not cached (a warning, at most every few
seconds), so Compress keeps working while the store is away.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from typing import Any

from promptpress.storage import Store, StoreFull, StoreUnavailable, warn_throttled

log = logging.getLogger(__name__)

# Bump when the compression algorithm changes its output for the same input.
ALGORITHM_VERSION = "pp-compress-1"
SPACE = "compression"


@dataclass(frozen=True, slots=True)
class CachedCompression:
    text: str
    original_tokens: int
    compressed_tokens: int
    method: str
    encoding: str


def cache_key(text: str, model_id: str, settings: dict[str, Any]) -> bytes:
    """A fixed-size key: the digest of content, model and settings (the tenant is the
    store's namespace, not part of the key)."""
    material = json.dumps(
        {
            "v": ALGORITHM_VERSION,
            "text": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
            "model": model_id,
            "settings": settings,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode("utf-8")).digest()


class CompressionCache:
    """Compression results on a Store (or an LMDB store opened at a path)."""

    def __init__(
        self,
        store: Store | str | os.PathLike[str],
        *,
        ttl_s: float = 30 * 86400.0,
        max_entries: int = 200_000,
        map_size: int = 1 << 30,
    ) -> None:
        self._owns_store = isinstance(store, (str, os.PathLike))
        if isinstance(store, (str, os.PathLike)):
            from promptpress.storage.lmdb_store import LmdbStore

            store = LmdbStore(store, map_size=map_size, durable=False)
        self.store: Store = store
        self.ttl_s, self.max_entries = ttl_s, max_entries

    @property
    def path(self) -> str:
        return self.store.name

    def get(self, tenant: str, key: bytes) -> CachedCompression | None:
        try:
            (raw,) = self.store.cache_get(tenant, SPACE, [key])
        except StoreUnavailable as exc:
            warn_throttled(log, "compression cache treated as a miss: %s", exc)
            return None
        if raw is None:
            return None
        return CachedCompression(**json.loads(raw))

    def put(self, tenant: str, key: bytes, value: CachedCompression) -> bool:
        """Store value; False (and a warning) if the store is away or full."""
        data = json.dumps(asdict(value), separators=(",", ":")).encode("utf-8")
        try:
            self.store.cache_put(
                tenant, SPACE, {key: data}, ttl_s=self.ttl_s, max_entries=self.max_entries
            )
        except (StoreUnavailable, StoreFull) as exc:
            warn_throttled(log, "compression result not cached: %s", exc)
            return False
        return True

    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> CompressionCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
