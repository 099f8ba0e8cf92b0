"""The embedded back end: one LMDB environment in a directory, shared by threads.

Named databases (every key starts with the length-prefixed tenant, then the
length-prefixed space, so a tenant's data is one contiguous key range):

- ``maps``     tenant | space | key             -> value
- ``zsets``    tenant | space | score | member  -> ""   (ordered by score)
- ``zscores``  tenant | space | member          -> score
- ``caches``   tenant | space | key             -> expiry (float64) + value

A cache's insertion order is a sorted set named ``\\x00order:<space>`` and its
size a counter in the map ``\\x00count`` (both internal). Every `commit` and
`cache_put` is one write transaction, so it lands whole or not at all; LMDB
serialises writers. A full map raises StoreFull (nothing written).
"""

from __future__ import annotations

import math
import os
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import lmdb

from promptpress.storage import (
    Conflict,
    Delete,
    Drop,
    Expect,
    Incr,
    Op,
    Put,
    QuotaExceeded,
    StoreFull,
    StoreUnavailable,
    ZAdd,
    ZRem,
    ZTrim,
)

DEFAULT_MAP_SIZE = 16 << 30  # address space only: the file grows with the data
MAX_TENANT_BYTES = 128  # LMDB keys are at most 511 bytes
_SCORE = struct.Struct(">d")  # non-negative doubles sort as their big-endian bytes
_DBS = (b"maps", b"zsets", b"zscores", b"caches")
_COUNT = "\x00count"


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(1, "big") + data


def _prefix(tenant: str, space: str) -> bytes:
    raw = tenant.encode("utf-8")
    if len(raw) > MAX_TENANT_BYTES:
        raise ValueError(f"tenant is {len(raw)} bytes; at most {MAX_TENANT_BYTES}")
    return _lp(raw) + _lp(space.encode("utf-8"))


def _opt(value: bytes | memoryview | None) -> bytes | None:
    return None if value is None else bytes(value)


def _score(value: float) -> bytes:
    if not value >= 0:
        raise ValueError(f"scores must be >= 0, got {value}")
    return _SCORE.pack(value)


class LmdbStore:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        map_size: int = DEFAULT_MAP_SIZE,
        durable: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.map_size = map_size
        self._clock = clock
        self._env = lmdb.open(
            str(self.path),
            map_size=map_size,
            max_dbs=len(_DBS),
            subdir=True,
            sync=durable,
            metasync=durable,
        )
        self._db = {name.decode(): self._env.open_db(name) for name in _DBS}

    @property
    def name(self) -> str:
        return f"lmdb:{self.path}"

    # --- reads -------------------------------------------------------------------

    def get(self, tenant: str, keys: Sequence[tuple[str, bytes]]) -> list[bytes | None]:
        with self._read() as txn:
            return [
                _opt(txn.get(_prefix(tenant, space) + key, db=self._db["maps"]))
                for space, key in keys
            ]

    def items(self, tenant: str, space: str) -> list[tuple[bytes, bytes]]:
        prefix = _prefix(tenant, space)
        out: list[tuple[bytes, bytes]] = []
        with self._read() as txn, txn.cursor(db=self._db["maps"]) as cur:
            if cur.set_range(prefix):
                for raw_key, value in cur:
                    key = bytes(raw_key)
                    if not key.startswith(prefix):
                        break
                    out.append((key[len(prefix) :], bytes(value)))
        return out

    def first(
        self,
        tenant: str,
        space: str,
        count: int,
        *,
        min_score: float = 0.0,
        max_score: float = math.inf,
    ) -> list[tuple[bytes, float]]:
        prefix = _prefix(tenant, space)
        with self._read() as txn:
            return self._first(txn, prefix, count, max_score, min_score)

    def cache_get(self, tenant: str, space: str, keys: Sequence[bytes]) -> list[bytes | None]:
        prefix = _prefix(tenant, space)
        now = self._clock()
        out: list[bytes | None] = []
        with self._read() as txn:
            for key in keys:
                raw = txn.get(prefix + key, db=self._db["caches"])
                if raw is None or _SCORE.unpack_from(raw)[0] <= now:
                    out.append(None)
                else:
                    out.append(bytes(raw[_SCORE.size :]))
        return out

    # --- writes ------------------------------------------------------------------

    def commit(self, tenant: str, ops: Sequence[Op]) -> list[int]:
        results: list[int] = []
        with self._write() as txn:
            for op in ops:  # conditions first: a failed one aborts before any write
                if isinstance(op, Expect):
                    current = txn.get(_prefix(tenant, op.space) + op.key, db=self._db["maps"])
                    if current != op.value:
                        raise Conflict(f"{op.space}: a concurrent write changed the data")
            for op in ops:
                if not isinstance(op, Expect) and (n := self._apply(txn, tenant, op)) is not None:
                    results.append(n)
        return results

    def cache_put(
        self,
        tenant: str,
        space: str,
        entries: Mapping[bytes, bytes],
        *,
        ttl_s: float,
        max_entries: int,
    ) -> None:
        now = self._clock()
        expires = math.inf if ttl_s <= 0 else now + ttl_s
        prefix, order = _prefix(tenant, space), _prefix(tenant, "\x00order:" + space)
        caches = self._db["caches"]
        with self._write() as txn:
            added = 0
            for key, value in entries.items():
                added += txn.get(prefix + key, db=caches) is None
                txn.put(prefix + key, _SCORE.pack(expires) + value, db=caches)
                self._zrem(txn, order, key)
                self._zadd(txn, order, key, now)
            count = self._incr(txn, tenant, Incr(_COUNT, space.encode(), added))
            over = count - max(1, max_entries)
            if over > 0:
                for old, _ in self._first(txn, order, over):
                    txn.delete(prefix + old, db=caches)
                    self._zrem(txn, order, old)
                self._incr(txn, tenant, Incr(_COUNT, space.encode(), -over))

    def close(self) -> None:
        self._env.close()

    # --- helpers -----------------------------------------------------------------

    def _read(self) -> lmdb.Transaction:
        try:
            return self._env.begin(buffers=False)
        except lmdb.Error as exc:
            raise StoreUnavailable(f"store {self.name} is unavailable: {exc}") from exc

    def _write(self) -> _WriteTxn:
        return _WriteTxn(self)

    def _apply(self, txn: lmdb.Transaction, tenant: str, op: Op) -> int | None:
        maps = self._db["maps"]
        if isinstance(op, Put):
            txn.put(_prefix(tenant, op.space) + op.key, op.value, db=maps)
        elif isinstance(op, Delete):
            key = _prefix(tenant, op.space) + op.key
            if op.if_value is None or txn.get(key, db=maps) == op.if_value:
                txn.delete(key, db=maps)
        elif isinstance(op, Incr):
            return self._incr(txn, tenant, op)
        elif isinstance(op, ZAdd):
            self._zrem(txn, _prefix(tenant, op.space), op.member)
            self._zadd(txn, _prefix(tenant, op.space), op.member, op.score)
        elif isinstance(op, ZRem):
            self._zrem(txn, _prefix(tenant, op.space), op.member)
        elif isinstance(op, ZTrim):
            prefix = _prefix(tenant, op.space)
            while old := self._first(txn, prefix, 256, op.max_score):
                for member, _ in old:
                    self._zrem(txn, prefix, member)
        elif isinstance(op, Drop):
            prefix = _prefix(tenant, op.space)
            for name in ("maps", "zsets", "zscores"):
                with txn.cursor(db=self._db[name]) as cur:
                    if cur.set_range(prefix):
                        while bytes(cur.key()).startswith(prefix):
                            if not cur.delete():
                                break
        return None

    def _incr(self, txn: lmdb.Transaction, tenant: str, op: Incr) -> int:
        key = _prefix(tenant, op.space) + op.key
        raw = txn.get(key, db=self._db["maps"])
        current = int(raw) if raw else 0
        if op.limit is not None and op.delta > 0 and current + op.delta > op.limit:
            raise QuotaExceeded(op.space, op.key, op.limit, current, op.delta)
        txn.put(key, str(current + op.delta).encode(), db=self._db["maps"])
        return current + op.delta

    def _zadd(self, txn: lmdb.Transaction, prefix: bytes, member: bytes, score: float) -> None:
        packed = _score(score)
        txn.put(prefix + packed + member, b"", db=self._db["zsets"])
        txn.put(prefix + member, packed, db=self._db["zscores"])

    def _zrem(self, txn: lmdb.Transaction, prefix: bytes, member: bytes) -> None:
        packed = txn.get(prefix + member, db=self._db["zscores"])
        if packed is not None:
            txn.delete(prefix + member, db=self._db["zscores"])
            txn.delete(prefix + packed + member, db=self._db["zsets"])

    def _first(
        self,
        txn: lmdb.Transaction,
        prefix: bytes,
        count: int,
        max_score: float = math.inf,
        min_score: float = 0.0,
    ) -> list[tuple[bytes, float]]:
        out: list[tuple[bytes, float]] = []
        if count <= 0:
            return out
        with txn.cursor(db=self._db["zsets"]) as cur:
            if cur.set_range(prefix + _score(max(0.0, min_score))):
                for raw_key in cur.iternext(keys=True, values=False):
                    key = bytes(raw_key)
                    if not key.startswith(prefix):
                        break
                    (score,) = _SCORE.unpack_from(key, len(prefix))
                    if score > max_score:
                        break
                    out.append((key[len(prefix) + _SCORE.size :], score))
                    if len(out) >= count:
                        break
        return out


class _WriteTxn:
    """A write transaction that turns a full map into StoreFull (and aborts)."""

    def __init__(self, store: LmdbStore) -> None:
        self.store = store
        self.txn: lmdb.Transaction | None = None

    def __enter__(self) -> lmdb.Transaction:
        try:
            self.txn = self.store._env.begin(write=True, buffers=False)
        except lmdb.Error as exc:
            raise StoreUnavailable(f"store {self.store.name} is unavailable: {exc}") from exc
        return self.txn

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        assert self.txn is not None
        if exc is not None:
            self.txn.abort()
            if isinstance(exc, lmdb.MapFullError):
                raise _full(self.store) from exc
            return
        try:
            self.txn.commit()
        except lmdb.MapFullError as err:
            raise _full(self.store) from err


def _full(store: LmdbStore) -> StoreFull:
    return StoreFull(
        f"store {store.name} is full (map size {store.map_size} bytes); "
        "raise store_map_size or delete documents"
    )
