"""LMDB cache of compression results, keyed by (tenant, content hash, model, settings).

A document chunk or an old history turn is compressed once, ever: later
requests with the same content and settings read the stored bytes back. Keys
are namespaced by tenant (a cache hit must not reveal another tenant's text).
Each put is one write transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lmdb

log = logging.getLogger(__name__)

# Bump when the compression algorithm changes its output for the same input.
ALGORITHM_VERSION = "pp-compress-1"


@dataclass(frozen=True, slots=True)
class CachedCompression:
    text: str
    original_tokens: int
    compressed_tokens: int
    method: str
    encoding: str


def cache_key(tenant: str, text: str, model_id: str, settings: dict[str, Any]) -> bytes:
    """A fixed-size key: tenant digest, then the digest of content, model and settings."""
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
    tenant_part = hashlib.sha256(tenant.encode("utf-8")).digest()[:16]
    return tenant_part + hashlib.sha256(material.encode("utf-8")).digest()


class CompressionCache:
    """One LMDB environment, opened once and shared by all threads."""

    def __init__(self, path: Path, *, map_size: int = 1 << 30) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self._env = lmdb.open(str(path), map_size=map_size, subdir=True, max_dbs=0, metasync=False)

    def get(self, key: bytes) -> CachedCompression | None:
        with self._env.begin(buffers=False) as txn:
            raw = txn.get(key)
        if raw is None:
            return None
        return CachedCompression(**json.loads(raw))

    def put(self, key: bytes, value: CachedCompression) -> bool:
        """Store value; False (and a warning) if the map is full: caching is best-effort."""
        data = json.dumps(asdict(value), separators=(",", ":")).encode("utf-8")
        try:
            with self._env.begin(write=True) as txn:
                txn.put(key, data)
        except lmdb.MapFullError:
            log.warning("compression cache %s is full; result not cached", self.path)
            return False
        return True

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> CompressionCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
