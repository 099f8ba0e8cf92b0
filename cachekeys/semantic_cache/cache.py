"""The semantic response cache: LMDB on disk, a numpy matrix per context in memory.

A stored answer is found again by an exact key (the same canonical request) or
semantically: same tenant, same context fingerprint (everything in the prompt
but the final query), cosine similarity of the query embeddings at or above a
threshold, and no guard objection (negation, numbers, dates, entities,
antonyms; see guards.py; ``guards=False`` turns them off, to measure what they
do). Context is part of the lookup, not a filter after
it: the same question in another conversation or over other documents is a
different bucket and can never be served.

Lookups scan one (tenant, context) bucket held in memory: an exact float32
matrix-vector product up to `exact_scan_limit` rows; beyond that, a
sign-bit (1 bit per dimension) Hamming prefilter picks `prefilter_k`
candidates that are then scored exactly. Buckets load lazily from LMDB and
are dropped least-recently-used when more than `max_resident_vectors` are
held. Every store is one LMDB write transaction (entry, indexes, eviction and
buffered LRU touches together). Entries expire after their TTL; each tenant
holds at most `max_entries_per_tenant` (oldest or least recently used go
first). One process should own a cache directory: other writers' entries are
seen only by buckets loaded after they were written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lmdb
import numpy as np

from promptpress.cachekeys.keys import normalize_query
from promptpress.cachekeys.semantic_cache.guards import Features, compare, features
from promptpress.cachekeys.semantic_cache.index import Bucket
from promptpress.types import TextEmbedder

_EXPIRES = struct.Struct(">d")
_DBS = (b"entries", b"byctx", b"exact", b"order", b"expiry", b"meta")


@dataclass(frozen=True, slots=True)
class CacheHit:
    entry_id: str
    kind: Literal["exact", "semantic"]
    key: str  # the stored entry's exact_key (exact hits) or semantic_key
    similarity: float
    response: str
    metadata: Mapping[str, str]
    query_text: str  # the stored query
    created_at: float


@dataclass(frozen=True, slots=True)
class Entry:
    """What `store` writes (one per call of `store_many`)."""

    context_fingerprint: str
    query_text: str
    query_vec: np.ndarray
    response: str
    exact_key: str = ""
    semantic_key: str = ""
    metadata: Mapping[str, str] | None = None
    ttl_s: float | None = None  # None: the cache's default; 0: never expires


def _h16(*parts: str) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        data = p.encode("utf-8")
        h.update(len(data).to_bytes(8, "big") + data)
    return h.digest()[:16]


def new_entry_id() -> bytes:
    return os.urandom(16)


def _ts(seconds: float) -> bytes:
    """A sortable key part: microseconds, big-endian (inf -> the largest value)."""
    micros = (1 << 63) - 1 if math.isinf(seconds) else max(0, int(seconds * 1e6))
    return micros.to_bytes(8, "big")


def unit_vector(vec: np.ndarray | Sequence[float], dim: int) -> np.ndarray:
    """A float32 L2-normalised copy; ValueError on a wrong shape, NaN or zero vector."""
    v = np.asarray(vec, dtype=np.float32).reshape(-1)
    if v.shape != (dim,):
        raise ValueError(f"query vector has {v.shape[0]} dimensions, the cache {dim}")
    norm = float(np.linalg.norm(v))
    if not math.isfinite(norm) or norm == 0.0:
        raise ValueError("query vector must be finite and non-zero")
    return v / norm


def query_vector(embedder: TextEmbedder, text: str) -> np.ndarray:
    """What the cache compares: the embedding of the normalised query, unit length."""
    return unit_vector(embedder.embed([normalize_query(text)])[0], embedder.dim)


class SemanticCache:
    """Responses by tenant, context fingerprint and query similarity (see module doc)."""

    def __init__(
        self,
        path: str | Path,
        *,
        dim: int = 384,
        threshold: float = 0.85,
        ttl_s: float = 86400.0,
        max_entries_per_tenant: int = 100_000,
        eviction: Literal["lru", "oldest"] = "lru",
        map_size: int = 8 << 30,
        max_resident_vectors: int = 2_000_000,
        exact_scan_limit: int = 4096,
        prefilter_k: int = 256,
        max_guard_checks: int = 8,
        durable: bool = True,
        guards: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if eviction not in ("lru", "oldest"):
            raise ValueError("eviction must be 'lru' or 'oldest'")
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.dim, self.threshold, self.ttl_s = dim, threshold, ttl_s
        self.max_entries, self.eviction = max_entries_per_tenant, eviction
        self.exact_scan_limit, self.prefilter_k = exact_scan_limit, prefilter_k
        self.max_guard_checks, self.max_resident = max_guard_checks, max_resident_vectors
        self._clock, self.guards = clock, guards
        Path(path).mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(
            str(path), map_size=map_size, max_dbs=len(_DBS), sync=durable, metasync=durable
        )
        self._db = {name.decode(): self._env.open_db(name) for name in _DBS}
        self._buckets: OrderedDict[bytes, Bucket] = OrderedDict()
        self._touches: dict[bytes, float] = {}  # entries key -> last hit time (LRU)
        self._generation: dict[bytes, int] = {}  # bucket key -> stores applied so far
        self._lock = threading.RLock()

    # --- keys -------------------------------------------------------------------

    @staticmethod
    def _tkey(tenant: str) -> bytes:
        return _h16("tenant", tenant)

    @staticmethod
    def _bucket_key(tkey: bytes, context_fingerprint: str) -> bytes:
        return tkey + _h16("context", context_fingerprint)

    # --- lookup -----------------------------------------------------------------

    def lookup(
        self,
        tenant: str,
        context_fingerprint: str,
        query_text: str,
        query_vec: np.ndarray | None,
        *,
        exact_key: str = "",
        threshold: float | None = None,
    ) -> CacheHit | None:
        """The best stored answer for this query in this context, or None."""
        hit = self._lookup(tenant, context_fingerprint, query_text, query_vec, exact_key, threshold)
        if len(self._touches) > 10_000:  # after the read transaction has ended
            self.flush()
        return hit

    def _lookup(
        self,
        tenant: str,
        context_fingerprint: str,
        query_text: str,
        query_vec: np.ndarray | None,
        exact_key: str,
        threshold: float | None,
    ) -> CacheHit | None:
        now = self._clock()
        tkey = self._tkey(tenant)
        q = unit_vector(query_vec, self.dim) if query_vec is not None else None
        bucket = (
            self._bucket(self._bucket_key(tkey, context_fingerprint)) if q is not None else None
        )
        with self._env.begin(db=self._db["entries"]) as txn:
            if exact_key:
                hit = self._exact(txn, tenant, tkey, exact_key, now)
                if hit is not None:
                    return hit
            if q is None or bucket is None:
                return None
            limit = self.threshold if threshold is None else threshold
            with self._lock:
                rows, sims = bucket.search(q, limit, now, self.exact_scan_limit, self.prefilter_k)
                ids = [bucket.ids[r] for r in rows[: self.max_guard_checks]]
            query_features: Features | None = None
            for eid, sim in zip(ids, sims, strict=False):
                record = self._record(txn, tkey + eid, tenant, now)
                if record is None or record["ctx"] != context_fingerprint:
                    continue
                if self.guards:
                    query_features = query_features or features(query_text)
                    if not compare(query_features, features(record["q"])).ok:
                        continue
                self._touch(tkey + eid, now)
                return self._hit(eid, "semantic", record["sem"], min(1.0, float(sim)), record)
        return None

    def _exact(
        self, txn: lmdb.Transaction, tenant: str, tkey: bytes, key: str, now: float
    ) -> CacheHit | None:
        found = txn.get(tkey + _h16("exact", key), db=self._db["exact"])
        if found is None:
            return None
        eid = bytes(found)
        record = self._record(txn, tkey + eid, tenant, now)
        if record is None or record["exact"] != key:
            return None
        self._touch(tkey + eid, now)
        return self._hit(eid, "exact", key, 1.0, record)

    def _record(self, txn: lmdb.Transaction, key: bytes, tenant: str, now: float) -> dict | None:
        raw = txn.get(key, db=self._db["entries"])
        if raw is None:
            return None
        record = json.loads(bytes(raw))
        # The tenant is stored in full and re-checked: a 128-bit prefix collision
        # between two tenants must still not leak an answer.
        if record["tenant"] != tenant or record["expires"] <= now:
            return None
        return record

    @staticmethod
    def _hit(
        eid: bytes, kind: Literal["exact", "semantic"], key: str, sim: float, record: dict
    ) -> CacheHit:
        return CacheHit(
            entry_id=eid.hex(),
            kind=kind,
            key=key,
            similarity=sim,
            response=record["resp"],
            metadata=record["meta"],
            query_text=record["q"],
            created_at=record["created"],
        )

    def _touch(self, entry_key: bytes, now: float) -> None:
        if self.eviction == "lru":
            with self._lock:
                self._touches[entry_key] = now

    # --- buckets in memory ------------------------------------------------------

    def _bucket(self, bkey: bytes) -> Bucket:
        """The bucket in memory, loaded from LMDB on first use. A store that commits
        while a bucket loads bumps its generation, and the load starts over."""
        while True:
            with self._lock:
                bucket = self._buckets.get(bkey)
                if bucket is not None:
                    self._buckets.move_to_end(bkey)
                    return bucket
                generation = self._generation.get(bkey, 0)
            bucket = self._load_bucket(bkey)
            with self._lock:
                if self._generation.get(bkey, 0) != generation:
                    continue
                self._buckets[bkey] = bucket
                self._shrink_resident()
                return bucket

    def _load_bucket(self, bkey: bytes) -> Bucket:
        bucket = Bucket(self.dim)
        with self._env.begin(db=self._db["byctx"]) as txn, txn.cursor() as cur:
            if cur.set_range(bkey):
                for key, value in cur:
                    if not bytes(key).startswith(bkey):
                        break
                    expires = _EXPIRES.unpack_from(value)[0]
                    vec = np.frombuffer(value, dtype=np.float32, offset=_EXPIRES.size)
                    bucket.add(bytes(key[len(bkey) :]), vec, expires)
        return bucket

    def _shrink_resident(self) -> None:
        resident = sum(b.size for b in self._buckets.values())
        while resident > self.max_resident and len(self._buckets) > 1:
            _, dropped = self._buckets.popitem(last=False)
            resident -= dropped.size

    # --- store ------------------------------------------------------------------

    def store(
        self,
        tenant: str,
        *,
        context_fingerprint: str,
        query_text: str,
        query_vec: np.ndarray,
        response: str,
        exact_key: str = "",
        semantic_key: str = "",
        metadata: Mapping[str, str] | None = None,
        ttl_s: float | None = None,
    ) -> str:
        """Stores one answer; returns its entry id. One write transaction."""
        entry = Entry(
            context_fingerprint,
            query_text,
            query_vec,
            response,
            exact_key,
            semantic_key,
            metadata,
            ttl_s,
        )
        return self.store_many(tenant, [entry])[0]

    def store_many(self, tenant: str, entries: Sequence[Entry]) -> list[str]:
        """Stores several answers for one tenant in a single write transaction."""
        vecs = [unit_vector(e.query_vec, self.dim) for e in entries]
        now = self._clock()
        tkey = self._tkey(tenant)
        with self._lock:
            touches, self._touches = self._touches, {}
        try:
            with self._env.begin(write=True) as txn:
                added, removed = write_entries(self, txn, tenant, tkey, entries, vecs, now, touches)
        except BaseException:
            with self._lock:  # nothing was written: keep the touches for next time
                self._touches = {**touches, **self._touches}
            raise
        with self._lock:
            self._apply_to_buckets(tkey, added, removed)
        return [eid.hex() for _, eid, _, _ in added]

    def _apply_to_buckets(
        self,
        tkey: bytes,
        added: Sequence[tuple[str, bytes, np.ndarray, float]],
        removed: Sequence[tuple[str, bytes]],
    ) -> None:
        for ctx, eid in removed:
            bkey = self._bucket_key(tkey, ctx)
            self._generation[bkey] = self._generation.get(bkey, 0) + 1
            if (bucket := self._buckets.get(bkey)) is not None:
                bucket.remove(eid)
        for ctx, eid, vec, expires in added:
            bkey = self._bucket_key(tkey, ctx)
            self._generation[bkey] = self._generation.get(bkey, 0) + 1
            if (bucket := self._buckets.get(bkey)) is not None:
                bucket.add(eid, vec, expires)

    def flush(self) -> None:
        """Writes buffered LRU touches (store does this too, in its transaction)."""
        with self._lock:
            touches, self._touches = self._touches, {}
        if touches:
            with self._env.begin(write=True) as txn:
                apply_touches(self, txn, touches)

    # --- housekeeping -----------------------------------------------------------

    def count(self, tenant: str) -> int:
        with self._env.begin(db=self._db["meta"]) as txn:
            raw = txn.get(self._tkey(tenant))
        return int.from_bytes(raw, "big") if raw else 0

    def clear_tenant(self, tenant: str) -> int:
        """Deletes every entry of a tenant; returns how many. One write transaction."""
        tkey = self._tkey(tenant)
        with self._env.begin(write=True) as txn:
            n = delete_tenant(self, txn, tkey)
        with self._lock:
            for bkey in [k for k in self._buckets if k.startswith(tkey)]:
                del self._buckets[bkey]
            self._touches = {k: v for k, v in self._touches.items() if not k.startswith(tkey)}
        return n

    def close(self) -> None:
        self.flush()
        self._env.close()

    def __enter__(self) -> SemanticCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# The LMDB write logic lives in semantic_store (imported last: it uses the helpers above).
from promptpress.cachekeys.semantic_cache.store import (  # noqa: E402
    apply_touches,
    delete_tenant,
    write_entries,
)
