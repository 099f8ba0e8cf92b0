"""Suite `routing`: does the difficulty classifier send the right requests to the cheap
tier, and what does that save against always using the frontier tier?

Labelled requests, from wheels only:
- easy: MT-Bench writing, roleplay, extraction, humanities and STEM questions (first
  turn), and short factual questions (SQuAD v2.0 dev questions, asked without their
  paragraph);
- hard: GSM8K word problems, GPQA diamond (as four-option multiple choice), AIME 2025,
  and MT-Bench coding, math and reasoning questions.

Scorers, each with the product's own code (server/difficulty.py):
- the hand-set heuristic (no training);
- logistic regression on the heuristic features alone;
- logistic regression on features + all-MiniLM-L6-v2 query embedding (the shipped
  trained-model path), trained on one half of every source, evaluated on the other.
Every scorer is evaluated on the same held-out half; the heuristic also on everything.

Cost: prompt tokens counted with the o200k tokenizer; output length is not known
without running models, so it is an assumption per class (ASSUMED_OUTPUT_TOKENS),
the same whichever tier answers. Prices: gpt-4o-mini (small) and gpt-4o (frontier)
from cachekeys' price table. The baseline is always-frontier; "oracle" routes by the
true label.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from promptpress.bench import datasets, plots
from promptpress.bench.frame import DatasetInfo, SuiteContext, SuiteResult, markdown_table, ratio
from promptpress.bench.suites import routing_replay
from promptpress.cachekeys.profiles import load_profiles
from promptpress.server.routing.difficulty import (
    DifficultyClassifier,
    TrainedDifficultyModel,
    extract_features,
    heuristic_score,
)
from promptpress.server.routing.difficulty_train import LabelledExample, train_difficulty_model
from promptpress.server.routing.tiers import Prices
from promptpress.server.routing.usage import Usage, cost_usd
from promptpress.tokens import counter_for
from promptpress.types import Message, Role, Target

NAME = "routing"
TIERS = ("small", "frontier")
THRESHOLD = 0.5
MODELS = {"small": "gpt-4o-mini", "frontier": "gpt-4o"}
EASY_MT = frozenset({"writing", "roleplay", "extraction", "humanities", "stem"})
HARD_MT = frozenset({"coding", "math", "reasoning"})
# Assumed answer lengths (tokens): chat answers are short, worked solutions long.
ASSUMED_OUTPUT_TOKENS = {False: 250, True: 700}


@dataclass(frozen=True)
class Example:
    source: str
    text: str
    hard: bool

    @property
    def messages(self) -> tuple[Message, ...]:
        return (Message(Role.USER, self.text),)


@dataclass(frozen=True)
class Sizes:
    squad: int
    gsm8k: int
    gpqa: int


def _sizes(ctx: SuiteContext) -> Sizes:
    return ctx.by_profile(
        tiny=Sizes(squad=60, gsm8k=30, gpqa=30),
        quick=Sizes(squad=400, gsm8k=200, gpqa=198),
        full=Sizes(squad=1500, gsm8k=1319, gpqa=198),
    )


def _gpqa_prompt(q: datasets.GPQAQuestion) -> str:
    options = [q.correct_answer, *q.incorrect_answers]
    random.Random(q.id).shuffle(options)  # fixed per question, like the payload files
    lines = "\n".join(f"{letter}) {text}" for letter, text in zip("ABCD", options, strict=True))
    return f"{q.question}\n\n{lines}"


def build_examples(ctx: SuiteContext) -> tuple[list[Example], list[DatasetInfo]]:
    sizes = _sizes(ctx)
    mt, mt_info = datasets.mtbench_questions()
    squad, squad_info = datasets.squad_v2_dev()
    gsm, gsm_info = datasets.gsm8k()
    gpqa, gpqa_info = datasets.gpqa_diamond()
    aime, aime_info = datasets.aime2025()
    questions = [q.question for a in squad for p in a.paragraphs for q in p.questions]
    examples = [Example(f"mtbench-{q.category}", q.turns[0], q.category in HARD_MT) for q in mt]
    examples += [
        Example("squad", q, False) for q in datasets.sample(questions, sizes.squad, seed=ctx.seed)
    ]
    examples += [
        Example("gsm8k", p.question, True) for p in datasets.sample(gsm, sizes.gsm8k, seed=ctx.seed)
    ]
    examples += [
        Example("gpqa", _gpqa_prompt(q), True)
        for q in datasets.sample(gpqa, sizes.gpqa, seed=ctx.seed)
    ]
    examples += [Example("aime2025", p.question, True) for p in aime]
    return examples, [mt_info, squad_info, gsm_info, gpqa_info, aime_info]


def split_by_source(examples: Sequence[Example], seed: int) -> tuple[list[Example], list[Example]]:
    """Half of every source to train, half to test, so both halves have every kind."""
    by_source: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_source[e.source].append(e)
    train, test = [], []
    rng = random.Random(seed)
    for source in sorted(by_source):
        items = by_source[source][:]
        rng.shuffle(items)
        half = len(items) // 2
        train += items[:half]
        test += items[half:]
    return train, test


class _PrecomputedEmbedder:
    """Serves embeddings computed once in a batch (the suite embeds every text once)."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, model_id: str) -> None:
        self._rows = {t: v for t, v in zip(texts, vectors, strict=True)}
        self.model_id = model_id
        self.dim = int(vectors.shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._rows[t] for t in texts])


def _embed_all(ctx: SuiteContext, texts: Sequence[str]) -> _PrecomputedEmbedder:
    from promptpress.retrieval.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    unique = list(dict.fromkeys(texts))
    batches = [unique[i : i + 64] for i in range(0, len(unique), 64)]
    vectors = [embedder.embed(b) for b in ctx.progress(batches, desc="routing: embed")]
    return _PrecomputedEmbedder(unique, np.vstack(vectors), embedder.model_id)


def _prices() -> tuple[dict[str, Prices], str]:
    profiles = load_profiles()
    out = {}
    for tier, model in MODELS.items():
        target = profiles.resolve(Target("openai", model))
        out[tier] = Prices(
            input=target.input_price(),
            cached_input=target.input_price(),
            cache_write=target.input_price(),
            output=target.output_price(),
        )
    return out, profiles.checked_on


def evaluate(
    scores: Sequence[float],
    examples: Sequence[Example],
    prompt_tokens: Sequence[int],
    prices: dict[str, Prices],
    threshold: float = THRESHOLD,
) -> dict[str, Any]:
    """Accuracy, share sent cheap, hard recall and cost against always-frontier."""
    frontier = [s >= threshold for s in scores]
    hard = [e.hard for e in examples]
    n_hard = sum(hard)
    n_easy = len(hard) - n_hard

    def cost(tier_of: Sequence[bool]) -> float:
        total = 0.0
        for to_frontier, e, p in zip(tier_of, examples, prompt_tokens, strict=True):
            usage = Usage(prompt_tokens=p, completion_tokens=ASSUMED_OUTPUT_TOKENS[e.hard])
            total += cost_usd(usage, prices["frontier" if to_frontier else "small"])
        return total

    routed, always_frontier = cost(frontier), cost([True] * len(examples))
    return {
        "n": len(examples),
        "accuracy": sum(f == h for f, h in zip(frontier, hard, strict=True)) / len(hard),
        "cheap_share": 1 - sum(frontier) / len(frontier),
        "hard_to_frontier": sum(f and h for f, h in zip(frontier, hard, strict=True))
        / max(1, n_hard),
        "easy_to_cheap": sum(not f and not h for f, h in zip(frontier, hard, strict=True))
        / max(1, n_easy),
        "cost_usd": routed,
        "always_frontier_cost_usd": always_frontier,
        "cost_ratio": ratio(routed, always_frontier),
        "oracle_cost_ratio": ratio(cost(hard), always_frontier),
    }


def per_source_accuracy(
    scores: Sequence[float], examples: Sequence[Example], threshold: float = THRESHOLD
) -> dict[str, float]:
    right: dict[str, list[bool]] = defaultdict(list)
    for s, e in zip(scores, examples, strict=True):
        right[e.source].append((s >= threshold) == e.hard)
    return {src: sum(v) / len(v) for src, v in sorted(right.items())}


def sweep(
    scores: Sequence[float],
    examples: Sequence[Example],
    prompt_tokens: Sequence[int],
    prices: dict[str, Prices],
) -> list[dict[str, float]]:
    out = []
    for t in np.linspace(0.05, 0.95, 19):
        r = evaluate(scores, examples, prompt_tokens, prices, float(t))
        out.append({"threshold": round(float(t), 2), "cost_ratio": r["cost_ratio"],
                    "hard_to_frontier": r["hard_to_frontier"], "accuracy": r["accuracy"]})  # fmt: skip
    return out


def _plot(ctx: SuiteContext, curves: dict[str, list[dict[str, float]]]) -> Any:
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, points in curves.items():
        xs = [p["cost_ratio"] for p in points]
        ys = [p["hard_to_frontier"] for p in points]
        ax.plot(xs, ys, marker="o", markersize=3, label=name)
        mid = next(p for p in points if p["threshold"] == THRESHOLD)
        ax.scatter(
            [mid["cost_ratio"]], [mid["hard_to_frontier"]], s=60, edgecolors="black", zorder=3
        )
    ax.set_xlabel("cost relative to always-frontier")
    ax.set_ylabel("share of hard requests sent to the frontier")
    ax.set_title("Routing trade-off (held-out split; ringed: threshold 0.5)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    path = ctx.out_dir / "routing_tradeoff.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(ctx: SuiteContext) -> SuiteResult:
    examples, infos = build_examples(ctx)
    train, test = split_by_source(examples, ctx.seed)
    counter = counter_for(MODELS["frontier"])
    prices, checked_on = _prices()
    tokens = {e.text: counter.count_messages(e.messages) for e in examples}
    replays, replay_info = routing_replay.load_replays(ctx)
    embedder = _embed_all(
        ctx, [e.text for e in examples] + routing_replay.replay_questions(replays)
    )

    train_set = [LabelledExample(e.messages, e.hard) for e in train]
    with_embedding, _ = train_difficulty_model(
        train_set, embedder, embedding_model=embedder.model_id, seed=ctx.seed
    )
    features_only, _ = train_difficulty_model(train_set, None, seed=ctx.seed)

    def scores_of(model: TrainedDifficultyModel | None, items: Sequence[Example]) -> list[float]:
        if model is None:
            return [heuristic_score(extract_features(e.messages, counter.count)) for e in items]
        classifier = DifficultyClassifier(TIERS, (THRESHOLD,), model=model, embedder=embedder,
                                          count_tokens=counter.count)  # fmt: skip
        return [classifier.score(e.messages)[0] for e in ctx.progress(items, desc="routing: score")]

    test_tokens = [tokens[e.text] for e in test]
    scorers = {"heuristic": None, "trained (features)": features_only,
               "trained (features + embedding)": with_embedding}  # fmt: skip
    results, curves, by_source = {}, {}, {}
    for name, model in scorers.items():
        s = scores_of(model, test)
        results[name] = evaluate(s, test, test_tokens, prices)
        curves[name] = sweep(s, test, test_tokens, prices)
        by_source[name] = per_source_accuracy(s, test)
    all_scores = scores_of(None, examples)
    results["heuristic (all data)"] = evaluate(
        all_scores, examples, [tokens[e.text] for e in examples], prices
    )

    rows = [
        [name, r["n"], r["accuracy"], r["cheap_share"], r["hard_to_frontier"], r["easy_to_cheap"],
         r["cost_ratio"], r["oracle_cost_ratio"]]
        for name, r in results.items()
    ]  # fmt: skip
    table = markdown_table(
        ["scorer (threshold 0.5)", "requests", "accuracy", "sent to small", "hard → frontier",
         "easy → small", "cost vs always-frontier", "oracle cost"],
        rows,
    )  # fmt: skip
    replay_scorers = {"heuristic": None, "trained (features + embedding)": with_embedding}
    replay_results = {}
    for name, model in replay_scorers.items():
        classifier = DifficultyClassifier(TIERS, (THRESHOLD,), model=model, embedder=embedder,
                                          count_tokens=counter.count)  # fmt: skip
        replay_results[name] = routing_replay.evaluate_replays(
            replays,
            classifier,
            counter.count_messages,
            prices,
        )
    replay_rows = [
        [name, rule, r["conversations"], r["turns"], r["downward_changes_per_conversation"],
         r["conversations_with_a_downward_change"], r["frontier_share"], r["cost_ratio"]]
        for name, rules in replay_results.items()
        for rule, r in rules.items()
    ]  # fmt: skip
    sources = sorted({e.source for e in test})
    source_rows = [[src, *(by_source[name][src] for name in scorers)] for src in sources]
    table += "\n\nHeld-out accuracy by source:\n\n" + markdown_table(
        ["source", *scorers], source_rows
    )
    table += (
        "\n\nMulti-turn replays (ShareGPT conversations, turn by turn; threshold 0.5):\n\n"
        + markdown_table(
            [
                "scorer",
                "tier rule",
                "conversations",
                "turns",
                "downward changes / conversation",
                "conversations with one",
                "turns to frontier",
                "cost vs always-frontier",
            ],
            replay_rows,
        )
    )
    figures = {
        "threshold": THRESHOLD,
        "replays": replay_results,
        "train_examples": len(train),
        "test_examples": len(test),
        "hard_share_test": sum(e.hard for e in test) / len(test),
        "results": results,
        "per_source_accuracy": by_source,
        "sweep": curves,
        "prices_usd_per_mtok": {
            t: {"model": MODELS[t], "input": p.input, "output": p.output} for t, p in prices.items()
        },
        "prices_checked_on": checked_on,
        "assumed_output_tokens": {
            "easy": ASSUMED_OUTPUT_TOKENS[False],
            "hard": ASSUMED_OUTPUT_TOKENS[True],
        },
    }
    notes = (
        f"Tiers: small = {MODELS['small']}, frontier = {MODELS['frontier']} (cachekeys price table, "
        f"checked {checked_on}). Output tokens assumed: {ASSUMED_OUTPUT_TOKENS[False]} (easy) and "
        f"{ASSUMED_OUTPUT_TOKENS[True]} (hard), the same on either tier. Trained scorers are fitted on "
        "half of each source and evaluated on the other half; the heuristic's weights were set by hand "
        "while looking at these datasets, so its numbers are optimistic. Replays: the first "
        f"ShareGPT conversations with 2+ user turns (at most {routing_replay.MAX_TURNS} turns, "
        f"messages cut at {routing_replay.MAX_CHARS} characters), "
        f"{routing_replay.REPLAY_OUTPUT_TOKENS} output tokens assumed per turn."
    )
    return SuiteResult(
        suite=NAME,
        datasets=[*infos, replay_info],
        figures=figures,
        table_md=table,
        plots=[_plot(ctx, curves)],
        notes=notes,
    )
