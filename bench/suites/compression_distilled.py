"""Suite `distilled`: the distilled compressor (the default) against its teacher, on held-out data.

A suite of its own, beside `compression` (which compares promptpress's SmolLM2
methods with llmlingua's reference), so that 200+ held-out paragraphs fit in
a quick run.

Held out: SQuAD v2.0 dev paragraphs from the articles bench/distill_data.py
never labels for training (split by article), minus the 100 pairs the
LongLLMLingua weights were tuned on; each with one random answerable
question. In one run, one torch thread, the same items:

- distilled (question-aware) vs promptpress LongLLMLingua (SmolLM2 int8, the
  previous default) vs head truncation, at rates 0.5 / 0.33 / 0.2: answers
  kept, with a 95% bootstrap interval for each and for the paired difference
  distilled - LongLLMLingua;
- distilled without a question vs promptpress LLMLingua (SmolLM2), on the
  first 80 of those items (quick profile; 200 in full);
- throughput of each (original tokens per second of cold compression: scoring
  once plus the exact budget search at one rate);
- agreement with the teacher: Spearman correlation of the per-unit scores on
  the SQuAD items and on held-out ShareGPT turns (conversations never labelled).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from promptpress.bench import distill_data, plots
from promptpress.bench.frame import SuiteContext, SuiteResult, markdown_table, ratio
from promptpress.compressor.compress import Compressor
from promptpress.compressor.methods import Prepared
from promptpress.compressor.settings import CompressionSettings
from promptpress.types import CompressionMethod

NAME = "distilled"
DISTILLED, DISTILLED_NOQ = "distilled (question-aware)", "distilled (no question)"
LONG, LLML, TRUNC = "SmolLM2 LongLLMLingua", "SmolLM2 LLMLingua", "head truncation"
ORDER = (DISTILLED, LONG, DISTILLED_NOQ, LLML, TRUNC)
BOOTSTRAP = 2000


@dataclass(frozen=True)
class HeldOut:
    context: str
    question: str
    answers: tuple[str, ...]


def held_out_items(ctx: SuiteContext, excluded: set[str]) -> list[HeldOut]:
    from promptpress.bench import datasets

    _, held = distill_data.squad_split(distill_data.SEED)
    titles = set(held)
    rng = ctx.rng("held-out question")
    pool = []
    for a in datasets.squad_v2_dev().items:
        if a.title not in titles:
            continue
        for p in a.paragraphs:
            answerable = [q for q in p.questions if not q.is_impossible]
            if answerable and p.context not in excluded:
                q = rng.choice(answerable)
                pool.append(HeldOut(p.context, q.question, q.answers))
    n = ctx.sample_size(tiny=3, quick=200, full=len(pool))
    return datasets.sample(pool, min(n, len(pool)), seed=ctx.seed)


def bootstrap(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """95% percentile interval of the mean."""
    if len(values) == 0:
        return (float("nan"), float("nan"))
    idx = rng.integers(0, len(values), size=(BOOTSTRAP, len(values)))
    means = values[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _rank(v: np.ndarray) -> np.ndarray:
    r = np.empty(len(v))
    r[np.argsort(v, kind="stable")] = np.arange(len(v))
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 5:
        return float("nan")
    return float(np.corrcoef(_rank(a), _rank(b))[0, 1])


class Evaluator:
    def __init__(
        self,
        teacher: Compressor,
        student: Compressor,
        *,
        count: Callable[[str], int],
        truncate: Callable[[str, int], str],
        retained: Callable[[str, tuple[str, ...]], bool],
        target_model: str,
        rates: Sequence[float],
    ) -> None:
        self.teacher, self.student = teacher, student
        self.count, self.truncate, self.retained = count, truncate, retained
        self.target_model, self.rates = target_model, tuple(rates)
        self.kept: dict[tuple[str, float], list[bool]] = defaultdict(list)
        self.size: dict[tuple[str, float], list[float]] = defaultdict(list)
        self.seconds: dict[tuple[str, float], float] = defaultdict(float)
        self.tokens = 0
        self.agnostic_tokens = 0
        self.agreement: dict[str, list[float]] = defaultdict(list)

    def _run(
        self, name: str, c: Compressor, item: HeldOut, method: CompressionMethod, question: str
    ) -> Prepared:
        s = CompressionSettings(method=method, question=question, target_model=self.target_model)
        started = time.perf_counter()
        prepared = c.prepare(item.context, s)
        scoring = time.perf_counter() - started
        n = self.count(item.context)
        for rate in self.rates:
            started = time.perf_counter()
            out = c.compress_to_budget(
                item.context, s, int(rate * n), tenant="bench", prepared=prepared
            )
            self.seconds[(name, rate)] += scoring + time.perf_counter() - started
            self.kept[(name, rate)].append(self.retained(out.text, item.answers))
            self.size[(name, rate)].append(out.compressed_tokens / n)
        return prepared

    def run(self, item: HeldOut, *, without_question: bool) -> None:
        """Both question-aware methods; with `without_question`, the agnostic pair too."""
        self.tokens += self.count(item.context)
        q = item.question
        dl = CompressionMethod.DISTILLED
        s_q = self._run(DISTILLED, self.student, item, dl, q)
        t_q = self._run(LONG, self.teacher, item, CompressionMethod.LONGLLMLINGUA, q)
        self.agreement["squad, question-aware"].append(spearman(s_q.scores, t_q.scores))
        if without_question:
            self.agnostic_tokens += self.count(item.context)
            s_0 = self._run(DISTILLED_NOQ, self.student, item, dl, "")
            t_0 = self._run(LLML, self.teacher, item, CompressionMethod.LLMLINGUA, "")
            self.agreement["squad, no question"].append(spearman(s_0.scores, t_0.scores))
        n = self.count(item.context)
        for rate in self.rates:
            out = self.truncate(item.context, int(rate * n))
            self.kept[(TRUNC, rate)].append(self.retained(out, item.answers))
            self.size[(TRUNC, rate)].append(self.count(out) / n)

    def chat_agreement(self, texts: Iterable[tuple[str, str]]) -> None:
        for text, question in texts:
            # Prefix-like use (history turns are compressed without a question), and
            # question-aware when the turn had a preceding user message as question.
            for name, q in (("sharegpt, no question", ""), ("sharegpt, question-aware", question)):
                if name.endswith("aware") and not q:
                    continue
                method = CompressionMethod.LONGLLMLINGUA if q else CompressionMethod.LLMLINGUA
                student = self.student.prepare(
                    text, CompressionSettings(method=CompressionMethod.DISTILLED, question=q)
                )
                teacher = self.teacher.prepare(text, CompressionSettings(method=method, question=q))
                self.agreement[name].append(spearman(student.scores, teacher.scores))

    def summary(self, seed: int) -> dict:
        rng = np.random.default_rng(seed)
        out: dict = {"items": len(self.kept[(DISTILLED, self.rates[0])]), "methods": {}}
        for name in ORDER:
            out["methods"][name] = {}
            for rate in self.rates:
                kept = np.asarray(self.kept[(name, rate)], dtype=float)
                secs = self.seconds.get((name, rate), 0.0)
                tokens = self.agnostic_tokens if name in (DISTILLED_NOQ, LLML) else self.tokens
                out["methods"][name][f"{rate}"] = {
                    "items": len(kept),
                    "retention": float(kept.mean()),
                    "ci95": bootstrap(kept, rng),
                    "achieved_rate": float(np.mean(self.size[(name, rate)])),
                    "tokens_per_s": tokens / secs if secs > 0 else None,
                }
        out["paired_difference"] = {}
        for student, teacher in ((DISTILLED, LONG), (DISTILLED_NOQ, LLML)):
            for rate in self.rates:
                d = np.asarray(self.kept[(student, rate)], float) - np.asarray(
                    self.kept[(teacher, rate)], float
                )
                out["paired_difference"][f"{student} - {teacher} @ {rate}"] = {
                    "mean": float(d.mean()),
                    "ci95": bootstrap(d, rng),
                }
        speed = out["methods"]
        r = f"{self.rates[1]}"
        out["speedup"] = {
            f"{DISTILLED} vs {LONG}": ratio(
                speed[DISTILLED][r]["tokens_per_s"], speed[LONG][r]["tokens_per_s"]
            ),
            f"{DISTILLED_NOQ} vs {LLML}": ratio(
                speed[DISTILLED_NOQ][r]["tokens_per_s"], speed[LLML][r]["tokens_per_s"]
            ),
        }
        out["teacher_agreement_spearman"] = {
            k: float(np.nanmean(v)) for k, v in self.agreement.items() if v
        }
        return out


def held_out_chat(ctx: SuiteContext) -> list[tuple[str, str]]:
    n = ctx.sample_size(tiny=2, quick=20, full=150)
    return [(e.text, e.question) for e in distill_data.chat_examples("held_out", n)]


def table(summary: dict, rates: Sequence[float]) -> str:
    rows = []
    for rate in rates:
        for name in ORDER:
            f = summary["methods"][name][f"{rate}"]
            lo, hi = f["ci95"]
            rows.append(
                [
                    rate,
                    name,
                    100 * f["retention"],
                    f"{100 * lo:.1f}-{100 * hi:.1f}",
                    f["achieved_rate"],
                    f["tokens_per_s"],
                ]
            )
    main = markdown_table(
        ["rate", "method", "answers kept %", "95% CI", "achieved rate", "tokens/s"], rows
    )
    diff = markdown_table(
        ["paired difference (points)", "mean", "95% CI"],
        [
            [k, 100 * v["mean"], f"{100 * v['ci95'][0]:.1f} to {100 * v['ci95'][1]:.1f}"]
            for k, v in summary["paired_difference"].items()
        ],
    )
    other = markdown_table(
        ["measure", "value"],
        [[f"speed-up, {k}", v] for k, v in summary["speedup"].items()]
        + [
            [f"Spearman with the teacher's unit scores, {k}", v]
            for k, v in summary["teacher_agreement_spearman"].items()
        ],
    )
    n = summary["items"]
    head = (
        f"Distilled compressor on {n} held-out SQuAD paragraphs (articles never used in training):"
    )
    return "\n\n".join([head, main, diff, other])


def evaluate(
    ctx: SuiteContext,
    teacher: Compressor,
    student: Compressor,
    *,
    excluded: set[str],
    **kwargs,  # type: ignore[no-untyped-def]
) -> tuple[dict, str]:
    items = held_out_items(ctx, excluded)
    ev = Evaluator(teacher, student, **kwargs)
    # The question-agnostic pair costs a second SmolLM2 pass per item: a subset.
    agnostic = ctx.sample_size(tiny=2, quick=80, full=200)
    for k, item in enumerate(ctx.progress(items, desc="held-out paragraphs (distilled)")):
        ev.run(item, without_question=k < agnostic)
    ev.chat_agreement(ctx.progress(held_out_chat(ctx), desc="held-out chat (agreement)"))
    summary = ev.summary(ctx.seed)
    summary["split"] = {
        "seed": distill_data.SEED,
        "held_out_articles": len(distill_data.squad_split(distill_data.SEED)[1]),
        "model_id": getattr(student.distilled, "model_id", ""),
    }
    return summary, table(summary, ev.rates)


def _plot(ctx: SuiteContext, summary: dict, rates: Sequence[float]) -> Path:
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name in (DISTILLED, LONG, TRUNC):
        rows = [summary["methods"][name][f"{r}"] for r in rates]
        xs = [r["achieved_rate"] for r in rows]
        ys = [100 * r["retention"] for r in rows]
        err = [
            [100 * (r["retention"] - r["ci95"][0]) for r in rows],
            [100 * (r["ci95"][1] - r["retention"]) for r in rows],
        ]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=name)
    ax.set_xlabel("achieved rate (compressed / original tokens, gpt-4o)")
    ax.set_ylabel("gold answers kept (%), 95% CI")
    ax.set_title(f"Held-out SQuAD v2 dev paragraphs (n={summary['items']})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = ctx.out_dir / "distilled_retention.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run(ctx: SuiteContext) -> SuiteResult:
    import torch

    from promptpress.bench import datasets
    from promptpress.bench.suites import compression as base
    from promptpress.bench.suites import compression_inputs as inputs
    from promptpress.compressor.distilled import DistilledScorer
    from promptpress.compressor.llmlingua_adapter import LLMLinguaAdapter
    from promptpress.compressor.model_prep import prepare_default_model
    from promptpress.compressor.scoring import CausalLMScorer

    torch.set_num_threads(base.TORCH_THREADS)
    teacher = Compressor(
        causal=CausalLMScorer(LLMLinguaAdapter(prepare_default_model(base.data_dir())))
    )
    student = Compressor(distilled=DistilledScorer())
    for c in (teacher, student):  # first-call costs out of the measurement
        c.compress("Warm the model up once.", CompressionSettings(rate=0.5), tenant="bench")
    summary, md = evaluate(
        ctx,
        teacher,
        student,
        excluded=inputs.tuning_contexts(),
        count=inputs.COUNT,
        truncate=inputs.truncate,
        retained=inputs.retained,
        target_model=inputs.TARGET_MODEL,
        rates=base.RATES,
    )
    summary["torch_threads"] = base.TORCH_THREADS
    summary["record"] = json.loads(student.distilled.meta.get("record", "{}"))  # type: ignore[union-attr]
    return SuiteResult(
        suite=NAME,
        datasets=[
            datasets.squad_v2_dev().info,
            datasets.sharegpt_conversations(limit=1).info,
        ],
        figures=summary,
        table_md=md,
        plots=[_plot(ctx, summary, base.RATES)],
        notes=(
            f"{summary['items']} held-out SQuAD v2 dev paragraphs (articles never labelled for "
            "training; the 100 LongLLMLingua tuning paragraphs excluded), one random answerable "
            "question each; one torch thread; sizes in gpt-4o tokens. Teacher: promptpress "
            "LongLLMLingua/LLMLingua on SmolLM2-135M-Instruct int8. Student: the shipped "
            f"distilled head ({summary['split']['model_id']})."
        ),
    )
