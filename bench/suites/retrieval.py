"""Suite `retrieval`: does chunk selection keep the answer, and what does it cost?

For each sampled SQuAD v2.0 dev question that has an answer, every paragraph of
its article is a document (about 20 to 50 of them). The selection keeps, within
a token budget of 128, 256 or 512 (`gpt-4o-mini` tokens), the chunks chosen by
BM25 alone, the embedding model alone, and their fusion (promptpress's default
weighted reciprocal rank fusion); the baseline in the same run takes the
article's paragraphs in document order until the budget is full (the first
`budget` tokens). A question counts as recalled when one of its gold answers,
SQuAD-normalised (lower case, no punctuation, no articles, single spaces),
appears in the selected text.

Latency is per retrieval request (`promptpress.retrieval.retrieve`, budget 256):
cold = the article sent inline with nothing cached (chunking, embedding every
chunk, ranking), once per article; warm = the article indexed in the LMDB corpus
and named by id (load, BM25 statistics, one query embedding, fusion, selection),
once per question; the in-order baseline = the same warm request with no query
(no ranking). Chunks are 48 tokens with 6 tokens of overlap: small enough that
even the 128-token budget holds two or three.
"""

from __future__ import annotations

import re
import statistics
import string
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptpress.bench import plots
from promptpress.bench.datasets import SquadArticle, SquadQuestion, sample, squad_v2_dev
from promptpress.bench.frame import SuiteContext, SuiteResult, markdown_table, ratio
from promptpress.compressor.tokens import TokenCounter, counter_for
from promptpress.retrieval import (
    ChunkingConfig,
    Corpus,
    Embedder,
    FusionWeights,
    Selection,
    SelectionOptions,
    rank_chunks,
    retrieve,
    select_ranked,
)
from promptpress.types import Document, Placement

NAME = "retrieval"
BUDGETS = (128, 256, 512)
LATENCY_BUDGET = 256
TARGET_MODEL = "gpt-4o-mini"
CHUNKING = ChunkingConfig(size=48, overlap=6)
METHODS = ("in_order", "bm25", "dense", "fusion")
TORCH_THREADS = 1


@dataclass(frozen=True)
class Settings:
    articles: int  # 0: all
    questions_per_article: int  # 0: all answerable ones


def settings(ctx: SuiteContext) -> Settings:
    return ctx.by_profile(tiny=Settings(2, 5), quick=Settings(8, 60), full=Settings(0, 0))


@dataclass
class Tally:
    """Per method and budget: questions recalled, tokens used; latencies in seconds."""

    hits: dict[tuple[str, int], list[bool]]
    tokens: dict[tuple[str, int], list[int]]
    latency: dict[str, list[float]]
    documents: list[int]  # per question

    @classmethod
    def empty(cls) -> Tally:
        return cls(defaultdict(list), defaultdict(list), defaultdict(list), [])


def normalise(text: str) -> str:
    """SQuAD's answer normalisation (the official evaluation script's)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def recalled(pieces: Sequence[str], answers: Sequence[str]) -> bool:
    padded = [f" {normalise(p)} " for p in pieces]
    return any(f" {normalise(a)} " in p for a in answers for p in padded)


def selected_pieces(selection: Selection, texts: dict[str, str]) -> list[str]:
    """The selected text as a reader sees it: touching chunks of a document merged."""
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for scored in selection.chunks:
        spans[scored.chunk.document_id].append((scored.chunk.start, scored.chunk.end))
    pieces = []
    for doc_id, doc_spans in spans.items():
        merged: list[list[int]] = []
        text = texts[doc_id]
        for start, end in sorted(doc_spans):
            # Overlapping or separated only by whitespace: one passage to a reader.
            if merged and not text[merged[-1][1] : start].strip():
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        pieces += [text[s:e] for s, e in merged]
    return pieces


def run(ctx: SuiteContext) -> SuiteResult:
    import torch

    # One intra-op thread while this suite runs (restored after): on a shared
    # 2-core machine OpenMP's spin-waiting made a one-query forward pass ~35x
    # slower with two threads (about 500 ms instead of 14 ms) unless
    # OMP_WAIT_POLICY=PASSIVE was set before torch loaded.
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    try:
        return _run(ctx)
    finally:
        torch.set_num_threads(previous_threads)


def _run(ctx: SuiteContext) -> SuiteResult:
    config = settings(ctx)
    articles, info = squad_v2_dev()
    chosen = sample(articles, config.articles or len(articles), seed=ctx.seed)
    counter = counter_for(TARGET_MODEL)
    started = time.perf_counter()
    embedder = Embedder()
    load_s = time.perf_counter() - started
    embedder.embed(["warm-up: the first forward pass allocates"])
    options = SelectionOptions()
    rankers = {
        "bm25": FusionWeights(bm25=1.0, dense=0.0, k=options.weights.k),
        "dense": FusionWeights(bm25=0.0, dense=1.0, k=options.weights.k),
        "fusion": options.weights,
    }
    tally = Tally.empty()
    chunk_tokens: list[int] = []
    with tempfile.TemporaryDirectory(prefix="pp-bench-retrieval-") as tmp:
        corpus = Corpus(Path(tmp), embedder, chunking=CHUNKING, counter=counter)
        try:
            for article in ctx.progress(chosen, desc="retrieval: articles"):
                questions = _questions(article, config, ctx)
                chunk_tokens += _measure_article(
                    ctx, corpus, article, questions, counter, rankers, options, tally
                )
        finally:
            corpus.close()
    figures = _figures(tally, chosen, chunk_tokens, options, load_s, embedder.model_id)
    plot = _plot(figures, ctx.out_dir / "retrieval_recall.png")
    return SuiteResult(
        suite=NAME, datasets=[info], figures=figures, table_md=_tables(figures), plots=[plot]
    )


def _questions(article: SquadArticle, config: Settings, ctx: SuiteContext) -> list[SquadQuestion]:
    answerable = [
        q for p in article.paragraphs for q in p.questions if not q.is_impossible and q.answers
    ]
    n = config.questions_per_article or len(answerable)
    if n >= len(answerable):
        return answerable
    return ctx.rng(f"{NAME}:{article.title}").sample(answerable, n)


def _measure_article(
    ctx: SuiteContext,
    corpus: Corpus,
    article: SquadArticle,
    questions: list[SquadQuestion],
    counter: TokenCounter,
    rankers: dict[str, FusionWeights],
    options: SelectionOptions,
    tally: Tally,
) -> list[int]:
    tenant = article.title
    docs = [Document(f"{article.title}/{i}", p.context) for i, p in enumerate(article.paragraphs)]
    ids = [d.id for d in docs]
    texts = {d.id: d.text for d in docs}
    # Cold: the article inline, nothing cached (its embeddings are cached after this).
    started = time.perf_counter()
    retrieve(
        corpus,
        tenant,
        query=questions[0].question,
        counter=counter,
        max_tokens=LATENCY_BUDGET,
        documents=docs,
    )
    tally.latency["cold"].append(time.perf_counter() - started)
    corpus.index_documents(tenant, docs)
    pool = corpus.candidate_pool(tenant, corpus.get_documents(tenant, ids))
    in_order = counter.encode("\n\n".join(d.text for d in docs))
    for question in ctx.progress(questions, desc=f"  {article.title}"):
        for name, query in (("warm", question.question), ("in_order_warm", "")):
            started = time.perf_counter()
            retrieve(
                corpus,
                tenant,
                query=query,
                counter=counter,
                max_tokens=LATENCY_BUDGET,
                document_ids=ids,
            )
            tally.latency[name].append(time.perf_counter() - started)
        tally.documents.append(len(docs))
        ranking = rank_chunks(
            question.question, pool, embedder=corpus.embedder, weights=options.weights
        )
        for budget in BUDGETS:
            prefix = counter.decode(in_order[:budget])
            tally.hits["in_order", budget].append(recalled([prefix], question.answers))
            tally.tokens["in_order", budget].append(min(budget, len(in_order)))
            for name, weights in rankers.items():
                selection = select_ranked(
                    pool,
                    ranking.refused(weights),
                    counter=counter,
                    max_tokens=budget,
                    placement=Placement.SOURCE,
                    dedup_threshold=options.dedup_threshold,
                )
                tally.hits[name, budget].append(
                    recalled(selected_pieces(selection, texts), question.answers)
                )
                tally.tokens[name, budget].append(selection.stats.tokens)
    return [c.tokens for c in pool.chunks]


def _percentiles(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"n": 0, "p50_ms": None, "p95_ms": None}
    ms = sorted(s * 1000 for s in seconds)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[-1] if len(ms) > 1 else ms[0]
    return {
        "n": len(ms),
        "p50_ms": statistics.median(ms),
        "p95_ms": p95,
        "mean_ms": statistics.fmean(ms),
    }


def _figures(
    tally: Tally,
    articles: list[SquadArticle],
    chunk_tokens: list[int],
    options: SelectionOptions,
    load_s: float,
    model_id: str,
) -> dict[str, Any]:
    recall = {m: {str(b): statistics.fmean(tally.hits[m, b]) for b in BUDGETS} for m in METHODS}
    tokens_used = {
        m: {str(b): statistics.fmean(tally.tokens[m, b]) for b in BUDGETS} for m in METHODS
    }
    versus: dict[str, dict[str, Any]] = {}
    for other in ("bm25", "dense", "in_order"):
        versus[other] = {}
        for b in BUDGETS:
            pairs = list(zip(tally.hits["fusion", b], tally.hits[other, b], strict=True))
            versus[other][str(b)] = {
                "recall_ratio": ratio(recall["fusion"][str(b)], recall[other][str(b)]),
                "fusion_only": sum(
                    f and not o for f, o in pairs
                ),  # paired: fusion right, other wrong
                "other_only": sum(o and not f for f, o in pairs),
            }
    beats = {
        str(b): all(
            recall["fusion"][str(b)] > recall[o][str(b)] for o in ("bm25", "dense", "in_order")
        )
        for b in BUDGETS
    }
    latency = {
        name: _percentiles(tally.latency[name]) for name in ("cold", "warm", "in_order_warm")
    }
    return {
        "questions": len(tally.hits["fusion", BUDGETS[0]]),
        "articles": len(articles),
        "documents_per_question_mean": statistics.fmean(tally.documents),
        "chunks": {
            "size": CHUNKING.size,
            "overlap": CHUNKING.overlap,
            "count": len(chunk_tokens),
            "mean_tokens": statistics.fmean(chunk_tokens) if chunk_tokens else None,
        },
        "config": {
            "target_model": TARGET_MODEL,
            "embedding_model": model_id,
            "fusion": {
                "bm25": options.weights.bm25,
                "dense": options.weights.dense,
                "k": options.weights.k,
            },
            "dedup_threshold": options.dedup_threshold,
            "latency_budget": LATENCY_BUDGET,
            "torch_threads": TORCH_THREADS,
        },
        "recall": recall,
        "tokens_used_mean": tokens_used,
        "fusion_versus": versus,
        "fusion_beats_all": beats,
        "latency": latency,
        "latency_ratios": {
            "cold_vs_warm_p50": ratio(latency["cold"]["p50_ms"], latency["warm"]["p50_ms"]),
            "warm_vs_in_order_p50": ratio(
                latency["warm"]["p50_ms"], latency["in_order_warm"]["p50_ms"]
            ),
            "warm_vs_in_order_p95": ratio(
                latency["warm"]["p95_ms"], latency["in_order_warm"]["p95_ms"]
            ),
        },
        "embedder_load_s": load_s,
    }


def _tables(f: dict[str, Any]) -> str:
    headers = [
        "method",
        *(f"recall @{b}" for b in BUDGETS),
        *(f"fusion / method @{b}" for b in BUDGETS),
    ]
    rows = []
    for m in METHODS:
        recall = [f["recall"][m][str(b)] for b in BUDGETS]
        ratios = [ratio(f["recall"]["fusion"][str(b)], f["recall"][m][str(b)]) for b in BUDGETS]
        rows.append([m.replace("_", "-"), *recall, *ratios])
    paired = ["vs", *(f"@{b} fusion-only / other-only" for b in BUDGETS)]
    paired_rows = [
        [
            o,
            *(
                f"{f['fusion_versus'][o][str(b)]['fusion_only']} / {f['fusion_versus'][o][str(b)]['other_only']}"
                for b in BUDGETS
            ),
        ]
        for o in ("bm25", "dense", "in_order")
    ]
    lat = f["latency"]
    lat_rows = [
        [name.replace("_", "-"), lat[name]["n"], lat[name]["p50_ms"], lat[name]["p95_ms"]]
        for name in ("cold", "warm", "in_order_warm")
    ]
    r = f["latency_ratios"]
    chunks = f["chunks"]
    return "\n\n".join(
        [
            f"{f['questions']} questions from {f['articles']} articles; chunks of {chunks['size']} tokens "
            f"(overlap {chunks['overlap']}, mean {chunks['mean_tokens']:.1f}); fusion "
            f"bm25 {f['config']['fusion']['bm25']:g} / dense {f['config']['fusion']['dense']:g}, "
            f"k {f['config']['fusion']['k']:g}. Fusion beats every other method at: "
            + ", ".join(f"{b}: {'yes' if ok else 'NO'}" for b, ok in f["fusion_beats_all"].items()),
            markdown_table(headers, rows),
            "Paired: questions only fusion recalled / only the other method recalled.",
            markdown_table(paired, paired_rows),
            markdown_table(["request", "n", "p50 ms", "p95 ms"], lat_rows),
            f"cold / warm p50: {_fmt(r['cold_vs_warm_p50'])}; warm (ranked) / in-order p50: "
            f"{_fmt(r['warm_vs_in_order_p50'])}, p95: {_fmt(r['warm_vs_in_order_p95'])}.",
        ]
    )


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def _plot(f: dict[str, Any], path: Path) -> Path:
    plt = plots.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    styles = {"in_order": ":", "bm25": "--", "dense": "-.", "fusion": "-"}
    for m in METHODS:
        left.plot(
            BUDGETS, [f["recall"][m][str(b)] for b in BUDGETS], styles[m], marker="o", label=m
        )
    left.set_xscale("log", base=2)
    left.set_xticks(BUDGETS, [str(b) for b in BUDGETS])
    left.set_xlabel("context budget (tokens)")
    left.set_ylabel("answer recall")
    left.set_ylim(0, 1)
    left.grid(True, alpha=0.3)
    left.legend()
    names = ("cold", "warm", "in_order_warm")
    p50 = [f["latency"][n]["p50_ms"] or 0 for n in names]
    p95 = [f["latency"][n]["p95_ms"] or 0 for n in names]
    x = range(len(names))
    right.bar([i - 0.2 for i in x], p50, width=0.4, label="p50")
    right.bar([i + 0.2 for i in x], p95, width=0.4, label="p95")
    right.set_xticks(list(x), [n.replace("_", "-") for n in names])
    right.set_yscale("log")
    right.set_ylabel("ms per request (log)")
    right.legend()
    right.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"retrieval on SQuAD v2 dev ({f['questions']} questions)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
