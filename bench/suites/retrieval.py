"""Suite `retrieval`: does chunk selection keep the answer, and what does it cost?

Everything runs with the service's defaults: the corpus exactly as the server
builds it (`Corpus(path, embedder)`: 256-token chunks with 32 tokens of overlap,
counted in the default tokenizer) and `retrieve` with default `SelectionOptions`
(fusion bm25 1 / dense 0.85, k 5; near-duplicate threshold 0.95; small budgets
refined into sub-chunks) and the default placement (edges). Nothing is tuned for
this benchmark.

For each sampled SQuAD v2.0 dev question that has an answer, every paragraph of
its article is a stored document (about 20 to 50 of them), named by id as a
client would after `IndexDocuments`. Selection fills a budget of 128, 256 or 512
tokens (`gpt-4o-mini`) with BM25 alone, the embedding model alone, or their
fusion (the service); the baseline in the same run takes the article's paragraphs
in document order until the budget is full (the first `budget` tokens). An extra,
labelled row runs fusion over the stored 256-token chunks only (refining off),
which is what the service did before it refined small budgets. A question counts
as recalled when one of its gold answers, SQuAD-normalised (lower case, no
punctuation, no articles, single spaces), appears in the selected text.

Latency is per `retrieve` call: cold = the article sent inline with nothing
cached (chunking, embedding every chunk and the needed sub-chunks, ranking), once
per article at a 256-token budget; warm = the article stored and named by id
(load, BM25 statistics, one query embedding, fusion, sub-chunks, selection), once
per question and budget, where a request whose best chunks were never cut before
also embeds their sub-chunks (reported as the cache-miss share); in-order = the
same warm request with no query (no ranking).

A last table (retrieval_first.py) times the first request at a small budget
on a freshly indexed article, with sub-chunks embedded at indexing (the
default) and without (before), and what indexing costs each way.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptpress.bench import plots
from promptpress.bench.datasets import SquadArticle, SquadQuestion, sample, squad_v2_dev
from promptpress.bench.frame import SuiteContext, SuiteResult, markdown_table, ratio, torch_threads
from promptpress.bench.loadgen import percentiles
from promptpress.bench.suites import retrieval_first
from promptpress.bench.suites.retrieval_scoring import (
    BUDGETS,
    METHODS,
    STORED_ONLY,
    CountingEmbedder,
    Tally,
    method_options,
    recalled,
    selected_pieces,
    service_corpus,
)
from promptpress.retrieval import (
    Corpus,
    Retrieval,
    Selection,
    SelectionOptions,
    SentenceTransformerEmbedder,
    retrieve,
)
from promptpress.tokens import TokenCounter, counter_for
from promptpress.types import Document

NAME = "retrieval"
COLD_BUDGET = 256
TARGET_MODEL = "gpt-4o-mini"
TORCH_THREADS = 1


@dataclass(frozen=True)
class Settings:
    articles: int  # 0: all
    questions_per_article: int  # 0: all answerable ones


def settings(ctx: SuiteContext) -> Settings:
    return ctx.by_profile(tiny=Settings(2, 5), quick=Settings(8, 60), full=Settings(0, 0))


def run(ctx: SuiteContext) -> SuiteResult:
    # One intra-op thread while this suite runs (restored after): on a shared
    # 2-core machine OpenMP's spin-waiting made a one-query forward pass ~35x
    # slower with two threads (about 500 ms instead of 14 ms) unless
    # OMP_WAIT_POLICY=PASSIVE was set before torch loaded.
    with torch_threads(TORCH_THREADS):
        return _run(ctx)


def _run(ctx: SuiteContext) -> SuiteResult:
    config = settings(ctx)
    articles, info = squad_v2_dev()
    chosen = sample(articles, config.articles or len(articles), seed=ctx.seed)
    counter = counter_for(TARGET_MODEL)
    started = time.perf_counter()
    embedder = CountingEmbedder(SentenceTransformerEmbedder())
    load_s = time.perf_counter() - started
    embedder.embed(["warm-up: the first forward pass allocates"])
    tally = Tally.empty()
    first = retrieval_first.FirstRequests()
    with tempfile.TemporaryDirectory(prefix="pp-bench-retrieval-") as tmp:
        corpus = service_corpus(Path(tmp), embedder)
        try:
            for turn, article in enumerate(ctx.progress(chosen, desc="retrieval: articles")):
                questions = _questions(article, config, ctx)
                docs = [
                    Document(f"{article.title}/{i}", p.context)
                    for i, p in enumerate(article.paragraphs)
                ]
                embedder.remember = False
                first.measure(
                    corpus, article.title, docs, questions[0].question, counter, turn=turn
                )
                _measure_article(ctx, corpus, embedder, article, questions, counter, tally)
            chunking = corpus.chunking
        finally:
            corpus.close()
    figures = _figures(tally, chosen, chunking, load_s, embedder.model_id)
    figures["first_request"] = first.figures()
    plot = _plot(figures, ctx.out_dir / "retrieval_recall.png")
    tables = _tables(figures) + "\n\n" + retrieval_first.table(figures["first_request"])
    return SuiteResult(suite=NAME, datasets=[info], figures=figures, table_md=tables, plots=[plot])


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
    embedder: CountingEmbedder,
    article: SquadArticle,
    questions: list[SquadQuestion],
    counter: TokenCounter,
    tally: Tally,
) -> None:
    tenant = article.title
    docs = [Document(f"{article.title}/{i}", p.context) for i, p in enumerate(article.paragraphs)]
    ids = [d.id for d in docs]
    texts = {d.id: d.text for d in docs}
    options = method_options()

    def ask(query: str, budget: int, opts: SelectionOptions, **inline: Any) -> Retrieval:
        where = inline or {"document_ids": ids}
        return retrieve(
            corpus, tenant, query=query, counter=counter, max_tokens=budget, options=opts, **where
        )

    # Cold: the article inline, nothing cached (its embeddings are cached after this).
    embedder.remember = False
    started = time.perf_counter()
    ask(questions[0].question, COLD_BUDGET, options["fusion"], documents=docs)
    tally.latency["cold"].append(time.perf_counter() - started)
    corpus.index_documents(tenant, docs)
    in_order = counter.encode("\n\n".join(d.text for d in docs))
    for question in ctx.progress(questions, desc=f"  {article.title}"):
        tally.documents.append(len(docs))
        embedder.remember = False
        for budget in BUDGETS:  # the service's requests, timed
            before = embedder.embedded
            started = time.perf_counter()
            result = ask(question.question, budget, options["fusion"])
            tally.latency[f"warm_{budget}"].append(time.perf_counter() - started)
            tally.misses[budget].append(embedder.embedded - before > 1)
            tally.granularity[budget].append(result.selection.stats.granularity)
            tally.candidates[budget].append(result.selection.stats.candidates)
            _score(tally, "fusion", budget, result.selection, texts, question)
        started = time.perf_counter()
        ask("", COLD_BUDGET, options["fusion"])
        tally.latency["in_order_warm"].append(time.perf_counter() - started)
        embedder.remember = True
        for budget in BUDGETS:
            prefix = counter.decode(in_order[:budget])
            tally.hits["in_order", budget].append(recalled([prefix], question.answers))
            tally.tokens["in_order", budget].append(min(budget, len(in_order)))
            for name in ("bm25", "dense", STORED_ONLY):
                result = ask(question.question, budget, options[name])
                _score(tally, name, budget, result.selection, texts, question)


def _score(
    tally: Tally,
    method: str,
    budget: int,
    selection: Selection,
    texts: dict[str, str],
    question: SquadQuestion,
) -> None:
    hit = recalled(selected_pieces(selection, texts), question.answers)
    tally.hits[method, budget].append(hit)
    tally.tokens[method, budget].append(selection.stats.tokens)


def _percentiles(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"n": 0, "p50_ms": None, "p95_ms": None}
    ms = [s * 1000 for s in seconds]
    pct = percentiles(ms, (50, 95))
    return {"n": len(ms), "p50_ms": pct[50], "p95_ms": pct[95], "mean_ms": statistics.fmean(ms)}


LATENCIES = ("cold", *(f"warm_{b}" for b in BUDGETS), "in_order_warm")


def _figures(
    tally: Tally, articles: list[SquadArticle], chunking: Any, load_s: float, model_id: str
) -> dict[str, Any]:
    options = SelectionOptions()
    every = (*METHODS, STORED_ONLY)
    recall = {m: {str(b): statistics.fmean(tally.hits[m, b]) for b in BUDGETS} for m in every}
    tokens_used = {
        m: {str(b): statistics.fmean(tally.tokens[m, b]) for b in BUDGETS} for m in every
    }
    versus: dict[str, dict[str, Any]] = {}
    for other in ("bm25", "dense", "in_order", STORED_ONLY):
        versus[other] = {}
        for b in BUDGETS:
            pairs = list(zip(tally.hits["fusion", b], tally.hits[other, b], strict=True))
            versus[other][str(b)] = {
                "recall_ratio": ratio(recall["fusion"][str(b)], recall[other][str(b)]),
                "fusion_only": sum(f and not o for f, o in pairs),  # fusion right, other wrong
                "other_only": sum(o and not f for f, o in pairs),
            }
    beats = {
        str(b): all(
            recall["fusion"][str(b)] > recall[o][str(b)] for o in ("bm25", "dense", "in_order")
        )
        for b in BUDGETS
    }
    latency = {name: _percentiles(tally.latency[name]) for name in LATENCIES}
    warm = latency[f"warm_{COLD_BUDGET}"]
    return {
        "questions": len(tally.hits["fusion", BUDGETS[0]]),
        "articles": len(articles),
        "documents_per_question_mean": statistics.fmean(tally.documents),
        "config": {
            "target_model": TARGET_MODEL,
            "embedding_model": model_id,
            "chunk_tokens": chunking.size,
            "chunk_overlap": chunking.overlap,
            "fusion": dataclasses.asdict(options.weights),
            "dedup_threshold": options.dedup_threshold,
            "refine": options.refine,
            "placement": "edges",
            "cold_budget": COLD_BUDGET,
            "torch_threads": TORCH_THREADS,
        },
        "granularity": {str(b): statistics.mode(tally.granularity[b]) for b in BUDGETS},
        "candidates_mean": {str(b): statistics.fmean(tally.candidates[b]) for b in BUDGETS},
        "recall": recall,
        "tokens_used_mean": tokens_used,
        "fusion_versus": versus,
        "fusion_beats_all": beats,
        "latency": latency,
        "warm_cache_miss_share": {str(b): statistics.fmean(tally.misses[b]) for b in BUDGETS},
        "latency_ratios": {
            "cold_vs_warm_p50": ratio(latency["cold"]["p50_ms"], warm["p50_ms"]),
            "warm_vs_in_order_p50": ratio(warm["p50_ms"], latency["in_order_warm"]["p50_ms"]),
            "warm_vs_in_order_p95": ratio(warm["p95_ms"], latency["in_order_warm"]["p95_ms"]),
        },
        "embedder_load_s": load_s,
    }


def _label(method: str) -> str:
    if method == STORED_ONLY:
        return "fusion, stored 256-token chunks only (not the service)"
    return method.replace("_", "-")


def _tables(f: dict[str, Any]) -> str:
    headers = [
        "method",
        *(f"recall @{b}" for b in BUDGETS),
        *(f"fusion / method @{b}" for b in BUDGETS),
    ]
    rows = []
    for m in (*METHODS, STORED_ONLY):
        recall = [f["recall"][m][str(b)] for b in BUDGETS]
        ratios = [ratio(f["recall"]["fusion"][str(b)], f["recall"][m][str(b)]) for b in BUDGETS]
        rows.append([_label(m), *recall, *ratios])
    rows.append(
        ["mean tokens used (fusion)", *(f["tokens_used_mean"]["fusion"][str(b)] for b in BUDGETS)]
        + [None] * len(BUDGETS)
    )
    paired = ["vs", *(f"@{b} fusion-only / other-only" for b in BUDGETS)]
    paired_rows = [
        [_label(o)]
        + [
            f"{f['fusion_versus'][o][str(b)]['fusion_only']} / "
            f"{f['fusion_versus'][o][str(b)]['other_only']}"
            for b in BUDGETS
        ]
        for o in ("bm25", "dense", "in_order", STORED_ONLY)
    ]
    lat = f["latency"]
    lat_rows = [
        [name.replace("_", "-"), lat[name]["n"], lat[name]["p50_ms"], lat[name]["p95_ms"]]
        for name in LATENCIES
    ]
    r, c = f["latency_ratios"], f["config"]
    fusion = c["fusion"]
    return "\n\n".join(
        [
            f"{f['questions']} questions from {f['articles']} articles, "
            f"{f['documents_per_question_mean']:.1f} documents each. Service defaults: "
            f"{c['chunk_tokens']}-token chunks (overlap {c['chunk_overlap']}), refined for "
            "these budgets into sub-chunks of "
            + "/".join(f"{f['granularity'][str(b)]}" for b in BUDGETS)
            + f" tokens; fusion bm25 {fusion['bm25']:g} / dense {fusion['dense']:g}, "
            f"k {fusion['k']:g}; placement {c['placement']}. Fusion beats BM25, dense and "
            "in-order at: "
            + ", ".join(f"{b}: {'yes' if ok else 'NO'}" for b, ok in f["fusion_beats_all"].items()),
            markdown_table(headers, rows),
            "Paired: questions only fusion recalled / only the other method recalled.",
            markdown_table(paired, paired_rows),
            markdown_table(["request", "n", "p50 ms", "p95 ms"], lat_rows),
            f"cold / warm@{COLD_BUDGET} p50: {_fmt(r['cold_vs_warm_p50'])}; warm@{COLD_BUDGET} / "
            f"in-order p50: {_fmt(r['warm_vs_in_order_p50'])}, p95: "
            f"{_fmt(r['warm_vs_in_order_p95'])}. Warm requests that embedded new sub-chunks: "
            + ", ".join(f"@{b} {100 * f['warm_cache_miss_share'][str(b)]:.0f}%" for b in BUDGETS)
            + ".",
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
    left.plot(
        BUDGETS,
        [f["recall"][STORED_ONLY][str(b)] for b in BUDGETS],
        ":",
        color="grey",
        marker="x",
        label="fusion, stored chunks only",
    )
    left.set_xscale("log", base=2)
    left.set_xticks(BUDGETS, [str(b) for b in BUDGETS])
    left.set_xlabel("context budget (tokens)")
    left.set_ylabel("answer recall")
    left.set_ylim(0, 1)
    left.grid(True, alpha=0.3)
    left.legend(fontsize="small")
    p50 = [f["latency"][n]["p50_ms"] or 0 for n in LATENCIES]
    p95 = [f["latency"][n]["p95_ms"] or 0 for n in LATENCIES]
    x = range(len(LATENCIES))
    right.bar([i - 0.2 for i in x], p50, width=0.4, label="p50")
    right.bar([i + 0.2 for i in x], p95, width=0.4, label="p95")
    right.set_xticks(list(x), [n.replace("_", "-") for n in LATENCIES], fontsize="small")
    right.set_yscale("log")
    right.set_ylabel("ms per request (log)")
    right.legend()
    right.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"retrieval on SQuAD v2 dev, service defaults ({f['questions']} questions)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
