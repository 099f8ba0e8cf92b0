"""What every stage persists through: one small interface, two back ends.

A `Store` holds, per tenant, named *spaces* of three kinds:

- maps: key -> bytes, read a few keys at a time (`get`) or whole (`items`);
- sorted sets: member -> score, read lowest score first (`first`);
- caches: key -> bytes with a TTL and a per-tenant entry cap (`cache_get`,
  `cache_put`), for results that can always be recomputed.

Writes to maps and sorted sets go through `commit`, which applies a list of
operations for ONE tenant atomically: all of them land or none does. `Expect`
makes a commit conditional (compare-and-set), so read-modify-write cycles retry
on `Conflict` instead of locking; `Incr` with a limit refuses (QuotaExceeded)
a commit that would push a counter past it. Counters are decimal ASCII in a map.

The back ends (promptpress.storage.lmdb_store, promptpress.storage.redis_store)
keep every key of a tenant under that tenant's namespace; `open_store` in
promptpress.storage.open picks one from a URL. Stages receive a Store and never
import a back end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from promptpress.errors import PromptPressError, ResourceExhausted, Unavailable


@dataclass(frozen=True, slots=True)
class Put:
    space: str
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove a map key; with `if_value`, only while it still holds that value."""

    space: str
    key: bytes
    if_value: bytes | None = None


@dataclass(frozen=True, slots=True)
class Expect:
    """The commit applies only if the map key holds `value` (None: is absent)."""

    space: str
    key: bytes
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Incr:
    """Add `delta` to a counter; with `limit`, refuse a result above it (when delta > 0)."""

    space: str
    key: bytes
    delta: int
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class ZAdd:
    space: str
    member: bytes
    score: float


@dataclass(frozen=True, slots=True)
class ZRem:
    space: str
    member: bytes


@dataclass(frozen=True, slots=True)
class ZTrim:
    """Remove every member of a sorted set with a score <= max_score."""

    space: str
    max_score: float


@dataclass(frozen=True, slots=True)
class Drop:
    """Remove a whole map or sorted set."""

    space: str


Op = Put | Delete | Expect | Incr | ZAdd | ZRem | ZTrim | Drop


class StoreError(PromptPressError):
    """Base of the errors a store raises deliberately."""


class Conflict(StoreError):
    """An Expect did not hold: another writer got there first. Nothing was written."""


class QuotaExceeded(StoreError, ResourceExhausted):
    """An Incr would pass its limit. Nothing was written."""

    def __init__(self, space: str, key: bytes, limit: int, current: int, delta: int) -> None:
        self.space, self.key, self.limit = space, key, limit
        self.current, self.delta = current, delta
        self.retry_after_s = None  # waiting does not free a quota
        StoreError.__init__(
            self,
            f"{space}/{key.decode('utf-8', 'replace')}: {current} + {delta} would exceed {limit}",
        )


class StoreFull(StoreError, ResourceExhausted):
    """The store has no room left (LMDB map full, Redis maxmemory). Nothing was written."""


class StoreUnavailable(Unavailable):
    """The store cannot be reached; the message names it. Retry later."""


class Store(Protocol):
    """Tenant-namespaced persistence; safe to share between threads."""

    @property
    def name(self) -> str:
        """Where the data lives, for messages (never includes a password)."""
        ...

    def get(self, tenant: str, keys: Sequence[tuple[str, bytes]]) -> list[bytes | None]:
        """Map values for (space, key) pairs, in one read (one round trip)."""
        ...

    def items(self, tenant: str, space: str) -> list[tuple[bytes, bytes]]:
        """Every (key, value) of a map, in no particular order."""
        ...

    def first(
        self,
        tenant: str,
        space: str,
        count: int,
        *,
        min_score: float = 0.0,
        max_score: float = float("inf"),
    ) -> list[tuple[bytes, float]]:
        """Up to `count` members of a sorted set with the lowest scores in
        [min_score, max_score], lowest first."""
        ...

    def commit(self, tenant: str, ops: Sequence[Op]) -> list[int]:
        """Apply ops atomically; returns each Incr's new value, in order.

        Raises Conflict, QuotaExceeded, StoreFull or StoreUnavailable; after any
        of them nothing of `ops` was written.
        """
        ...

    def cache_get(self, tenant: str, space: str, keys: Sequence[bytes]) -> list[bytes | None]:
        """Cached values (None: absent or expired), in one read."""
        ...

    def cache_put(
        self,
        tenant: str,
        space: str,
        entries: Mapping[bytes, bytes],
        *,
        ttl_s: float,
        max_entries: int,
    ) -> None:
        """Store entries atomically (ttl_s <= 0: no expiry); past max_entries per tenant
        and space, the oldest insertions go first."""
        ...

    def close(self) -> None: ...


_WARN_EVERY_S = 10.0
_last_warning: dict[tuple[str, str], float] = {}
_warn_lock = threading.Lock()


def warn_throttled(log: logging.Logger, message: str, exc: BaseException) -> None:
    """Log a store problem at WARNING at most every 10 s per (logger, message):
    a store that is away must not flood the log with one line per request."""
    now = time.monotonic()
    with _warn_lock:
        key = (log.name, message)
        if now - _last_warning.get(key, -_WARN_EVERY_S) < _WARN_EVERY_S:
            return
        _last_warning[key] = now
    log.warning(message, exc)


__all__ = [
    "Conflict",
    "Delete",
    "Drop",
    "Expect",
    "Incr",
    "Op",
    "Put",
    "QuotaExceeded",
    "Store",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "ZAdd",
    "ZRem",
    "ZTrim",
    "warn_throttled",
]
