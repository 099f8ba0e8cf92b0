"""The LMDB side of the semantic cache: what one write transaction does.

Databases (every key starts with the tenant's 16-byte hash, so a tenant's
data is one contiguous key range in each):

- ``entries``  tkey + eid -> JSON record (tenant, context, query, response, ...)
- ``byctx``    tkey + context hash + eid -> expiry (float64) + query vector (float32)
- ``exact``    tkey + exact-key hash -> eid
- ``order``    tkey + order time + eid -> "" (eviction order: creation or last hit)
- ``expiry``   tkey + expiry time + eid -> "" (expired entries are purged first)
- ``meta``     tkey -> entry count
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import lmdb
import numpy as np

from promptpress.cachekeys.semantic_cache.cache import _EXPIRES, _h16, _ts, new_entry_id

if TYPE_CHECKING:
    from promptpress.cachekeys.semantic_cache.cache import Entry, SemanticCache

PURGE_PER_WRITE = 256  # expired entries removed per store, so no write is unbounded
Added = tuple[str, bytes, np.ndarray, float]  # (context, eid, vector, expires)
Removed = tuple[str, bytes]  # (context, eid)


def _count(cache: SemanticCache, txn: lmdb.Transaction, tkey: bytes) -> int:
    raw = txn.get(tkey, db=cache._db["meta"])
    return int.from_bytes(raw, "big") if raw else 0


def _set_count(cache: SemanticCache, txn: lmdb.Transaction, tkey: bytes, n: int) -> None:
    txn.put(tkey, n.to_bytes(8, "big"), db=cache._db["meta"])


def _first_key(cache: SemanticCache, txn: lmdb.Transaction, db: str, prefix: bytes) -> bytes | None:
    with txn.cursor(db=cache._db[db]) as cur:
        if cur.set_range(prefix) and bytes(cur.key()).startswith(prefix):
            return bytes(cur.key())
    return None


def delete_entry(
    cache: SemanticCache, txn: lmdb.Transaction, tkey: bytes, eid: bytes
) -> Removed | None:
    raw = txn.get(tkey + eid, db=cache._db["entries"])
    if raw is None:
        return None
    rec = json.loads(bytes(raw))
    db = cache._db
    txn.delete(tkey + eid, db=db["entries"])
    txn.delete(tkey + _h16("context", rec["ctx"]) + eid, db=db["byctx"])
    if rec["exact"]:
        exact_key = tkey + _h16("exact", rec["exact"])
        if txn.get(exact_key, db=db["exact"]) == eid:
            txn.delete(exact_key, db=db["exact"])
    txn.delete(tkey + _ts(rec["order"]) + eid, db=db["order"])
    txn.delete(tkey + _ts(rec["expires"]) + eid, db=db["expiry"])
    _set_count(cache, txn, tkey, max(0, _count(cache, txn, tkey) - 1))
    return rec["ctx"], eid


def apply_touches(
    cache: SemanticCache, txn: lmdb.Transaction, touches: Mapping[bytes, float]
) -> None:
    """Moves hit entries to the back of the LRU order."""
    db = cache._db
    for key, when in touches.items():
        raw = txn.get(key, db=db["entries"])
        if raw is None:
            continue
        rec = json.loads(bytes(raw))
        if when <= rec["order"]:
            continue
        tkey, eid = key[:16], key[16:]
        txn.delete(tkey + _ts(rec["order"]) + eid, db=db["order"])
        txn.put(tkey + _ts(when) + eid, b"", db=db["order"])
        rec["order"] = when
        txn.put(key, json.dumps(rec).encode(), db=db["entries"])


def _purge_expired(
    cache: SemanticCache, txn: lmdb.Transaction, tkey: bytes, now: float
) -> list[Removed]:
    removed: list[Removed] = []
    limit = _ts(now)
    for _ in range(PURGE_PER_WRITE):
        key = _first_key(cache, txn, "expiry", tkey)
        if key is None or key[16:24] > limit:
            break
        gone = delete_entry(cache, txn, tkey, key[24:])
        if gone is None:  # a dangling index row: drop it so the loop moves on
            txn.delete(key, db=cache._db["expiry"])
        else:
            removed.append(gone)
    return removed


def _evict_one(cache: SemanticCache, txn: lmdb.Transaction, tkey: bytes) -> Removed | None:
    key = _first_key(cache, txn, "order", tkey)
    if key is None:
        return None
    gone = delete_entry(cache, txn, tkey, key[24:])
    if gone is None:
        txn.delete(key, db=cache._db["order"])
    return gone


def write_entries(
    cache: SemanticCache,
    txn: lmdb.Transaction,
    tenant: str,
    tkey: bytes,
    entries: Sequence[Entry],
    vecs: Sequence[np.ndarray],
    now: float,
    touches: Mapping[bytes, float],
) -> tuple[list[Added], list[Removed]]:
    """Everything one store does, inside the caller's write transaction."""
    db = cache._db
    apply_touches(cache, txn, touches)
    removed = _purge_expired(cache, txn, tkey, now)
    added: list[Added] = []
    for entry, vec in zip(entries, vecs, strict=True):
        ttl = cache.ttl_s if entry.ttl_s is None else entry.ttl_s
        expires = math.inf if ttl <= 0 else now + ttl
        if entry.exact_key:
            old = txn.get(tkey + _h16("exact", entry.exact_key), db=db["exact"])
            if old is not None and (gone := delete_entry(cache, txn, tkey, bytes(old))):
                removed.append(gone)
        while _count(cache, txn, tkey) >= cache.max_entries:
            gone = _evict_one(cache, txn, tkey)
            if gone is None:
                break
            removed.append(gone)
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
            "order": now,
        }
        txn.put(tkey + eid, json.dumps(record).encode(), db=db["entries"])
        bkey = tkey + _h16("context", entry.context_fingerprint)
        txn.put(bkey + eid, _EXPIRES.pack(expires) + vec.tobytes(), db=db["byctx"])
        if entry.exact_key:
            txn.put(tkey + _h16("exact", entry.exact_key), eid, db=db["exact"])
        txn.put(tkey + _ts(now) + eid, b"", db=db["order"])
        txn.put(tkey + _ts(expires) + eid, b"", db=db["expiry"])
        _set_count(cache, txn, tkey, _count(cache, txn, tkey) + 1)
        added.append((entry.context_fingerprint, eid, vec, expires))
    return added, removed


def delete_tenant(cache: SemanticCache, txn: lmdb.Transaction, tkey: bytes) -> int:
    n = _count(cache, txn, tkey)
    for name in ("entries", "byctx", "exact", "order", "expiry", "meta"):
        with txn.cursor(db=cache._db[name]) as cur:
            if not cur.set_range(tkey):
                continue
            while bytes(cur.key()).startswith(tkey):
                if not cur.delete():
                    break
    return n
