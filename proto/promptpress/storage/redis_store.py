"""The shared back end: Valkey or Redis (single node or cluster) through redis-py.

Keys (every key of a tenant carries the hash tag ``{tenant}``, so in a cluster
all of a tenant's keys share one slot and a commit's script may touch them all):

- map       ``pp:{T}:m:<space>``            a hash
- sorted    ``pp:{T}:z:<space>``            a sorted set
- cache     ``pp:{T}:c:<space>:<key>``      a string with PEXPIRE
- its order ``pp:{T}:o:<space>``            a sorted set: key -> insertion time

T is the tenant, percent-encoded so that ``{``, ``}`` and ``:`` cannot move
the hash tag or collide with another tenant's keys (the empty tenant is ``%``). `commit` and `cache_put`
are Lua scripts (atomic; the ``#!lua`` shebang makes the server refuse them
up front when over maxmemory, so an out-of-memory error never lands half of a
commit). Reads are single commands or one pipeline: one round trip each.

The client is synchronous with a connection pool, used from the worker
threads that run the stages (never on the event loop). Connection errors
become StoreUnavailable naming the store; redis-py reconnects by itself when
the server is back.
"""

from __future__ import annotations

import math
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import redis
import redis.exceptions as rex
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

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

# ARGV: per op 5 values: code, key index, a, b, c. Checks run first (Expect,
# Incr limits, with earlier Incrs of the same counter counted), then writes.
_COMMIT = """#!lua
local n = (#ARGV) / 5
local pending = {}
for i = 0, n - 1 do
  local b = i * 5 + 1
  local code, k = ARGV[b], KEYS[tonumber(ARGV[b + 1])]
  if code == 'expect' then
    local cur = redis.call('HGET', k, ARGV[b + 2])
    if ARGV[b + 4] == '1' then
      if cur then return {'conflict', i} end
    elseif cur ~= ARGV[b + 3] then
      return {'conflict', i}
    end
  elseif code == 'incr' then
    local id = k .. '\\0' .. ARGV[b + 2]
    local cur = pending[id] or tonumber(redis.call('HGET', k, ARGV[b + 2]) or '0')
    local d = tonumber(ARGV[b + 3])
    if ARGV[b + 4] ~= '' and d > 0 and cur + d > tonumber(ARGV[b + 4]) then
      return {'quota', i, tostring(cur)}
    end
    pending[id] = cur + d
  end
end
local out = {'ok'}
for i = 0, n - 1 do
  local b = i * 5 + 1
  local code, k = ARGV[b], KEYS[tonumber(ARGV[b + 1])]
  if code == 'put' then
    redis.call('HSET', k, ARGV[b + 2], ARGV[b + 3])
  elseif code == 'del' then
    if ARGV[b + 4] ~= '1' or redis.call('HGET', k, ARGV[b + 2]) == ARGV[b + 3] then
      redis.call('HDEL', k, ARGV[b + 2])
    end
  elseif code == 'incr' then
    out[#out + 1] = redis.call('HINCRBY', k, ARGV[b + 2], ARGV[b + 3])
  elseif code == 'zadd' then
    redis.call('ZADD', k, ARGV[b + 3], ARGV[b + 2])
  elseif code == 'zrem' then
    redis.call('ZREM', k, ARGV[b + 2])
  elseif code == 'ztrim' then
    redis.call('ZREMRANGEBYSCORE', k, '-inf', ARGV[b + 3])
  elseif code == 'drop' then
    redis.call('DEL', k, KEYS[tonumber(ARGV[b + 2])])
  end
end
return out
"""

# KEYS: order set, then one key per entry. ARGV: ttl ms (0: none), now, max,
# entry-key prefix, then member and value per entry.
_CACHE_PUT = """#!lua
local ttl, now = tonumber(ARGV[1]), ARGV[2]
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i * 2 + 2])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
  redis.call('ZADD', KEYS[1], now, ARGV[i * 2 + 1])
end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if over > 0 then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, over - 1)) do
    redis.call('DEL', ARGV[4] .. member)
    redis.call('ZREM', KEYS[1], member)
  end
end
return 1
"""


def _score_arg(score: float) -> str:
    if not score >= 0:
        raise ValueError(f"scores must be >= 0, got {score}")
    return "+inf" if math.isinf(score) else repr(float(score))


def redacted(url: str) -> str:
    """The URL without user or password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def connect(url: str, *, timeout_s: float = 2.0) -> Any:
    """A redis-py client for redis://, rediss:// (TLS) and cluster URLs.

    A cluster is named with ``?cluster=true`` (or the scheme ``redis+cluster://``
    / ``rediss+cluster://``); everything else in the URL (password, database,
    TLS options such as ssl_ca_certs) is redis-py's.
    """
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    cluster = parts.scheme.endswith("+cluster") or any(
        k == "cluster" and v.lower() in ("1", "true", "yes") for k, v in query
    )
    scheme = parts.scheme.removesuffix("+cluster")
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "cluster"])
    clean = urllib.parse.urlunsplit((scheme, parts.netloc, parts.path, rest, ""))
    options: dict[str, Any] = {
        "socket_connect_timeout": timeout_s,
        "socket_timeout": timeout_s,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
    }
    if cluster:
        return RedisCluster.from_url(clean, **options)
    return redis.Redis.from_url(clean, health_check_interval=15, **options)


class RedisStore:
    def __init__(
        self, url: str, *, prefix: str = "pp", clock: Callable[[], float] = time.time
    ) -> None:
        self.url = url
        self._name = redacted(url)
        self._prefix = prefix
        self._clock = clock
        self.client = connect(url)
        self._commit = self.client.register_script(_COMMIT)
        self._cache_put = self.client.register_script(_CACHE_PUT)

    @property
    def name(self) -> str:
        return self._name

    def _tkey(self, tenant: str) -> bytes:
        # An empty hash tag ({}) does not count as one: the empty tenant is "%"
        # (which percent-encoding never produces on its own).
        tag = urllib.parse.quote(tenant, safe="") or "%"
        return f"{self._prefix}:{{{tag}}}:".encode()

    def _key(self, tenant: str, kind: str, space: str) -> bytes:
        return self._tkey(tenant) + f"{kind}:{space}".encode()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (rex.ConnectionError, rex.TimeoutError, rex.ClusterError) as exc:
            raise StoreUnavailable(f"store {self._name} is unavailable: {exc}") from exc
        except rex.ResponseError as exc:
            text = str(exc)
            if text.startswith("OOM"):
                raise StoreFull(
                    f"store {self._name} is full (maxmemory reached): {text}; "
                    "see maxmemory-policy in the README"
                ) from exc
            if text.split(" ", 1)[0] in ("READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN"):
                raise StoreUnavailable(f"store {self._name} is unavailable: {text}") from exc
            raise

    # --- reads -------------------------------------------------------------------

    def get(self, tenant: str, keys: Sequence[tuple[str, bytes]]) -> list[bytes | None]:
        if not keys:
            return []
        with self._errors():
            pipe = self.client.pipeline(transaction=False)
            for space, key in keys:
                pipe.hget(self._key(tenant, "m", space), key)
            return list(pipe.execute())

    def items(self, tenant: str, space: str) -> list[tuple[bytes, bytes]]:
        # HSCAN in pages rather than one HGETALL: a 100k-row semantic bucket is
        # ~150 MB, which would block the server while it builds the reply and
        # could outlast the socket timeout. Callers that need a snapshot check a
        # version before and after (keys present throughout are always returned).
        with self._errors():
            found = dict(self.client.hscan_iter(self._key(tenant, "m", space), count=1000))
        return list(found.items())

    def first(
        self,
        tenant: str,
        space: str,
        count: int,
        *,
        min_score: float = 0.0,
        max_score: float = math.inf,
    ) -> list[tuple[bytes, float]]:
        if count <= 0:
            return []
        with self._errors():
            rows = self.client.zrangebyscore(
                self._key(tenant, "z", space),
                _score_arg(max(0.0, min_score)),
                _score_arg(max_score),
                start=0,
                num=count,
                withscores=True,
            )
        return [(bytes(m), float(s)) for m, s in rows]

    def cache_get(self, tenant: str, space: str, keys: Sequence[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        prefix = self._key(tenant, "c", space) + b":"
        with self._errors():
            values = self.client.mget([prefix + key for key in keys])
        return [None if v is None else bytes(v) for v in values]

    # --- writes ------------------------------------------------------------------

    def commit(self, tenant: str, ops: Sequence[Op]) -> list[int]:
        if not ops:
            return []
        keys: list[bytes] = []
        index: dict[bytes, int] = {}

        def key_no(key: bytes) -> str:
            if key not in index:
                keys.append(key)
                index[key] = len(keys)
            return str(index[key])

        args: list[bytes | str] = []
        for op in ops:
            if isinstance(op, Put):
                args += ["put", key_no(self._key(tenant, "m", op.space)), op.key, op.value, ""]
            elif isinstance(op, Delete):
                cond = "" if op.if_value is None else "1"
                args += [
                    "del",
                    key_no(self._key(tenant, "m", op.space)),
                    op.key,
                    op.if_value or b"",
                    cond,
                ]
            elif isinstance(op, Expect):
                absent = "1" if op.value is None else ""
                args += [
                    "expect",
                    key_no(self._key(tenant, "m", op.space)),
                    op.key,
                    op.value or b"",
                    absent,
                ]
            elif isinstance(op, Incr):
                limit = "" if op.limit is None else str(op.limit)
                args += [
                    "incr",
                    key_no(self._key(tenant, "m", op.space)),
                    op.key,
                    str(op.delta),
                    limit,
                ]
            elif isinstance(op, ZAdd):
                score = _score_arg(op.score)
                args += ["zadd", key_no(self._key(tenant, "z", op.space)), op.member, score, ""]
            elif isinstance(op, ZRem):
                args += ["zrem", key_no(self._key(tenant, "z", op.space)), op.member, "", ""]
            elif isinstance(op, ZTrim):
                if op.max_score >= 0:
                    score = _score_arg(op.max_score)
                    args += ["ztrim", key_no(self._key(tenant, "z", op.space)), "", score, ""]
            elif isinstance(op, Drop):
                other = key_no(self._key(tenant, "z", op.space))
                args += ["drop", key_no(self._key(tenant, "m", op.space)), other, "", ""]
        with self._errors():
            reply = self._commit(keys=keys, args=args)
        status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
        if status == "conflict":
            raise Conflict("a concurrent write changed the data; nothing was written")
        if status == "quota":
            op = ops[int(reply[1])]
            assert isinstance(op, Incr) and op.limit is not None
            raise QuotaExceeded(op.space, op.key, op.limit, int(reply[2]), op.delta)
        return [int(v) for v in reply[1:]]

    def cache_put(
        self,
        tenant: str,
        space: str,
        entries: Mapping[bytes, bytes],
        *,
        ttl_s: float,
        max_entries: int,
    ) -> None:
        if not entries:
            return
        prefix = self._key(tenant, "c", space) + b":"
        ttl_ms = 0 if ttl_s <= 0 else max(1, int(ttl_s * 1000))
        args: list[bytes | str | int] = [ttl_ms, repr(self._clock()), max(1, max_entries), prefix]
        for key, value in entries.items():
            args += [key, value]
        with self._errors():
            self._cache_put(
                keys=[self._key(tenant, "o", space), *(prefix + key for key in entries)],
                args=args,
            )

    def close(self) -> None:
        self.client.close()
