"""The semantic response cache: entries on a Store, a numpy matrix per context in memory.

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
candidates that are then scored exactly. Buckets load lazily from the store
and are dropped least-recently-used when more than `max_resident_vectors`
are held. Every store is one atomic commit (entry, indexes, eviction and
buffered LRU touches together; see store.py, which owns the persistence).
Entries expire after their TTL; each tenant holds at most
`max_entries_per_tenant` (oldest or least recently used go first). Several
processes may share one store: each lookup checks the bucket's version (one
read, together with the exact key) and a resident bucket another writer
changed catches up from the bucket's change log.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from promptpress.cachekeys.keys import normalize_query
from promptpress.cachekeys.semantic_cache.guards import Features, compare, features
from promptpress.cachekeys.semantic_cache.index import Bucket
from promptpress.cachekeys.semantic_cache.store import Entry, SemanticStore
from promptpress.cachekeys.semantic_cache.verification import (
    CALIBRATION_KEY,
    MAX_SERVED,
    BadHitReport,
    best_verified,
    calibration_after_report,
    served_kind,
)
from promptpress.cachekeys.semantic_cache.verifier import TenantCalibration, Verifier
from promptpress.storage import Store
from promptpress.types import TextEmbedder

__all__ = ["CacheHit", "Entry", "SemanticCache", "query_vector", "unit_vector"]


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
    score: float | None = None  # the verifier's same-answer score (semantic hits it checked)


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
        store: Store | str | os.PathLike[str],
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
        verifier: Verifier | None = None,
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
        self._owns_store = isinstance(store, (str, os.PathLike))
        if isinstance(store, (str, os.PathLike)):  # a path: the embedded LMDB store
            from promptpress.storage.lmdb_store import LmdbStore

            store = LmdbStore(store, map_size=map_size, durable=durable)
        self.storage = SemanticStore(store, dim=dim)
        self._buckets: OrderedDict[tuple[str, str], Bucket] = OrderedDict()
        self._touches: dict[str, dict[bytes, float]] = {}  # tenant -> entry id -> last hit
        self._lock = threading.RLock()
        # With a verifier, `threshold` is ignored: candidates come from the verifier's
        # (lower) prefilter cosine and are served only if the verifier accepts them.
        self.verifier = verifier
        self._calibration: dict[str, TenantCalibration] = {}
        self._calibration_dirty: set[str] = set()
        self._served: OrderedDict[tuple[str, str], tuple[bytes, float | None]] = OrderedDict()

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
        if sum(len(t) for t in self._touches.values()) > 10_000:
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
        q = unit_vector(query_vec, self.dim) if query_vec is not None else None
        exact_eid, version = self.storage.probe(tenant, context_fingerprint, exact_key)
        ids: list[bytes] = []
        sims: list[float] = []
        if q is not None:
            bucket = self._bucket(tenant, context_fingerprint, version)
            limit = self.threshold if threshold is None else threshold
            if self.verifier is not None and threshold is None:
                limit = self.verifier.prefilter
            with self._lock:
                rows, sims = bucket.search(q, limit, now, self.exact_scan_limit, self.prefilter_k)
                ids = [bucket.ids[r] for r in rows[: self.max_guard_checks]]
        if exact_eid is None and not ids:
            return None
        wanted = ([exact_eid] if exact_eid is not None else []) + ids
        records = dict(zip(wanted, self.storage.records(tenant, wanted), strict=True))
        if exact_eid is not None:
            record = self._live(records[exact_eid], tenant, now)
            if record is not None and record["exact"] == exact_key:
                self._touch(tenant, exact_eid, now)
                hit = self._hit(exact_eid, "exact", exact_key, 1.0, record)
                self._remember_served(tenant, hit)
                return hit
        if self.verifier is not None:
            cut = self.calibration(tenant).threshold(
                self.verifier.threshold, self.verifier.max_false_hit_rate
            )
            live = [
                (eid, sim, self._live(records[eid], tenant, now))
                for eid, sim in zip(ids, sims, strict=False)
            ]
            best = best_verified(self.verifier, cut, context_fingerprint, query_text, live)
            if best is None:
                return None
            self._touch(tenant, best.entry_id, now)
            record = best.record
            hit = self._hit(
                best.entry_id, "semantic", record["sem"], best.similarity, record, score=best.score
            )
            self._remember_served(tenant, hit)
            return hit
        query_features: Features | None = None
        for eid, sim in zip(ids, sims, strict=False):
            record = self._live(records[eid], tenant, now)
            if record is None or record["ctx"] != context_fingerprint:
                continue
            if self.guards:
                query_features = query_features or features(query_text)
                if not compare(query_features, features(record["q"])).ok:
                    continue
            self._touch(tenant, eid, now)
            return self._hit(eid, "semantic", record["sem"], min(1.0, float(sim)), record)
        return None

    @staticmethod
    def _live(record: dict | None, tenant: str, now: float) -> dict | None:
        # The tenant is stored in full and re-checked: an answer must never cross
        # tenants, whatever the store's key layout.
        if record is None or record["tenant"] != tenant or record["expires"] <= now:
            return None
        return record

    @staticmethod
    def _hit(
        eid: bytes,
        kind: Literal["exact", "semantic"],
        key: str,
        sim: float,
        record: dict,
        score: float | None = None,
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
            score=score,
        )

    def _touch(self, tenant: str, eid: bytes, now: float) -> None:
        if self.eviction == "lru":
            with self._lock:
                self._touches.setdefault(tenant, {})[eid] = now

    # --- buckets in memory ------------------------------------------------------

    def _bucket(self, tenant: str, context: str, version: int) -> Bucket:
        """The bucket in memory at `version` (or newer). A resident copy that is
        older (another writer: thread or replica) catches up from the bucket's
        change log; it is loaded whole only when not resident or too far behind."""
        key = (tenant, context)
        for _ in range(3):
            with self._lock:
                bucket = self._buckets.get(key)
                if bucket is not None:
                    self._buckets.move_to_end(key)
                    if bucket.version >= version:
                        return bucket
                    since = bucket.version
            if bucket is None:
                break
            delta = self.storage.changes(tenant, context, since)
            if delta is None:
                break
            with self._lock:
                if bucket.version == since:  # nobody applied these meanwhile
                    for eid in delta.removed:
                        bucket.remove(eid)
                    for eid, expires, vec in delta.added:
                        bucket.add(eid, vec, expires)
                    bucket.version = delta.version
        bucket = self._load_bucket(tenant, context)
        with self._lock:
            resident = self._buckets.get(key)
            if resident is not None and resident.version >= bucket.version:
                return resident  # a newer copy was installed meanwhile
            self._buckets[key] = bucket
            self._buckets.move_to_end(key)
            self._shrink_resident()
        return bucket

    def _load_bucket(self, tenant: str, context: str) -> Bucket:
        version, rows = self.storage.load_bucket(tenant, context)
        bucket = Bucket(self.dim)
        for eid, expires, vec in rows:
            bucket.add(eid, vec, expires)
        bucket.version = version
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
        """Stores one answer; returns its entry id. One atomic commit."""
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
        """Stores several answers for one tenant in a single atomic commit."""
        vecs = [unit_vector(e.query_vec, self.dim) for e in entries]
        if self.verifier is not None:  # embeds new words now, not in a later lookup
            self.verifier.warm([e.query_text for e in entries])
        now = self._clock()
        with self._lock:
            touches = self._touches.pop(tenant, {})
        try:
            written = self.storage.write(
                tenant,
                entries,
                vecs,
                now=now,
                default_ttl_s=self.ttl_s,
                max_entries=self.max_entries,
                touches=touches,
            )
        except BaseException:
            with self._lock:  # nothing was written: keep the touches for next time
                self._touches[tenant] = {**touches, **self._touches.get(tenant, {})}
            raise
        with self._lock:
            self._apply_to_buckets(tenant, written.added, written.removed, written.versions)
        return [eid.hex() for _, eid, _, _ in written.added]

    def _apply_to_buckets(
        self,
        tenant: str,
        added: Sequence[tuple[str, bytes, np.ndarray, float]],
        removed: Sequence[tuple[str, bytes]],
        versions: Mapping[str, tuple[int, int]],
    ) -> None:
        """Our own commit, applied to resident buckets that were exactly one step behind;
        others are dropped (the next lookup reloads them)."""
        for ctx, (before, after) in versions.items():
            bucket = self._buckets.get((tenant, ctx))
            if bucket is None:
                continue
            if bucket.version != before:
                del self._buckets[(tenant, ctx)]
                continue
            bucket.version = after
        for ctx, eid in removed:
            if (bucket := self._buckets.get((tenant, ctx))) is not None:
                bucket.remove(eid)
        for ctx, eid, vec, expires in added:
            if (bucket := self._buckets.get((tenant, ctx))) is not None:
                bucket.add(eid, vec, expires)

    def flush(self) -> None:
        """Writes buffered LRU touches (store does this too, in its commit) and the
        served-hit counts of the tenants' calibrations."""
        with self._lock:
            touches, self._touches = self._touches, {}
            dirty, self._calibration_dirty = self._calibration_dirty, set()
            calibrations = {t: self._calibration[t] for t in dirty if t in self._calibration}
        for tenant, by_entry in touches.items():
            self.storage.touch(tenant, by_entry)
        for tenant, calibration in calibrations.items():
            self.storage.put_meta(tenant, CALIBRATION_KEY, calibration.to_json())

    # --- verification feedback -------------------------------------------------

    def calibration(self, tenant: str) -> TenantCalibration:
        """The tenant's served/reported hit histogram (read from the store once)."""
        with self._lock:
            found = self._calibration.get(tenant)
        if found is not None:
            return found
        loaded = TenantCalibration.from_json(self.storage.get_meta(tenant, CALIBRATION_KEY))
        with self._lock:
            return self._calibration.setdefault(tenant, loaded)

    def tenant_threshold(self, tenant: str) -> float | None:
        """The verifier threshold this tenant's lookups use now (None without a verifier)."""
        if self.verifier is None:
            return None
        return self.calibration(tenant).threshold(
            self.verifier.threshold, self.verifier.max_false_hit_rate
        )

    def _remember_served(self, tenant: str, hit: CacheHit) -> None:
        """So a report can find the entry and the score it was served at."""
        with self._lock:
            self._served[(tenant, hit.key)] = (bytes.fromhex(hit.entry_id), hit.score)
            while len(self._served) > MAX_SERVED:
                self._served.popitem(last=False)
        if hit.score is not None:
            calibration = self.calibration(tenant)
            with self._lock:
                calibration.served[TenantCalibration.bin_of(hit.score)] += 1
                self._calibration_dirty.add(tenant)

    def report_bad_hit(self, tenant: str, key: str) -> BadHitReport:
        """Marks the answer served under `key` (a response's matched key) as wrong:
        the entry is deleted at once and, for a semantic hit, the tenant's
        calibration counts the report. One atomic commit."""
        with self._lock:
            served = self._served.pop((tenant, key), None)
        eids = [served[0]] if served else self.storage.find(tenant, key)
        records = self.storage.records(tenant, eids)
        semantic, score = served_kind(served, records, key)
        meta: dict[bytes, bytes] = {}
        calibration: TenantCalibration | None = None
        if self.verifier is not None and semantic and any(r is not None for r in records):
            calibration = calibration_after_report(self.calibration(tenant), self.verifier, score)
            meta[CALIBRATION_KEY] = calibration.to_json()
        written = self.storage.delete(tenant, eids, meta)
        with self._lock:
            self._apply_to_buckets(tenant, [], written.removed, written.versions)
            if calibration is not None:  # committed: now the lookups use it
                self._calibration[tenant] = calibration
                self._calibration_dirty.discard(tenant)
        kind = ("semantic" if semantic else "exact") if written.removed else ""
        return BadHitReport(len(written.removed), kind, score, self.tenant_threshold(tenant))

    # --- housekeeping -----------------------------------------------------------

    def count(self, tenant: str) -> int:
        return self.storage.count(tenant)

    def clear_tenant(self, tenant: str) -> int:
        """Deletes every entry of a tenant; returns how many. One atomic commit."""
        n = self.storage.clear_tenant(tenant)
        with self._lock:
            self._calibration.pop(tenant, None)
            self._calibration_dirty.discard(tenant)
            self._served = OrderedDict((k, v) for k, v in self._served.items() if k[0] != tenant)
            for key in [k for k in self._buckets if k[0] == tenant]:
                del self._buckets[key]
            self._touches.pop(tenant, None)
        return n

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._owns_store:
                self.storage.store.close()

    def __enter__(self) -> SemanticCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
