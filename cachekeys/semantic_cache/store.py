"""The semantic cache's persistence on a Store: what a lookup reads, what a store writes.

`SemanticStore` owns the data; `SemanticCache` (cache.py) holds buckets in
memory and does the matching, and calls only the public methods here.

Spaces (namespaced by tenant by the Store; ``C`` is the 16-byte hash of a
context fingerprint, in hex in space names):

- ``sc:e``       map: entry id -> JSON record (tenant, context, query, response, ...)
- ``sc:b:<C>``   map: entry id -> expiry (float64) + query vector (float32): one bucket
- ``sc:bv``      map: C -> bucket version (one step per row added to or removed from it)
- ``sc:log:<C>``  sorted set: "+eid" / "-eid" by the version that change made (the
                 last LOG_KEEP versions): how a reader catches up without reloading
- ``sc:x``       map: hash of an exact key -> entry id
- ``sc:order``   sorted set: entry id by creation or last hit time (eviction order)
- ``sc:expiry``  sorted set: entry id by expiry time (expired entries are purged first)
- ``sc:meta``    map: ``count`` -> entries of the tenant; ``calibration`` -> the
  verifier's per-tenant calibration (verification.py)

Every store is one atomic commit (new entries, their indexes, what it evicts
or purges, buffered LRU touches), conditional on the records it read: a
concurrent writer (another thread or replica) makes it start over. A lookup
reads the bucket's version (and the exact key) in one round trip; when the
version moved (another writer), the log since the resident copy's version
and the new rows' vectors are read (two round trips, whatever the bucket's
size; a full reload only when the log no longer reaches back); then the
candidate records in one more round trip: never one read per entry.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from promptpress.storage import (
    Conflict,
    Delete,
    Drop,
    Expect,
    Incr,
    Op,
    Put,
    Store,
    StoreUnavailable,
    ZAdd,
    ZRem,
    ZTrim,
)

PURGE_PER_WRITE = 256  # expired entries removed per store, so no write is unbounded
LOG_KEEP = 4096  # bucket changes kept for readers catching up
RETRIES = 8
EXPIRES = struct.Struct(">d")
ENTRIES, VERSIONS, EXACT, ORDER, EXPIRY, META = (
    "sc:e",
    "sc:bv",
    "sc:x",
    "sc:order",
    "sc:expiry",
    "sc:meta",
)

Row = tuple[bytes, float, np.ndarray]  # (entry id, expires, vector)
Added = tuple[str, bytes, np.ndarray, float]  # (context, eid, vector, expires)
Removed = tuple[str, bytes]  # (context, eid)


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


@dataclass(frozen=True, slots=True)
class Changes:
    """A bucket's changes after some version: rows to add, entry ids to remove."""

    version: int
    added: list[Row]
    removed: list[bytes]


@dataclass(frozen=True, slots=True)
class Written:
    added: list[Added]
    removed: list[Removed]
    versions: dict[str, tuple[int, int]]  # context -> (version before, after)


def h16(*parts: str) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        data = p.encode("utf-8")
        h.update(len(data).to_bytes(8, "big") + data)
    return h.digest()[:16]


def new_entry_id() -> bytes:
    return os.urandom(16)


def bucket_space(context_fingerprint: str) -> str:
    return "sc:b:" + h16("context", context_fingerprint).hex()


def log_space(context_fingerprint: str) -> str:
    return "sc:log:" + h16("context", context_fingerprint).hex()


class SemanticStore:
    """Reads and atomic writes of semantic-cache entries on a Store."""

    def __init__(self, store: Store, *, dim: int) -> None:
        self.store = store
        self.dim = dim

    # --- reads ------------------------------------------------------------------

    def probe(self, tenant: str, context: str, exact_key: str) -> tuple[bytes | None, int]:
        """(entry id under exact_key or None, the context bucket's version): one read."""
        keys = [(VERSIONS, h16("context", context))]
        if exact_key:
            keys.append((EXACT, h16("exact", exact_key)))
        got = self.store.get(tenant, keys)
        version = int(got[0] or 0)
        return (got[1] if exact_key else None), version

    def load_bucket(self, tenant: str, context: str) -> tuple[int, list[Row]]:
        """Every row of a bucket with the version it is a snapshot of."""
        key = [(VERSIONS, h16("context", context))]
        for _ in range(RETRIES):
            (before,) = self.store.get(tenant, key)
            items = self.store.items(tenant, bucket_space(context))
            (after,) = self.store.get(tenant, key)
            if before == after:  # no commit in between: the rows are that version
                break
        else:
            raise StoreUnavailable(f"store {self.store.name}: bucket kept changing; retry")
        rows = []
        for eid, value in items:
            vec = np.frombuffer(value, dtype=np.float32, offset=EXPIRES.size)
            if vec.shape == (self.dim,):
                rows.append((eid, EXPIRES.unpack_from(value)[0], vec))
        return int(before or 0), rows

    def changes(self, tenant: str, context: str, since: int) -> Changes | None:
        """What changed in a bucket after version `since` (None: the log no longer
        reaches back that far; reload the bucket)."""
        log = self.store.first(tenant, log_space(context), LOG_KEEP + 1, min_score=since + 1)
        if not log or int(log[0][1]) != since + 1:
            return None
        adds: dict[bytes, None] = {}
        removed: list[bytes] = []
        for member, _ in log:
            eid = member[1:]
            if member[:1] == b"+":
                adds[eid] = None
            else:
                adds.pop(eid, None)
                removed.append(eid)
        space = bucket_space(context)
        values = self.store.get(tenant, [(space, eid) for eid in adds]) if adds else []
        rows: list[Row] = []
        for eid, value in zip(adds, values, strict=True):
            if value is None:  # removed after the log was read: a later version says so
                continue
            vec = np.frombuffer(value, dtype=np.float32, offset=EXPIRES.size)
            if vec.shape == (self.dim,):
                rows.append((eid, EXPIRES.unpack_from(value)[0], vec))
        return Changes(int(log[-1][1]), rows, removed)

    def records(self, tenant: str, eids: Sequence[bytes]) -> list[dict[str, Any] | None]:
        """Entry records (None where gone), in one read."""
        raw = self.store.get(tenant, [(ENTRIES, eid) for eid in eids])
        return [None if r is None else json.loads(r) for r in raw]

    def count(self, tenant: str) -> int:
        (raw,) = self.store.get(tenant, [(META, b"count")])
        return int(raw or 0)

    def get_meta(self, tenant: str, key: bytes) -> bytes | None:
        (raw,) = self.store.get(tenant, [(META, key)])
        return raw

    def put_meta(self, tenant: str, key: bytes, value: bytes) -> None:
        self.store.commit(tenant, [Put(META, key, value)])

    def find(self, tenant: str, key: str) -> list[bytes]:
        """Entry ids whose exact or semantic key is `key`: the exact index first, else a
        scan of the tenant's records (semantic keys are not indexed; reports are rare)."""
        (found,) = self.store.get(tenant, [(EXACT, h16("exact", key))])
        if found is not None:
            return [found]
        out = []
        for eid, value in self.store.items(tenant, ENTRIES):
            rec = json.loads(value)
            if rec["tenant"] == tenant and key in (rec["exact"], rec["sem"]):
                out.append(eid)
        return out

    # --- writes -----------------------------------------------------------------

    def write(
        self,
        tenant: str,
        entries: Sequence[Entry],
        vecs: Sequence[np.ndarray],
        *,
        now: float,
        default_ttl_s: float,
        max_entries: int,
        touches: Mapping[bytes, float],
    ) -> Written:
        """Store entries (with eviction and purging) in one atomic commit.

        Buffered LRU touches land first (their own small commit), so eviction
        picks by up-to-date recency.
        """
        self.touch(tenant, touches)
        for _ in range(RETRIES):
            try:
                return self._write_once(tenant, entries, vecs, now, default_ttl_s, max_entries)
            except Conflict:
                continue
        raise StoreUnavailable(f"store {self.store.name}: too many concurrent writes; retry")

    def _write_once(
        self,
        tenant: str,
        entries: Sequence[Entry],
        vecs: Sequence[np.ndarray],
        now: float,
        default_ttl_s: float,
        max_entries: int,
    ) -> Written:
        exact = [h16("exact", e.exact_key) for e in entries if e.exact_key]
        expired = [
            eid for eid, _ in self.store.first(tenant, EXPIRY, PURGE_PER_WRITE, max_score=now)
        ]
        got = self.store.get(tenant, [(META, b"count")] + [(EXACT, h) for h in exact])
        count = int(got[0] or 0)
        doomed = list(dict.fromkeys(expired + [eid for eid in got[1:] if eid is not None]))
        room = count - len(doomed) + len(entries) - max_entries
        if room > 0:
            for eid, _ in self.store.first(tenant, ORDER, room + len(doomed)):
                if room <= 0:
                    break
                if eid not in doomed:
                    doomed.append(eid)
                    room -= 1
        ops: list[Op] = []
        removed: list[Removed] = []
        changes: list[tuple[str, bytes]] = []  # (context, "+eid" / "-eid"), in order
        raw = self.store.get(tenant, [(ENTRIES, eid) for eid in doomed])
        for eid, value in zip(doomed, raw, strict=True):
            if value is None:  # a dangling index row: dropped, nothing else to do
                ops += [ZRem(ORDER, eid), ZRem(EXPIRY, eid)]
                continue
            ctx = _removal(eid, value, ops)
            changes.append((ctx, b"-" + eid))
            removed.append((ctx, eid))
        added: list[Added] = []
        for entry, vec in zip(entries, vecs, strict=True):
            ttl = default_ttl_s if entry.ttl_s is None else entry.ttl_s
            expires = math.inf if ttl <= 0 else now + ttl
            eid = new_entry_id()
            record = {
                "tenant": tenant,
                "ctx": entry.context_fingerprint,
                "q": entry.query_text,
                "resp": entry.response,
                "meta": dict(entry.metadata or {}),
                "created": now,
                "expires": expires,
                "exact": entry.exact_key,
                "sem": entry.semantic_key,
            }
            ops += [
                Put(ENTRIES, eid, json.dumps(record).encode()),
                Put(
                    bucket_space(entry.context_fingerprint),
                    eid,
                    EXPIRES.pack(expires) + vec.tobytes(),
                ),
                ZAdd(ORDER, eid, now),
                ZAdd(EXPIRY, eid, expires),
                Incr(META, b"count", 1),
            ]
            if entry.exact_key:
                ops.append(Put(EXACT, h16("exact", entry.exact_key), eid))
            changes.append((entry.context_fingerprint, b"+" + eid))
            added.append((entry.context_fingerprint, eid, vec, expires))
        versions = self._log_changes(tenant, changes, ops)
        self.store.commit(tenant, ops)
        return Written(added, removed, versions)

    def delete(
        self, tenant: str, eids: Sequence[bytes], meta: Mapping[bytes, bytes] | None = None
    ) -> Written:
        """Delete entries (and put `meta` values) in one atomic commit."""
        for _ in range(RETRIES):
            raw = self.store.get(tenant, [(ENTRIES, eid) for eid in eids])
            ops: list[Op] = [Put(META, k, v) for k, v in (meta or {}).items()]
            removed: list[Removed] = []
            changes: list[tuple[str, bytes]] = []
            for eid, value in zip(eids, raw, strict=True):
                if value is None:
                    continue
                ctx = _removal(eid, value, ops)
                changes.append((ctx, b"-" + eid))
                removed.append((ctx, eid))
            versions = self._log_changes(tenant, changes, ops)
            try:
                if ops:
                    self.store.commit(tenant, ops)
            except Conflict:
                continue
            return Written([], removed, versions)
        raise StoreUnavailable(f"store {self.store.name}: too many concurrent writes; retry")

    def _log_changes(
        self, tenant: str, changes: Sequence[tuple[str, bytes]], ops: list[Op]
    ) -> dict[str, tuple[int, int]]:
        """Version steps and log rows for each change, conditional on the versions read
        now (a concurrent writer to the same bucket makes the commit a Conflict)."""
        contexts = list(dict.fromkeys(ctx for ctx, _ in changes))
        raw = self.store.get(tenant, [(VERSIONS, h16("context", c)) for c in contexts])
        current = {c: int(r or 0) for c, r in zip(contexts, raw, strict=True)}
        versions = {c: (v, v) for c, v in current.items()}
        for ctx, change in changes:
            before, after = versions[ctx]
            versions[ctx] = (before, after + 1)
            ops.append(ZAdd(log_space(ctx), change, float(after + 1)))
        for ctx, value in zip(contexts, raw, strict=True):
            key = h16("context", ctx)
            final = versions[ctx][1]
            ops.append(Expect(VERSIONS, key, value))
            ops.append(Put(VERSIONS, key, str(final).encode()))
            ops.append(ZTrim(log_space(ctx), float(final - LOG_KEEP)))
        return versions

    def touch(self, tenant: str, touches: Mapping[bytes, float]) -> None:
        """Move hit entries to the back of the eviction order."""
        if touches:
            self.store.commit(tenant, [ZAdd(ORDER, eid, when) for eid, when in touches.items()])

    def clear_tenant(self, tenant: str) -> int:
        """Delete every entry of a tenant; bucket versions move on (other replicas reload)."""
        n = self.count(tenant)
        contexts = [key for key, _ in self.store.items(tenant, VERSIONS)]
        entries = self.store.items(tenant, ENTRIES)
        spaces = set()
        for _, value in entries:
            ctx = json.loads(value)["ctx"]
            spaces |= {bucket_space(ctx), log_space(ctx)}
        ops: list[Op] = [Drop(space) for space in sorted(spaces)]
        ops += [Drop(ENTRIES), Drop(EXACT), Drop(ORDER), Drop(EXPIRY), Drop(META)]
        ops += [Incr(VERSIONS, ctx, 1) for ctx in contexts]
        self.store.commit(tenant, ops)
        return n


def _removal(eid: bytes, value: bytes, ops: list[Op]) -> str:
    """Appends to `ops` what deletes the entry `eid` (its stored record `value`, which
    the commit expects unchanged) and every index row of it; returns its context."""
    rec = json.loads(value)
    ops += [ZRem(ORDER, eid), ZRem(EXPIRY, eid)]
    ops += [Expect(ENTRIES, eid, value), Delete(ENTRIES, eid)]
    ops += [Delete(bucket_space(rec["ctx"]), eid), Incr(META, b"count", -1)]
    if rec["exact"]:
        ops.append(Delete(EXACT, h16("exact", rec["exact"]), if_value=eid))
    return str(rec["ctx"])
