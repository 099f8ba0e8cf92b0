"""The Store contract, run against both back ends (see conftest.py)."""

from __future__ import annotations

import time

import pytest

from promptpress.storage import (
    Conflict,
    Delete,
    Drop,
    Expect,
    Incr,
    Put,
    QuotaExceeded,
    Store,
    ZAdd,
    ZRem,
    ZTrim,
)


def test_maps_round_trip_and_items(store: Store) -> None:
    store.commit("t", [Put("docs", b"a", b"1"), Put("docs", b"b", b"2"), Put("other", b"a", b"x")])
    assert store.get("t", [("docs", b"a"), ("docs", b"zz"), ("other", b"a")]) == [b"1", None, b"x"]
    assert sorted(store.items("t", "docs")) == [(b"a", b"1"), (b"b", b"2")]
    store.commit("t", [Delete("docs", b"a")])
    assert store.items("t", "docs") == [(b"b", b"2")]
    assert store.items("t", "empty") == []


@pytest.mark.parametrize(
    "tenant_a, tenant_b",
    [("alice", "bob"), ("a", "a}:m:docs"), ("x{y}", "x"), ("ü:1", "ü"), ("", " ")],
)
def test_tenants_never_see_each_other(store: Store, tenant_a: str, tenant_b: str) -> None:
    store.commit(tenant_a, [Put("docs", b"k", b"A"), ZAdd("z", b"m", 1.0), Incr("n", b"c", 1)])
    assert store.get(tenant_b, [("docs", b"k"), ("n", b"c")]) == [None, None]
    assert store.items(tenant_b, "docs") == []
    assert store.first(tenant_b, "z", 10) == []
    store.cache_put(tenant_a, "cc", {b"k": b"A"}, ttl_s=0, max_entries=10)
    assert store.cache_get(tenant_b, "cc", [b"k"])[0] is None
    store.commit(tenant_b, [Drop("docs"), Drop("z")])
    assert store.get(tenant_a, [("docs", b"k")]) == [b"A"]


def test_failed_expect_writes_nothing(store: Store) -> None:
    store.commit("t", [Put("docs", b"a", b"v1")])
    with pytest.raises(Conflict):
        store.commit(
            "t",
            [Put("docs", b"b", b"new"), ZAdd("z", b"m", 1), Expect("docs", b"a", b"v0")],
        )
    with pytest.raises(Conflict):
        store.commit("t", [Put("docs", b"b", b"new"), Expect("docs", b"a", None)])
    assert store.items("t", "docs") == [(b"a", b"v1")]
    assert store.first("t", "z", 10) == []
    store.commit(
        "t", [Expect("docs", b"a", b"v1"), Expect("docs", b"b", None), Put("docs", b"b", b"ok")]
    )
    assert store.get("t", [("docs", b"b")]) == [b"ok"]


def test_counters_and_limits(store: Store) -> None:
    assert store.commit("t", [Incr("usage", b"docs", 2, limit=5), Incr("usage", b"bytes", 10)]) == [
        2,
        10,
    ]
    # The second Incr of the same counter sees the first: 2 + 2 + 2 > 5.
    with pytest.raises(QuotaExceeded) as info:
        store.commit(
            "t",
            [
                Put("docs", b"x", b"1"),
                Incr("usage", b"docs", 2, limit=5),
                Incr("usage", b"docs", 2, limit=5),
            ],
        )
    assert info.value.limit == 5 and info.value.current == 4
    assert store.get("t", [("docs", b"x"), ("usage", b"docs")]) == [None, b"2"]
    # Decrements are never refused, even over the limit.
    assert store.commit("t", [Incr("usage", b"docs", -1, limit=0)]) == [1]


def test_conditional_delete(store: Store) -> None:
    store.commit("t", [Put("x", b"k", b"e1")])
    store.commit("t", [Delete("x", b"k", if_value=b"e2")])
    assert store.get("t", [("x", b"k")]) == [b"e1"]
    store.commit("t", [Delete("x", b"k", if_value=b"e1")])
    assert store.get("t", [("x", b"k")]) == [None]


def test_sorted_sets(store: Store) -> None:
    store.commit(
        "t",
        [
            ZAdd("z", b"c", 3.0),
            ZAdd("z", b"a", 1.0),
            ZAdd("z", b"b", 2.0),
            ZAdd("z", b"inf", float("inf")),
        ],
    )
    assert store.first("t", "z", 2) == [(b"a", 1.0), (b"b", 2.0)]
    assert [m for m, _ in store.first("t", "z", 10, max_score=2.5)] == [b"a", b"b"]
    store.commit("t", [ZAdd("z", b"a", 4.0), ZRem("z", b"b")])  # re-adding moves a member
    assert store.first("t", "z", 10) == [(b"c", 3.0), (b"a", 4.0), (b"inf", float("inf"))]
    store.commit("t", [Drop("z")])
    assert store.first("t", "z", 10) == []


def test_sorted_set_ranges_and_trim(store: Store) -> None:
    store.commit("t", [ZAdd("log", b"v%d" % v, float(v)) for v in range(1, 11)])
    assert [m for m, _ in store.first("t", "log", 3, min_score=4.5)] == [b"v5", b"v6", b"v7"]
    assert store.first("t", "log", 10, min_score=9, max_score=9) == [(b"v9", 9.0)]
    store.commit("t", [ZTrim("log", 7.0), ZTrim("log", -1.0)])
    assert [m for m, _ in store.first("t", "log", 10)] == [b"v8", b"v9", b"v10"]


def test_drop_removes_a_whole_map(store: Store) -> None:
    store.commit(
        "t", [Put("bucket", bytes([i]), b"v") for i in range(50)] + [Put("keep", b"k", b"v")]
    )
    store.commit("t", [Drop("bucket")])
    assert store.items("t", "bucket") == []
    assert store.items("t", "keep") == [(b"k", b"v")]


def test_cache_entry_limit_evicts_oldest(store: Store) -> None:
    for i in range(5):
        store.cache_put("t", "cc", {b"k%d" % i: b"v%d" % i}, ttl_s=0, max_entries=3)
    got = [store.cache_get("t", "cc", [b"k%d" % i])[0] for i in range(5)]
    assert got == [None, None, b"v2", b"v3", b"v4"]
    # Rewriting a key does not count twice; the cap is per tenant.
    store.cache_put("t", "cc", {b"k4": b"v4b"}, ttl_s=0, max_entries=3)
    store.cache_put("u", "cc", {b"k0": b"u0"}, ttl_s=0, max_entries=3)
    assert [store.cache_get("t", "cc", [b"k%d" % i])[0] for i in (2, 3, 4)] == [
        b"v2",
        b"v3",
        b"v4b",
    ]
    assert store.cache_get("u", "cc", [b"k0"])[0] == b"u0"


def test_cache_entries_expire(store: Store) -> None:
    store.cache_put("t", "cc", {b"short": b"v"}, ttl_s=0.2, max_entries=10)
    store.cache_put("t", "cc", {b"long": b"v"}, ttl_s=3600, max_entries=10)
    assert store.cache_get("t", "cc", [b"short"])[0] == b"v"
    deadline = time.monotonic() + 5
    while store.cache_get("t", "cc", [b"short"])[0] is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.cache_get("t", "cc", [b"short"])[0] is None
    assert store.cache_get("t", "cc", [b"long"])[0] == b"v"


def test_cache_batches(store: Store) -> None:
    store.cache_put("t", "emb", {b"a": b"1", b"b": b"2", b"c": b"3"}, ttl_s=0, max_entries=2)
    assert store.cache_get("t", "emb", [b"a", b"b", b"c", b"d"]) == [None, b"2", b"3", None]
    assert store.cache_get("t", "emb", []) == []


def test_name_never_shows_a_password() -> None:
    from promptpress.storage.redis_store import redacted

    assert redacted("rediss://user:s3cret@cache.internal:6380/2?ssl_cert_reqs=none") == (
        "rediss://cache.internal:6380/2"
    )


def test_store_urls_pick_the_client() -> None:
    """rediss:// is TLS with redis-py's options; no connection is made here."""
    import redis

    from promptpress.storage.redis_store import connect

    client = connect("rediss://:s3cret@cache.internal:6380/2?ssl_cert_reqs=none")
    kwargs = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class is redis.SSLConnection
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.internal", 6380, 2)
    assert kwargs["password"] == "s3cret"
    client.close()


def test_open_store_rejects_unknown_schemes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from promptpress.storage.open import open_store

    with pytest.raises(ValueError, match="store_url"):
        open_store("memcached://x", data_dir=tmp_path)
    lmdb = open_store("", data_dir=tmp_path)
    assert lmdb.name == f"lmdb:{tmp_path / 'store'}"
    lmdb.close()
