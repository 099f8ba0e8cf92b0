"""The semantic cache on hand-written labelled pairs (bench/data/semantic_pairs_eval.jsonl).

Each pair is run as a user sees it through Complete with a fresh context: the
first question is stored alone in a new (tenant, context) bucket, the second
is looked up there. A hit on a same-answer pair is a correct hit (recall); a
hit on a near-miss pair is a false hit. Every matcher sees the same pairs, the
same embeddings and the same cache code, in one run:

- ``verifier`` - the default: cosine prefilter, then the trained verifier (pair
  encoder + feature MLP) at the threshold calibrated for max_false_hit_rate (per
  bound in BOUNDS);
- ``features`` - the previous default: the verifier without the pair encoder
  (the feature MLP alone), at the default bound;
- ``guards`` - the previous default: cosine >= 0.85 and the word-list guards;
- ``cosine only`` - cosine >= 0.85, nothing else.

The suite scores the dev half of that file (never trained, fitted or
calibrated on) and the written calibration split (bench/written_pairs.py:
never trained on, but its near-misses set the thresholds, so its false-hit
rates are near the bound by construction); see bench/data/README.md.

When bench/data/semantic_pairs_holdout.jsonl exists (same schema, written apart
from everything the matcher was built with; nothing else reads it), the suite
reports it too, in the
same per-category table. Categories are not fixed: a category whose pairs are
all label 1 is reported as recall, all label 0 as false hits, and one that holds
both is split into "(same answer)" and "(near-miss)" rows.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from promptpress.bench.frame import DatasetInfo, data_dir, markdown_table
from promptpress.cachekeys import SemanticCache
from promptpress.cachekeys.semantic_cache.pair_encoder import PairEncoder, default_pair_encoder
from promptpress.cachekeys.semantic_cache.verifier import DEFAULT_MAX_FALSE_HIT_RATE, Verifier

EVAL_PATH = Path(__file__).with_name("data") / "semantic_pairs_eval.jsonl"
# An optional held-out file (same schema), added by whoever holds it and run once:
# no model, threshold or template here has seen it. Absent: not reported.
HOLDOUT_PATH = Path(__file__).with_name("data") / "semantic_pairs_holdout.jsonl"
BOUNDS = (0.005, 0.01, 0.02, 0.05)
DEFAULT_BOUND = DEFAULT_MAX_FALSE_HIT_RATE
HOLDOUT_INFO = DatasetInfo(
    name="promptpress semantic-cache pairs (held-out split)",
    version="held-out (bench/data/semantic_pairs_holdout.jsonl)",
    licence="Apache-2.0 (written for this repository)",
    source="bench/data/semantic_pairs_holdout.jsonl, written apart from the matcher's data",
)
INFO = DatasetInfo(
    name="promptpress semantic-cache pairs (hand-written evaluation split)",
    version="1 (bench/data/semantic_pairs_eval.jsonl)",
    licence="Apache-2.0 (written for this repository)",
    source="bench/data/semantic_pairs_eval.jsonl; see bench/data/README.md",
)


@dataclass(frozen=True)
class LabelledPair:
    a: str
    b: str
    label: int  # 1: the same answer serves both
    category: str


def pair_parity(a: str, b: str) -> int:
    """0 or 1 by a fixed hash of the pair (sha256 of `a NUL b`): how pairs are halved."""
    return hashlib.sha256(f"{a}\x00{b}".encode()).digest()[0] % 2


def hand_split(p: LabelledPair) -> str:
    """Which half of the hand-written file a pair is in: "train" (the pair encoder
    trains on it) or "dev" (only scored). By a hash of the pair, fixed."""
    return "dev" if pair_parity(p.a, p.b) else "train"


def load_pairs(path: Path = EVAL_PATH) -> list[LabelledPair]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [LabelledPair(r["a"], r["b"], int(r["label"]), r["category"]) for r in rows]


def _run(
    pairs: Sequence[LabelledPair],
    vec: Callable[[str], np.ndarray],
    tmp: Path,
    **cache_options: Any,
) -> tuple[list[bool], float]:
    """Whether each pair's second question hits its first; mean lookup ms."""
    hits, times = [], []
    with SemanticCache(tmp, dim=384, durable=False, **cache_options) as cache:
        for k, p in enumerate(pairs):
            ctx = f"pair-{k}"  # a fresh context per pair
            cache.store("eval", context_fingerprint=ctx, query_text=p.a, query_vec=vec(p.a),
                        response=str(k))  # fmt: skip
            t0 = time.perf_counter()
            hit = cache.lookup("eval", ctx, p.b, vec(p.b))
            times.append((time.perf_counter() - t0) * 1000)
            hits.append(hit is not None and hit.response == str(k))
    return hits, float(np.mean(times))


def category_keys(pairs: Sequence[LabelledPair]) -> list[str]:
    """Each pair's row name: its category, or "category (same answer|near-miss)" for a
    category that holds both labels (unknown categories are handled alike)."""
    labels: dict[str, set[int]] = defaultdict(set)
    for p in pairs:
        labels[p.category].add(p.label)
    return [
        p.category
        if len(labels[p.category]) == 1
        else f"{p.category} ({'same answer' if p.label else 'near-miss'})"
        for p in pairs
    ]


def score(pairs: Sequence[LabelledPair], hits: Sequence[bool]) -> dict[str, Any]:
    by_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    keys = category_keys(pairs)
    for key, hit in zip(keys, hits, strict=True):
        by_cat[key][0] += hit
        by_cat[key][1] += 1
    pos = [h for p, h in zip(pairs, hits, strict=True) if p.label == 1]
    neg = [h for p, h in zip(pairs, hits, strict=True) if p.label == 0]
    label_of = {key: p.label for key, p in zip(keys, pairs, strict=True)}
    return {
        "recall": sum(pos) / len(pos) if pos else None,
        "false_hit_rate": sum(neg) / len(neg) if neg else None,
        "recall_by_category": {c: h / n for c, (h, n) in sorted(by_cat.items()) if label_of[c]},
        "false_hits_by_category": {
            c: h / n for c, (h, n) in sorted(by_cat.items()) if not label_of[c]
        },
        "pairs_by_category": {c: n for c, (_, n) in sorted(by_cat.items())},
    }


def evaluate(
    embedder: Any,
    embed: Callable[[Sequence[str]], np.ndarray],
    path: Path = EVAL_PATH,
    keep: Callable[[LabelledPair], bool] | None = None,
    pairs: Sequence[LabelledPair] | None = None,
    encoder: PairEncoder | None = None,
) -> dict[str, Any]:
    """Every matcher on the pairs in `path` (those `keep` accepts), or on `pairs`;
    `embed` embeds as the service does; `encoder`: the pair encoder (default: the
    committed one, its base prepared in the service's data directory)."""
    if pairs is None:
        pairs = [p for p in load_pairs(path) if keep is None or keep(p)]
    texts = sorted({t for p in pairs for t in (p.a, p.b)})
    vecs = dict(zip(texts, embed(texts), strict=True))
    out: dict[str, Any] = {"pairs": len(pairs)}
    with tempfile.TemporaryDirectory(prefix="pp-semantic-pairs-") as tmp:
        configs: dict[str, dict[str, Any]] = {
            "guards": {"threshold": 0.85, "guards": True},
            "cosine only": {"threshold": 0.85, "guards": False},
        }
        encoder = encoder or default_pair_encoder(data_dir())  # one copy for every bound
        features = Verifier(embedder, max_false_hit_rate=DEFAULT_BOUND)
        configs[f"features (bound {DEFAULT_BOUND})"] = {"verifier": features}
        roles = None
        for bound in BOUNDS:
            verifier = Verifier(embedder, max_false_hit_rate=bound, encoder=encoder, roles=roles)
            verifier.vectors = features.vectors  # one memo of word vectors for every bound
            roles = verifier.roles  # and one of parses
            configs[f"verifier (bound {bound})"] = {"verifier": verifier}
        for k, (name, options) in enumerate(configs.items()):
            hits, mean_ms = _run(pairs, vecs.__getitem__, Path(tmp) / str(k), **options)
            result = score(pairs, hits)
            result["mean_lookup_ms"] = mean_ms
            if "verifier" in options:
                result["threshold"] = options["verifier"].threshold
            out[name] = result
    return out


def targets_met(
    result: dict[str, Any], max_false: float = 0.01, min_recall: float = 0.60
) -> dict[str, bool]:
    """Per category: near-miss false hits <= 1%, same-answer recall >= 0.60."""
    met = {c: r >= min_recall for c, r in result["recall_by_category"].items()}
    met |= {c: f <= max_false for c, f in result["false_hits_by_category"].items()}
    return met


def tables(result: dict[str, Any], title: str = "evaluation pairs (hand-written)") -> str:
    """Per category and matcher: recall (same-answer pairs) or false-hit rate (near-misses)."""
    names = [k for k in result if isinstance(result[k], dict)]
    first = result[names[0]]
    cats = list(first["recall_by_category"]) + list(first["false_hits_by_category"])
    rows = []
    for c in cats:
        kind = "recall" if c in first["recall_by_category"] else "false hits"
        key = "recall_by_category" if kind == "recall" else "false_hits_by_category"
        rows.append([f"{c} ({kind}, n={first['pairs_by_category'][c]})",
                     *(result[n][key][c] for n in names)])  # fmt: skip
    rows.append(["all same-answer pairs (recall)", *(result[n]["recall"] for n in names)])
    rows.append(["all near-misses (false hits)", *(result[n]["false_hit_rate"] for n in names)])
    met = {n: targets_met(result[n]) for n in names if n.startswith("verifier")}
    rows.append(["targets met (false hits <= 1%, recall >= 0.60)", *(
        f"{sum(met[n].values())}/{len(met[n])}" if n in met else None for n in names
    )])  # fmt: skip
    return markdown_table([title, *names], rows)
