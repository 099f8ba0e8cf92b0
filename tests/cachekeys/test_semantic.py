"""The semantic cache: tenant and context isolation, guards, TTL, eviction, persistence."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from promptpress.cachekeys import Entry, SemanticCache, query_vector
from promptpress.cachekeys.semantic_cache import store as semantic_store

DIM = 16


def vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, scale: float = 0.05, seed: int = 99) -> np.ndarray:
    return v + scale * np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["lmdb", "valkey", "cluster"])
def cache(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[SemanticCache]:
    """The cache on each back end (tests/storage/conftest.py)."""
    from tests.storage.conftest import make_store

    store = make_store(request.param, tmp_path, request)
    with SemanticCache(store, dim=DIM, threshold=0.9, clock=clock) as c:
        yield c
    store.close()


def put(
    cache: SemanticCache, tenant: str, q: str, v: np.ndarray, resp: str, ctx: str = "ctx", **kw
) -> str:  # type: ignore[no-untyped-def]
    return cache.store(
        tenant, context_fingerprint=ctx, query_text=q, query_vec=v, response=resp, **kw
    )


@pytest.fixture(scope="module")
def shared_cache() -> Iterator[SemanticCache]:
    with tempfile.TemporaryDirectory() as tmp, SemanticCache(tmp, dim=DIM, durable=False) as c:
        yield c


@settings(max_examples=60, deadline=None)
@given(
    st.text(max_size=10),
    st.text(max_size=10),
    st.text(min_size=1, max_size=30),
    st.integers(0, 2**31),
)
def test_no_cached_response_is_visible_to_another_tenant(shared_cache, t1, t2, query, seed) -> None:
    assume(t1 != t2)
    ctx = uuid.uuid4().hex  # fresh context per example: nothing else lives there
    v = vec(seed)
    put(
        shared_cache,
        t1,
        query,
        v,
        f"answer for {t1!r}",
        ctx=ctx,
        exact_key=f"x-{ctx}",
        semantic_key="s",
    )
    assert shared_cache.lookup(t2, ctx, query, v, exact_key=f"x-{ctx}") is None
    put(shared_cache, t2, query, v, f"answer for {t2!r}", ctx=ctx)
    hit = shared_cache.lookup(t1, ctx, query, v)
    assert hit is not None and hit.response == f"answer for {t1!r}"
    hit2 = shared_cache.lookup(t2, ctx, query, v, exact_key=f"x-{ctx}")
    assert hit2 is not None and hit2.kind == "semantic" and hit2.response == f"answer for {t2!r}"


def test_semantic_hit_reports_the_key_and_similarity(cache) -> None:
    v = vec(1)
    eid = put(cache, "a", "How do I reset my password?", v, "Click 'forgot'.", semantic_key="sem-1")
    hit = cache.lookup("a", "ctx", "how can I reset my password", near(v))
    assert hit is not None and hit.kind == "semantic" and hit.key == "sem-1" and hit.entry_id == eid
    assert 0.9 <= hit.similarity <= 1.0 and hit.response == "Click 'forgot'."


def test_exact_hit(cache) -> None:
    put(cache, "a", "q", vec(1), "r", exact_key="ek")
    hit = cache.lookup("a", "other-context", "anything", None, exact_key="ek")
    assert hit is not None and (hit.kind, hit.key, hit.similarity) == ("exact", "ek", 1.0)
    assert cache.lookup("a", "ctx", "q", None, exact_key="other") is None


def test_same_question_in_another_context_misses(cache) -> None:
    v = vec(2)
    put(cache, "a", "What is the refund window?", v, "30 days", ctx="shop-A")
    assert cache.lookup("a", "shop-B", "What is the refund window?", v) is None
    assert cache.lookup("a", "shop-A", "What is the refund window?", v) is not None


def test_below_threshold_misses(cache) -> None:
    put(cache, "a", "q one", vec(3), "r")
    assert cache.lookup("a", "ctx", "q one", vec(4)) is None
    assert cache.lookup("a", "ctx", "q one", vec(4), threshold=-1.0) is not None


def test_guards_reject_near_misses_even_at_identical_vectors(cache) -> None:
    v = vec(5)
    put(cache, "a", "Is smoking allowed on the balcony?", v, "yes")
    assert cache.lookup("a", "ctx", "Is smoking not allowed on the balcony?", v) is None
    assert cache.lookup("a", "ctx", "Is vaping allowed on the balcony?", v) is None  # substitution
    assert cache.lookup("a", "ctx", "quick question: is smoking allowed on the balcony", v)


def test_a_guarded_best_match_falls_back_to_the_next_candidate(cache) -> None:
    v = vec(6)
    put(cache, "a", "Flights to Paris in 2024", v, "2024 answer")
    put(cache, "a", "Flights to Paris in 2025", near(v, 0.1), "2025 answer")
    hit = cache.lookup("a", "ctx", "flights to Paris in 2025", v)
    assert hit is not None and hit.response == "2025 answer"


def test_entries_expire(cache, clock) -> None:
    put(cache, "a", "q", vec(7), "short", ttl_s=60)
    put(cache, "a", "q2", vec(8), "forever", ttl_s=0)
    clock.now += 61
    assert cache.lookup("a", "ctx", "q", vec(7)) is None
    clock.now += 10**9
    assert cache.lookup("a", "ctx", "q2", vec(8)).response == "forever"  # type: ignore[union-attr]
    put(cache, "a", "q3", vec(9), "x")  # a store purges what has expired
    assert cache.count("a") == 2


@pytest.mark.parametrize(("eviction", "survivor"), [("oldest", "second"), ("lru", "first")])
def test_eviction_per_tenant(tmp_path, clock, eviction, survivor) -> None:
    with SemanticCache(
        tmp_path, dim=DIM, max_entries_per_tenant=2, eviction=eviction, clock=clock
    ) as c:
        put(c, "a", "first", vec(10), "first")
        clock.now += 1
        put(c, "a", "second", vec(11), "second")
        clock.now += 1
        assert c.lookup("a", "ctx", "first", vec(10)) is not None  # a hit: most recently used
        clock.now += 1
        put(c, "b", "other tenant", vec(12), "b")  # another tenant's quota is separate
        put(c, "a", "third", vec(13), "third")
        assert c.count("a") == 2 and c.count("b") == 1
        kept = {
            r
            for q, v, r in [("first", 10, "first"), ("second", 11, "second")]
            if c.lookup("a", "ctx", q, vec(v))
        }
        assert kept == {survivor}


def test_storing_the_same_exact_key_replaces_the_entry(cache) -> None:
    put(cache, "a", "q", vec(14), "old", exact_key="k")
    put(cache, "a", "q", vec(14), "new", exact_key="k")
    assert cache.count("a") == 1
    assert cache.lookup("a", "ctx", "q", vec(14)).response == "new"  # type: ignore[union-attr]


def test_entries_survive_a_reopen(tmp_path, clock) -> None:
    with SemanticCache(tmp_path, dim=DIM, clock=clock) as c:
        put(c, "a", "persisted?", vec(15), "yes", semantic_key="s")
    with SemanticCache(tmp_path, dim=DIM, clock=clock) as c:
        hit = c.lookup("a", "ctx", "persisted?", near(vec(15)))
        assert hit is not None and hit.response == "yes" and c.count("a") == 1


def test_large_buckets_use_the_prefilter_and_still_find_the_match(tmp_path, clock) -> None:
    dim = 64
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3000, dim)).astype(np.float32)
    with SemanticCache(tmp_path, dim=dim, clock=clock, exact_scan_limit=100, prefilter_k=32) as c:
        c.store_many("a", [Entry("ctx", f"question {i}", base[i], f"r{i}") for i in range(3000)])
        for i in (0, 1234, 2999):
            noisy = base[i] / np.linalg.norm(base[i]) + 0.05 * rng.standard_normal(dim).astype(
                np.float32
            )
            hit = c.lookup("a", "ctx", f"question {i}", noisy)
            assert hit is not None and hit.response == f"r{i}"


def test_a_failed_store_leaves_nothing_behind(cache, monkeypatch) -> None:
    put(cache, "a", "kept", vec(16), "kept")
    calls = {"n": 0}
    real = semantic_store.new_entry_id

    def failing() -> bytes:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real()

    monkeypatch.setattr(semantic_store, "new_entry_id", failing)  # fails before the commit
    entries = [Entry("ctx", "one", vec(17), "1"), Entry("ctx", "two", vec(18), "2")]
    with pytest.raises(RuntimeError):
        cache.store_many("a", entries)
    assert cache.count("a") == 1
    assert cache.lookup("a", "ctx", "one", vec(17)) is None
    assert cache.lookup("a", "ctx", "kept", vec(16)) is not None


@pytest.mark.parametrize("bad", [np.zeros(DIM), np.full(DIM, np.nan), np.ones(DIM + 1)])
def test_bad_vectors_are_rejected(cache, bad) -> None:
    with pytest.raises(ValueError):
        put(cache, "a", "q", bad, "r")


def test_clear_tenant_only_clears_that_tenant(cache) -> None:
    put(cache, "a", "q", vec(19), "a")
    put(cache, "b", "q", vec(19), "b")
    assert cache.clear_tenant("a") == 1
    assert cache.lookup("a", "ctx", "q", vec(19)) is None
    assert cache.lookup("b", "ctx", "q", vec(19)).response == "b"  # type: ignore[union-attr]


@pytest.mark.slow
def test_real_embeddings_hit_paraphrases_and_not_negations(tmp_path, minilm) -> None:
    stored = "How do I change the billing address on my account?"
    with SemanticCache(tmp_path, dim=minilm.dim) as c:
        put(c, "a", stored, query_vector(minilm, stored), "Settings > Billing")
        para, neg = (
            "How can I change my account's billing address?",
            "Why can't I change the billing address on my account?",
        )
        pv, nv = query_vector(minilm, para), query_vector(minilm, neg)
        assert c.lookup("a", "ctx", para, pv) is not None
        assert c.lookup("a", "ctx", neg, nv) is None
        assert c.lookup("a", "other", para, pv) is None


def test_a_store_committed_while_a_bucket_loads_is_not_lost(cache, monkeypatch) -> None:
    put(cache, "a", "first question", vec(20), "1")
    real_load = cache._load_bucket
    loads = []

    def load_with_a_concurrent_store(*args):  # type: ignore[no-untyped-def]
        bucket = real_load(*args)
        if not loads:  # another writer commits between this load's snapshot and its install
            put(cache, "a", "second question", vec(21), "2")
        loads.append(args)
        return bucket

    monkeypatch.setattr(cache, "_load_bucket", load_with_a_concurrent_store)
    cache.lookup("a", "ctx", "second question", vec(21))  # may miss: it began first
    hit = cache.lookup("a", "ctx", "second question", vec(21))
    assert hit is not None and hit.response == "2"
    assert len(loads) == 1, "the resident bucket caught up from the change log"


def test_another_writer_on_the_same_store_is_seen(cache) -> None:
    """Two caches on one store (two replicas): each sees the other's entries and
    evictions at its next lookup, however its resident buckets were loaded."""
    other = SemanticCache(cache.storage.store, dim=DIM, threshold=0.9, clock=cache._clock)
    put(cache, "a", "warm the bucket", vec(30), "w")
    assert other.lookup("a", "ctx", "warm the bucket", vec(30)) is not None
    put(other, "a", "written by the other one", vec(31), "o", exact_key="k31")
    hit = cache.lookup("a", "ctx", "written by the other one", near(vec(31)))
    assert hit is not None and hit.response == "o"
    assert cache.lookup("a", "ctx", "x", None, exact_key="k31").kind == "exact"  # type: ignore[union-attr]
    assert other.clear_tenant("a") == 2
    assert cache.lookup("a", "ctx", "warm the bucket", vec(30)) is None


def test_a_resident_bucket_catches_up_from_the_log(cache, clock, monkeypatch) -> None:
    """Another writer's adds and evictions reach a resident bucket through the
    bucket's change log, without reloading it; past the log, it reloads whole."""
    cache.max_entries = 3
    other = SemanticCache(
        cache.storage.store, dim=DIM, threshold=0.9, clock=clock, max_entries_per_tenant=3
    )

    def add(c: SemanticCache, i: int) -> None:
        clock.now += 1
        put(c, "a", f"question {i}", vec(40 + i), f"r{i}")

    def found() -> set[int]:
        return {i for i in range(7) if cache.lookup("a", "ctx", f"question {i}", vec(40 + i))}

    for i in range(3):
        add(cache, i)
    clock.now += 1
    assert cache.lookup("a", "ctx", "question 0", vec(40)) is not None  # resident now
    cache.flush()
    loads = []
    real_load = cache._load_bucket
    monkeypatch.setattr(cache, "_load_bucket", lambda *a: loads.append(a) or real_load(*a))
    add(other, 3)  # evicts the least recently used: 1 (0 was just hit)
    add(other, 4)  # then 2
    assert found() == {0, 3, 4} and loads == []
    monkeypatch.setattr(semantic_store, "LOG_KEEP", 1)  # the log keeps only the last change
    add(other, 5)
    add(other, 6)
    assert found() == {4, 5, 6}
    assert len(loads) == 1
