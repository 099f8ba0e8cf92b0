"""Suite `semantic_cache`: does the semantic cache answer paraphrases, refuse near-misses,
and look up fast at 100,000 entries?

Labelled lookups, built from SQuAD v2.0 dev (one cache context per paragraph; its
answerable questions are the stored entries, answers are their ids):

- ``paraphrase`` (must hit the question it rewrites): rule-based rewrites of a
  stored question: polite wrappers, question-word rewrites, contractions,
  lower case without punctuation, a typo; one or two per probe. Easier than
  human paraphrases, so recall here is an upper bound.
- near-misses (must not hit anything): ``negation`` (an auxiliary negated:
  is -> isn't), ``entity`` (a capitalised name swapped for one from another
  article), ``number`` (a number, year or month changed), ``context`` (the very
  same question asked in another paragraph's context), and ``squad-adversarial``:
  SQuAD 2.0's human-written unanswerable questions that are near-copies
  (token Jaccard >= 0.6) of a stored answerable one in the same paragraph.

Embeddings: the real all-MiniLM-L6-v2. Configurations, all in this run:
promptpress (context-scoped + guards), without guards, without context (one
bucket per tenant, like context-free caches), and cosine only. One lookup at
the lowest threshold decides every higher threshold (candidates are checked
best first).

Latency: 100,000 entries for one tenant: the SQuAD question embeddings plus
normalised sums of random pairs of them (same region of the space as real
queries). Lookup p50/p95 with everything in one context (the worst case: a
bucket of 100k, sign-bit prefilter) against brute-force scoring of the same
bucket, and spread over 1,000 contexts; plus how often the prefilter returns
the entry brute force returns. With the verifier, the p50 of each kind of lookup
too (real paraphrases, near duplicates, unrelated vectors).

Pair encoder runtime: ms per forward pass of the served graph (ONNX Runtime,
int8 per output channel) against torch's dynamic int8 (what served until
session 7) and float32, on the same written pairs back to back, and how far
each int8 path moves the logit from float32's.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from promptpress.bench import datasets, plots, semantic_pairs, written_pairs
from promptpress.bench.frame import (
    SuiteContext,
    SuiteResult,
    data_dir,
    markdown_table,
    ratio,
    torch_threads,
)
from promptpress.bench.suites.semantic_cache_probes import Probe, build_probes
from promptpress.cachekeys import Entry, SemanticCache
from promptpress.cachekeys.keys import normalize_query
from promptpress.cachekeys.semantic_cache.pair_encoder import (
    PairEncoder,
    default_pair_encoder,
    merged_model,
)
from promptpress.cachekeys.semantic_cache.verifier import Verifier
from promptpress.retrieval import SentenceTransformerEmbedder

NAME = "semantic_cache"
THRESHOLDS = (0.80, 0.85, 0.88, 0.90, 0.92, 0.95)
DEFAULT = 0.85  # SemanticCache's default threshold
# The guard word lists were written while reading false hits on these samples
# (300 paragraphs each, drawn with these seeds); results are also reported without them.
DEV_SAMPLES = ((300, 0), (300, 1_000_003))
SAMPLE_SALT = 2_000_003  # runs draw their paragraphs apart from the development samples
NEAR_MISS = ("negation", "entity", "number", "context", "squad-adversarial")
CONFIGS = {  # name -> (context-scoped, guards)
    "promptpress": (True, True),
    "no guards": (True, False),
    "no context": (False, True),
    "cosine only": (False, False),
}
TENANT = "bench"
TORCH_THREADS = 1  # as the service (ServerConfig.torch_threads)

# --- accuracy --------------------------------------------------------------------


def evaluate(stored, probes, vecs: dict[str, np.ndarray], tmp: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Per configuration: for every probe, the best passing hit's (entry id, similarity)."""
    results: dict[str, list[tuple[str | None, float]]] = {}
    for name, (scoped, guards) in CONFIGS.items():
        with SemanticCache(tmp / name.replace(" ", "_"), dim=384, threshold=min(THRESHOLDS),
                           guards=guards, durable=False) as cache:  # fmt: skip
            entries = [Entry(ctx if scoped else "", q, vecs[q], qid) for ctx, qid, q in stored]
            for k in range(0, len(entries), 2000):
                cache.store_many(TENANT, entries[k : k + 2000])
            out: list[tuple[str | None, float]] = []
            for p in probes:
                hit = cache.lookup(TENANT, p.context if scoped else "", p.text, vecs[p.text])
                out.append((hit.response, hit.similarity) if hit else (None, 0.0))
            results[name] = out
    return results


def score(
    probes: Sequence[Probe],
    outcome: Sequence[tuple[str | None, float]],
    threshold: float,
    keep: Any = None,
) -> dict[str, Any]:
    """Precision, recall and false-hit rates at one threshold (over probes `keep` accepts)."""
    pairs = [(p, o) for p, o in zip(probes, outcome, strict=True) if keep is None or keep(p)]
    probes, outcome = [p for p, _ in pairs], [o for _, o in pairs]
    hits = correct = 0
    by_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # category -> [false hits, probes]
    positives = sum(1 for p in probes if p.expect)
    for p, (got, sim) in zip(probes, outcome, strict=True):
        hit = got is not None and sim >= threshold
        hits += hit
        correct += hit and got == p.expect
        if p.expect is None:
            by_cat[p.category][0] += hit
        by_cat[p.category][1] += 1
    near = [c for c in NEAR_MISS if c != "squad-adversarial"]
    synthetic = [sum(by_cat[c][i] for c in near) for i in (0, 1)]
    return {
        "precision": correct / hits if hits else None,
        "recall": correct / positives if positives else None,
        "false_hit_rate_near_miss": synthetic[0] / synthetic[1] if synthetic[1] else None,
        "false_hit_rate": {c: by_cat[c][0] / by_cat[c][1] for c in NEAR_MISS if by_cat[c][1]},
        "probes": {c: by_cat[c][1] for c in by_cat},
    }


# --- latency ---------------------------------------------------------------------


def fill_vectors(real: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors: the real ones, then normalised sums of random pairs of them."""
    extra = max(0, n - len(real))
    i, j = rng.integers(0, len(real), extra), rng.integers(0, len(real), extra)
    mixed = real[i] + real[j]
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    return np.concatenate([real, mixed])[:n].astype(np.float32)


def _timed_lookups(
    cache: SemanticCache, queries: Sequence[tuple[str, str, np.ndarray]]
) -> tuple[list[float], list[Any]]:
    times, hits = [], []
    for ctx, text, vec in queries:
        t0 = time.perf_counter()
        hit = cache.lookup(TENANT, ctx, text, vec)
        times.append((time.perf_counter() - t0) * 1000)
        hits.append(hit.response if hit else None)
    return times, hits


def latency_queries(
    vectors: np.ndarray,
    texts: Sequence[str],
    paraphrases: Sequence[tuple[int, str, np.ndarray]],
    rng: np.random.Generator,
) -> list[tuple[int, str, np.ndarray, str]]:
    """(entry, text, vector, kind) lookups: up to 300 real paraphrases of stored
    questions, 200 near duplicates of random entries (both should hit) and 100
    unrelated vectors (misses)."""
    n, dim = vectors.shape
    near = [(int(m), texts[m % len(texts)], vectors[m] + 0.02 * rng.standard_normal((dim,)).astype(np.float32), "near duplicate")
            for m in rng.integers(0, n, 200)]  # fmt: skip
    miss = [(int(m), "an unrelated question about nothing in particular", rng.standard_normal((dim,)).astype(np.float32), "unrelated")
            for m in rng.integers(0, n, 100)]  # fmt: skip
    return [*((m, t, v, "paraphrase") for m, t, v in paraphrases[:300]), *near, *miss]


def p50_by_kind(times: Sequence[float], kinds: Sequence[str]) -> dict[str, float]:
    """The p50 of each kind of lookup."""
    return {kind: float(np.percentile([t for t, k in zip(times, kinds, strict=True) if k == kind], 50))
            for kind in dict.fromkeys(kinds)}  # fmt: skip


def latency(
    vectors: np.ndarray,
    texts: Sequence[str],
    queries: Sequence[tuple[int, str, np.ndarray, str]],
    tmp: Path,
    verifier: Verifier | None = None,
) -> dict[str, Any]:
    """p50/p95 lookup latency with len(vectors) entries for one tenant; with a verifier,
    the same lookups again with every candidate verified."""
    n = len(vectors)
    out: dict[str, Any] = {"entries": n, "lookups": len(queries)}
    if verifier is not None:
        verifier.warm(list(texts))  # as stores would have, so lookups find the words embedded
    for layout, contexts in (("one context", 1), ("1,000 contexts", 1000)):
        with SemanticCache(tmp / f"lat{contexts}", dim=vectors.shape[1], durable=False,
                           max_entries_per_tenant=n + 1) as cache:  # fmt: skip
            for k in range(0, n, 5000):
                cache.store_many(TENANT, [Entry(f"ctx{m % contexts}", texts[m % len(texts)], vectors[m], str(m))
                                          for m in range(k, min(n, k + 5000))])  # fmt: skip
            lookups = [(f"ctx{m % contexts}", text, v) for m, text, v, _ in queries]
            t0 = time.perf_counter()
            cache.lookup(TENANT, *lookups[0])  # loads the bucket from LMDB
            cold_ms = (time.perf_counter() - t0) * 1000
            _timed_lookups(cache, lookups[:20])  # warm-up
            times, hits = _timed_lookups(cache, lookups)
            cell: dict[str, Any] = {"cold_first_lookup_ms": cold_ms, "p50_ms": float(np.percentile(times, 50)),
                                    "p95_ms": float(np.percentile(times, 95)),
                                    "hit_rate": sum(h is not None for h in hits) / len(hits)}  # fmt: skip
            if verifier is not None:
                cache.verifier = verifier
                calls, seconds, encoded = verifier.calls, verifier.seconds, verifier.encoded
                v_times, v_hits = _timed_lookups(cache, lookups)
                cell["verified_p50_ms"] = float(np.percentile(v_times, 50))
                cell["verified_p95_ms"] = float(np.percentile(v_times, 95))
                cell["verified_p50_ms_by_kind"] = p50_by_kind(v_times, [q[3] for q in queries])
                cell["verified_p50_ratio_vs_prefilter_only"] = ratio(
                    cell["verified_p50_ms"], cell["p50_ms"]
                )
                cell["verified_hit_rate"] = sum(h is not None for h in v_hits) / len(v_hits)
                cell["candidates_verified_per_lookup"] = (verifier.calls - calls) / len(lookups)
                cell["candidates_encoded_per_lookup"] = (verifier.encoded - encoded) / len(lookups)
                cell["verification_ms_per_candidate"] = (
                    1000 * (verifier.seconds - seconds) / max(1, verifier.calls - calls)
                )
                cache.verifier = None
            if contexts == 1:
                cache.exact_scan_limit = n + 1  # the baseline: brute-force scoring of the bucket
                brute_times, brute_hits = _timed_lookups(cache, lookups)
                cell["brute_force_p50_ms"] = float(np.percentile(brute_times, 50))
                cell["p50_ratio_vs_brute_force"] = ratio(cell["p50_ms"], cell["brute_force_p50_ms"])
                found = [h for h in brute_hits if h is not None]
                agree = sum(
                    1 for a, b in zip(hits, brute_hits, strict=True) if b is not None and a == b
                )
                cell["prefilter_agreement"] = agree / len(found) if found else None
                cell["brute_force_hits"] = len(found)
            out[layout] = cell
    return out


def encoder_runtime(encoder: PairEncoder, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """ms per forward pass of the served graph (ONNX Runtime, int8 per output channel)
    against what served before it (torch's dynamic int8, one scale per matrix) and the
    float32 model, on the same pairs back to back, and how far each int8 path moves
    the logit from float32's."""
    import torch

    tokenizer, model = merged_model(encoder.path, encoder.base_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        per_matrix = torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8
        )

    def run_torch(m: Any) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for a, b in pairs:
                enc = tokenizer(a, b, truncation=True, max_length=encoder.meta.max_length,
                                return_tensors="pt")  # fmt: skip
                out.append(float(m(enc["input_ids"], enc["attention_mask"]).reshape(-1)[0]))
        return np.array(out)

    two_threads = PairEncoder(encoder.path, base_dir=encoder.base_dir,
                              cache_dir=encoder.cache_dir, threads=2)  # the same graph  # fmt: skip
    runs = {"onnx_int8": lambda: encoder.logits(pairs), "torch_int8": lambda: run_torch(per_matrix),
            "float32": lambda: run_torch(model),
            "onnx_int8_two_threads": lambda: two_threads.logits(pairs)}  # fmt: skip
    ms, logits = {}, {}
    for name, run in runs.items():
        run()  # warm-up
        t0 = time.perf_counter()
        logits[name] = np.asarray(run(), dtype=np.float64)
        ms[name] = (time.perf_counter() - t0) * 1000 / len(pairs)
    out: dict[str, Any] = {"pairs": len(pairs), "ms_per_pass": ms,
                           "onnx_int8_ratio_vs_torch_int8": ratio(ms["onnx_int8"], ms["torch_int8"])}  # fmt: skip
    for name in ("onnx_int8", "torch_int8"):
        shift = np.abs(logits[name] - logits["float32"])
        out[f"{name}_logit_shift_vs_float32"] = {
            "mean": float(shift.mean()),
            "max": float(shift.max()),
        }
    return out


# --- the suite -------------------------------------------------------------------


def run(ctx: SuiteContext) -> SuiteResult:
    # One intra-op thread while this suite runs, as the service does by default
    # (torch_threads = 1): on a shared 2-core machine two threads made the pair
    # encoder's forward pass tens of times slower (OpenMP spin-waiting; see
    # retrieval.py). Restored after.
    with torch_threads(TORCH_THREADS):
        return _run(ctx)


def _run(ctx: SuiteContext) -> SuiteResult:
    articles, info = datasets.squad_v2_dev()
    paragraphs = [p for a in articles for p in a.paragraphs]
    n_par = ctx.sample_size(tiny=15, quick=300, full=len(paragraphs))
    chosen = datasets.sample(paragraphs, n_par, seed=ctx.seed + SAMPLE_SALT)
    rng = ctx.rng("semantic-cache")
    stored, probes = build_probes(chosen, rng)
    dev = {id(p) for n, seed in DEV_SAMPLES for p in datasets.sample(paragraphs, n, seed=seed)}
    held_out = {i for i, p in enumerate(chosen) if id(p) not in dev}
    model = SentenceTransformerEmbedder(
        batch_size=64
    )  # the service's default model, all-MiniLM-L6-v2
    all_questions = [q.question.strip() for p in paragraphs for q in p.questions]
    fill_source = all_questions[
        : ctx.sample_size(tiny=1000, quick=len(all_questions), full=len(all_questions))
    ]
    texts = sorted({q for _, _, q in stored} | {p.text for p in probes} | set(fill_source))
    matrix = np.concatenate(
        [
            # As the service embeds a query (cachekeys.semantic.query_vector): normalised first.
            model.embed([normalize_query(t) for t in texts[k : k + 512]])
            for k in ctx.progress(range(0, len(texts), 512), desc="embedding")
        ]
    )
    vecs = dict(zip(texts, matrix, strict=True))
    with tempfile.TemporaryDirectory(prefix="pp-semantic-bench-") as tmp:
        outcomes = evaluate(stored, probes, vecs, Path(tmp))
        accuracy = {
            name: {f"{t:.2f}": score(probes, out, t) for t in THRESHOLDS}
            for name, out in outcomes.items()
        }
        if held_out:
            accuracy["promptpress, held-out paragraphs"] = {
                f"{t:.2f}": score(
                    probes, outcomes["promptpress"], t, lambda p: p.paragraph in held_out
                )
                for t in THRESHOLDS
            }
        n_entries = ctx.sample_size(tiny=5_000, quick=100_000, full=100_000)
        real = np.stack([vecs[q] for q in fill_source])
        row_of = {q: i for i, q in enumerate(fill_source)}
        question_of = {qid: q for _, qid, q in stored}
        paraphrases = [(row_of[question_of[p.expect]], p.text, vecs[p.text]) for p in probes
                       if p.expect and question_of[p.expect] in row_of]  # fmt: skip
        fill = fill_vectors(real, n_entries, np.random.default_rng(ctx.seed))
        queries = latency_queries(
            fill, fill_source, paraphrases, np.random.default_rng(ctx.seed + 1)
        )
        verifier = Verifier(
            model, encoder=default_pair_encoder(data_dir())
        )  # the service's default
        lat = latency(fill, fill_source, queries, Path(tmp), verifier)
        assert verifier.encoder is not None
        runtime = encoder_runtime(verifier.encoder, [(p.a, p.b) for p in written_pairs.split()
                                                     ["calibration"][: ctx.sample_size(tiny=8, quick=80, full=200)]])  # fmt: skip

    def embed(texts: Sequence[str]) -> np.ndarray:
        return model.embed([normalize_query(t) for t in texts])

    # The hand-written file's "train" half trains the pair encoder: only the other
    # half is reported (bench/data/README.md).
    pairs = semantic_pairs.evaluate(
        model, embed, keep=lambda p: semantic_pairs.hand_split(p) == "dev"
    )
    # Never trained on, but its near-misses set the thresholds: shown for the recall
    # that the thresholds leave and how the bound holds per category.
    calibration = semantic_pairs.evaluate(model, embed, pairs=written_pairs.split()["calibration"])
    holdout = None
    if semantic_pairs.HOLDOUT_PATH.exists():  # optional: added by its author, run once
        holdout = semantic_pairs.evaluate(model, embed, semantic_pairs.HOLDOUT_PATH)
    counts: defaultdict[str, int] = defaultdict(int)
    for p in probes:
        counts[p.category] += 1
    figures = {"stored_entries": len(stored), "probes": dict(counts), "default_threshold": DEFAULT,
               "accuracy": accuracy, "latency": lat, "encoder_runtime": runtime,
               "embedder": model.model_id,
               "eval_pairs": pairs, "calibration_pairs": calibration, "holdout_pairs": holdout,
               "torch_threads": TORCH_THREADS}  # fmt: skip
    held = "" if holdout is None else semantic_pairs.tables(holdout, "held-out pairs") + "\n\n"
    return SuiteResult(
        suite=NAME,
        datasets=[info, semantic_pairs.INFO, written_pairs.CALIBRATION_INFO]
        + ([semantic_pairs.HOLDOUT_INFO] if holdout is not None else []),
        figures=figures,
        table_md=held
        + semantic_pairs.tables(pairs, "hand-written dev half")
        + "\n\n"
        + semantic_pairs.tables(calibration, "written calibration split")
        + "\n\n"
        + _tables(accuracy, lat, counts)
        + "\n\n"
        + _runtime_table(runtime),
        plots=[_plot(ctx, accuracy)],
        notes=(
            f"{len(stored):,} stored questions in {n_par} contexts (SQuAD paragraphs; "
            f"{len(held_out)} not in the sample the guard word lists were tuned on); probes: "
            + ", ".join(f"{c} {n}" for c, n in sorted(counts.items()))
            + f". Accuracy at the default threshold {DEFAULT}; every threshold is in the JSON. "
            "Near-miss false-hit rate = hits / probes over negation, entity, number and context "
            "near-misses; squad-adversarial (human-written unanswerable near-copies) reported apart. "
            "The SQuAD probes above use the older matchers; the verifier (the default) is judged on "
            f"the dev half of the hand-written pairs ({pairs['pairs']} pairs; never trained or "
            f"calibrated on) and the written calibration split ({calibration['pairs']} pairs; never "
            "trained on, its near-misses set the thresholds)"
            + (
                ""
                if holdout is None
                else f" and on the held-out pairs ({holdout['pairs']}, first table)"
            )
            + "."
        ),
    )


def _tables(accuracy: dict[str, Any], lat: dict[str, Any], counts: dict[str, int]) -> str:
    rows = []
    for name, by_t in accuracy.items():
        s = by_t[f"{DEFAULT:.2f}"]
        fh = s["false_hit_rate"]
        rows.append([name, s["precision"], s["recall"], s["false_hit_rate_near_miss"],
                     *(fh.get(c) for c in NEAR_MISS)])  # fmt: skip
    acc = markdown_table(["configuration", "precision", "recall", "false hits (near-misses)",
                          *(f"false hits: {c}" for c in NEAR_MISS)], rows)  # fmt: skip
    one, spread = lat["one context"], lat["1,000 contexts"]
    lat_rows = [
        [f"{lat['entries']:,} in one context (prefilter)", one["p50_ms"], one["p95_ms"], one.get("verified_p50_ms"),
         one.get("verified_p95_ms"), _by_kind(one), one.get("candidates_verified_per_lookup"), one.get("candidates_encoded_per_lookup"), one.get("verification_ms_per_candidate"),
         one["brute_force_p50_ms"], one["prefilter_agreement"], one["cold_first_lookup_ms"]],
        [f"{lat['entries']:,} over 1,000 contexts", spread["p50_ms"], spread["p95_ms"], spread.get("verified_p50_ms"),
         spread.get("verified_p95_ms"), _by_kind(spread), spread.get("candidates_verified_per_lookup"), spread.get("candidates_encoded_per_lookup"),
         spread.get("verification_ms_per_candidate"), None, None, spread["cold_first_lookup_ms"]],
    ]  # fmt: skip
    lat_md = markdown_table(["entries (one tenant)", "lookup p50 ms (prefilter)", "p95 ms", "verified p50 ms",
                             "verified p95 ms", "verified p50 ms: paraphrase / near duplicate / unrelated",
                             "candidates verified / lookup", "encoded / lookup", "ms / candidate",
                             "brute-force p50 ms", "prefilter finds brute force's hit", "cold first lookup ms"],
                            lat_rows)  # fmt: skip
    return acc + "\n\n" + lat_md


def _by_kind(cell: dict[str, Any]) -> str | None:
    by_kind = cell.get("verified_p50_ms_by_kind")
    return " / ".join(f"{ms:.3g}" for ms in by_kind.values()) if by_kind else None


def _runtime_table(runtime: dict[str, Any]) -> str:
    labels = {"onnx_int8": "ONNX Runtime int8, per channel (served)",
              "onnx_int8_two_threads": "the same, two intra-op threads (torch_threads = 2)",
              "torch_int8": "torch dynamic int8, per matrix (served until session 7)",
              "float32": "float32 (torch)"}  # fmt: skip
    rows = [[label, runtime["ms_per_pass"][name],
             (runtime.get(f"{name}_logit_shift_vs_float32") or {}).get("mean"),
             (runtime.get(f"{name}_logit_shift_vs_float32") or {}).get("max")]
            for name, label in labels.items()]  # fmt: skip
    return markdown_table(
        [f"pair encoder pass ({runtime['pairs']} written pairs, one thread unless stated)", "ms / pass",
         "mean logit shift vs float32", "max shift"], rows,
    )  # fmt: skip


def _plot(ctx: SuiteContext, accuracy: dict[str, Any]) -> Path:
    plt = plots.pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, by_t in accuracy.items():
        ts = [float(t) for t in by_t]
        ax1.plot([by_t[t]["recall"] or 0 for t in by_t], [by_t[t]["precision"] or 1 for t in by_t],
                 marker="o", label=name)  # fmt: skip
        ax2.plot(
            ts, [by_t[t]["false_hit_rate_near_miss"] or 0 for t in by_t], marker="o", label=name
        )
    ax1.set_xlabel("recall (paraphrases)")
    ax1.set_ylabel("precision")
    ax1.set_title("precision / recall over thresholds 0.80-0.95")
    ax2.axhline(0.02, color="grey", linestyle="--", linewidth=1)
    ax2.set_xlabel("cosine threshold")
    ax2.set_ylabel("false-hit rate on near-misses")
    ax2.set_title("near-misses served (2% line dashed)")
    for ax in (ax1, ax2):
        ax.legend()
    fig.tight_layout()
    path = ctx.out_dir / "semantic_cache_accuracy.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
