"""Suite `compression`: how many answers survive compression, how close to the budget, how fast.

SQuAD v2.0 dev paragraphs, each with one answerable question, compressed at
rates 0.5, 0.33 and 0.2 (kept/original, counted in gpt-4o's tokenizer). A
gold answer is retained when its SQuAD-normalised text is still in the
normalised compressed text. In the same run, with the same model
(SmolLM2-135M; promptpress runs it in dynamic int8, its default, llmlingua in
fp32, its default) and inputs:

- promptpress's distilled compressor (the service default: all-MiniLM-L6-v2
  plus a small head trained on SmolLM2's decisions, question-aware), and
  promptpress LongLLMLingua and LLMLingua on SmolLM2 (selectable);
- llmlingua 0.2.2's own `compress_prompt` (the reference): LongLLMLingua with
  the paper's settings on the paragraph's sentences, and LLMLingua;
- head truncation and random word drop at the same budget.

The reference does not hit the requested size (it keeps more), so retention
is also compared at equal size: promptpress compressed to exactly the size
the reference produced, item by item. Throughput is original tokens per
second of wall time, cold (no cache), and is also measured on ~1,500-token
texts where llmlingua's iterative windows matter. Warm (cached) compression
and structure survival (ids, URLs, JSON, code on built samples) are measured
too. promptpress's weights (LongLLMLingua's signal mix, LLMLingua's name
bonus) were tuned on 100 SQuAD pairs (seed 11) that are excluded from the sample.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

from promptpress.bench import datasets, plots
from promptpress.bench.frame import SuiteContext, SuiteResult, data_dir, markdown_table, ratio
from promptpress.bench.suites.compression_inputs import (
    COUNT,
    TARGET_MODEL,
    Item,
    long_texts,
    random_drop,
    retained,
    sentences,
    squad_items,
    structured_samples,
    truncate,
)
from promptpress.compressor.compress import Compressor
from promptpress.compressor.compression_cache import CompressionCache
from promptpress.compressor.distilled import DistilledScorer
from promptpress.compressor.llmlingua_adapter import LLMLinguaAdapter, reference_compress
from promptpress.compressor.model_prep import prepare_default_model
from promptpress.compressor.scoring import CausalLMScorer
from promptpress.compressor.settings import CompressionSettings
from promptpress.types import CompressionMethod

NAME = "compression"
RATES = (0.5, 0.33, 0.2)
PP_LONG, PP_LLML = "promptpress LongLLMLingua", "promptpress LLMLingua"
PP_DISTILLED = "promptpress distilled (default)"
REF_LONG, REF_LLML = "llmlingua LongLLMLingua", "llmlingua LLMLingua"
TRUNCATE, RANDOM = "head truncation", "random word drop"
PAIRS = (
    (PP_LONG, CompressionMethod.LONGLLMLINGUA, REF_LONG),
    (PP_LLML, CompressionMethod.LLMLINGUA, REF_LLML),
)
REFERENCE_OF = {pp: ref for pp, _, ref in PAIRS} | {PP_DISTILLED: REF_LONG}
PP_LLML_FP32 = "promptpress LLMLingua, fp32 scorer"
TORCH_THREADS = 1


class Runner:
    """Every method on one item at one rate; records retention, size and time."""

    def __init__(self, compressor: Compressor, adapter: LLMLinguaAdapter, seed: int) -> None:
        self.compressor = compressor
        self.adapter = adapter
        self.rng = random.Random(seed)
        self.rows: dict[tuple[str, float], list[tuple[bool, float, int, float]]] = defaultdict(list)
        self.matched: dict[tuple[str, float], list[tuple[bool, bool]]] = defaultdict(list)

    def _record(self, name: str, rate: float, item: Item, out: str, n: int, seconds: float) -> int:
        size = COUNT(out)
        self.rows[(name, rate)].append((retained(out, item.answers), size / n, n, seconds))
        return size

    def promptpress(self, item: Item, rate: float, method: CompressionMethod):
        """Compressor.compress without a cache, split so the scores can be reused at another size."""
        aware = (CompressionMethod.LONGLLMLINGUA, CompressionMethod.DISTILLED)
        q = item.question if method in aware else ""
        s = CompressionSettings(rate=rate, method=method, question=q, target_model=TARGET_MODEL)
        prepared = self.compressor.prepare(item.context, s)
        budget = self.compressor.budget_for(COUNT(item.context), s)
        out = self.compressor.compress_to_budget(
            item.context, s, budget, tenant="bench", prepared=prepared
        )
        return prepared, s, out.text

    def reference(self, name: str, item: Item, rate: float) -> str:
        if name == REF_LONG:
            return reference_compress(
                self.adapter, sentences(item.context), rate=rate, question=item.question
            )
        return reference_compress(self.adapter, [item.context], rate=rate)

    def run(self, item: Item, rate: float) -> None:
        n = COUNT(item.context)
        for name, method, ref_name in PAIRS:
            started = time.perf_counter()
            prepared, s, out = self.promptpress(item, rate, method)
            self._record(name, rate, item, out, n, time.perf_counter() - started)
            started = time.perf_counter()
            ref_out = self.reference(ref_name, item, rate)
            size = self._record(ref_name, rate, item, ref_out, n, time.perf_counter() - started)
            same = self.compressor.compress_to_budget(
                item.context, s, size, tenant="bench", prepared=prepared
            )
            self.matched[(name, rate)].append(
                (retained(same.text, item.answers), retained(ref_out, item.answers))
            )
        started = time.perf_counter()
        _, _, out = self.promptpress(item, rate, CompressionMethod.DISTILLED)
        self._record(PP_DISTILLED, rate, item, out, n, time.perf_counter() - started)
        budget = int(rate * n)
        self._record(TRUNCATE, rate, item, truncate(item.context, budget), n, 0.0)
        self._record(RANDOM, rate, item, random_drop(item.context, budget, self.rng), n, 0.0)

    def equal_size_summary(self) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
        for (name, rate), pairs in self.matched.items():
            out[name][f"{rate}"] = {
                "promptpress": sum(a for a, _ in pairs) / len(pairs),
                "reference": sum(b for _, b in pairs) / len(pairs),
            }
        return dict(out)

    def summary(self) -> dict[str, dict[str, dict[str, float | None]]]:
        out: dict[str, dict[str, dict[str, float | None]]] = defaultdict(dict)
        for (name, rate), rows in self.rows.items():
            seconds = sum(r[3] for r in rows)
            out[name][f"{rate}"] = {
                "retention": sum(r[0] for r in rows) / len(rows),
                "achieved_rate": sum(r[1] for r in rows) / len(rows),
                "rate_error": sum(abs(r[1] - rate) / rate for r in rows) / len(rows),
                "tokens_per_s": sum(r[2] for r in rows) / seconds if seconds > 0 else None,
                "items": len(rows),
            }
        return dict(out)


def long_text_speed(ctx: SuiteContext, runner: Runner, articles) -> dict:
    items = long_texts(articles, ctx.sample_size(tiny=1, quick=1, full=4))
    fp32 = Compressor(causal=CausalLMScorer(runner.adapter, quantize=False))
    seconds: dict[str, float] = defaultdict(float)
    tokens = 0
    for item in ctx.progress(items, desc="long texts"):
        tokens += COUNT(item.context)
        for name, method, ref_name in PAIRS:
            started = time.perf_counter()
            runner.promptpress(item, 0.5, method)
            seconds[name] += time.perf_counter() - started
            started = time.perf_counter()
            runner.reference(ref_name, item, 0.5)
            seconds[ref_name] += time.perf_counter() - started
        started = time.perf_counter()
        runner.promptpress(item, 0.5, CompressionMethod.DISTILLED)
        seconds[PP_DISTILLED] += time.perf_counter() - started
        # The same one-pass method without int8: how much of the speed is quantization.
        started = time.perf_counter()
        fp32.compress(
            item.context,
            CompressionSettings(rate=0.5, method=CompressionMethod.LLMLINGUA),
            tenant="bench",
        )
        seconds[PP_LLML_FP32] += time.perf_counter() - started
    speed = {name: tokens / s for name, s in seconds.items()}
    return {
        "texts": len(items),
        "tokens": tokens,
        "tokens_per_s": speed,
        "speedup": {pp: ratio(speed[pp], speed[ref]) for pp, _, ref in PAIRS}
        | {
            PP_LLML_FP32: ratio(speed[PP_LLML_FP32], speed[REF_LLML]),
            PP_DISTILLED: ratio(speed[PP_DISTILLED], speed[REF_LONG]),
        },
    }


def warm_cache(ctx: SuiteContext, compressor: Compressor, items: list[Item]) -> dict:
    """Compress each item once (cold, filling the cache), then again from the cache."""
    with tempfile.TemporaryDirectory(prefix="pp-compression-bench-") as tmp:
        cache = CompressionCache(Path(tmp) / "cache")
        cached = Compressor(causal=compressor.causal, cache=cache)
        settings = [CompressionSettings(rate=0.5, question=i.question) for i in items]
        for item, s in zip(items, settings, strict=True):
            cached.compress(item.context, s, tenant="bench")
        reps = ctx.sample_size(tiny=2, quick=20, full=50)
        tokens = sum(COUNT(i.context) for i in items) * reps
        started = time.perf_counter()
        hits = 0
        for _ in range(reps):
            for item, s in zip(items, settings, strict=True):
                hits += cached.compress(item.context, s, tenant="bench").cached
        seconds = time.perf_counter() - started
        cache.close()
    return {
        "calls": reps * len(items),
        "hit_rate": hits / (reps * len(items)),
        "ms_per_1k_tokens": 1000 * seconds / tokens * 1000,
    }


def structure_survival(
    ctx: SuiteContext, compressor: Compressor, adapter: LLMLinguaAdapter, prose: list[str]
) -> dict:
    samples = structured_samples(
        ctx.rng("structure"), prose, ctx.sample_size(tiny=2, quick=6, full=40)
    )
    found: dict[str, list[float]] = defaultdict(list)
    for text, must in ctx.progress(samples, desc="structure"):
        outputs = {
            PP_LLML: compressor.compress(
                text,
                CompressionSettings(rate=0.5, method=CompressionMethod.LLMLINGUA),
                tenant="bench",
            ).text,
            REF_LLML: reference_compress(adapter, [text], rate=0.5),
        }
        for name, out in outputs.items():
            found[name].append(sum(piece in out for piece in must) / len(must))
            found[f"{name} size"].append(COUNT(out) / COUNT(text))
    return {name: sum(v) / len(v) for name, v in found.items()} | {"samples": len(samples)}


def _main_table(summary: dict) -> str:
    rows = []
    for rate in RATES:
        for m in (PP_DISTILLED, PP_LONG, REF_LONG, PP_LLML, REF_LLML, TRUNCATE, RANDOM):
            f = summary[m][f"{rate}"]
            ref = REFERENCE_OF.get(m)
            speed = (
                ratio(f["tokens_per_s"], summary[ref][f"{rate}"]["tokens_per_s"]) if ref else None
            )
            rows.append(
                [
                    rate,
                    m,
                    100 * f["retention"],
                    f["achieved_rate"],
                    100 * f["rate_error"],
                    f["tokens_per_s"],
                    speed,
                ]
            )
    headers = [
        "rate",
        "method",
        "answers kept %",
        "achieved rate",
        "rate error %",
        "tokens/s",
        "speed vs llmlingua",
    ]
    return markdown_table(headers, rows)


def _tables(summary: dict, matched: dict, long: dict, warm: dict, structure: dict) -> str:
    same_rows = []
    for rate in RATES:
        for m in (PP_LONG, PP_LLML):
            got = matched[m][f"{rate}"]
            size = summary[REFERENCE_OF[m]][f"{rate}"]["achieved_rate"]
            same_rows.append([rate, m, 100 * got["promptpress"], 100 * got["reference"], size])
    same = markdown_table(
        [
            "requested rate",
            "method",
            "promptpress kept %",
            "llmlingua kept %",
            "both at llmlingua's achieved rate",
        ],
        same_rows,
    )
    speed_rows = [
        [m, long["tokens_per_s"][m], long["speedup"].get(m)]
        for m in (PP_DISTILLED, PP_LONG, REF_LONG, PP_LLML, PP_LLML_FP32, REF_LLML)
    ]
    speed = markdown_table(
        ["~1,500-token texts, rate 0.5", "tokens/s", "speed vs llmlingua"], speed_rows
    )
    rates = f"{structure[PP_LLML + ' size']:.2f} / {structure[REF_LLML + ' size']:.2f}"
    other = markdown_table(
        ["measure", "value"],
        [
            ["warm (cached) compression, ms per 1,000 tokens", warm["ms_per_1k_tokens"]],
            [
                "structured pieces kept verbatim at rate 0.5: promptpress %",
                100 * structure[PP_LLML],
            ],
            ["structured pieces kept verbatim at rate 0.5: llmlingua %", 100 * structure[REF_LLML]],
            ["their achieved rates (promptpress / llmlingua)", rates],
        ],
    )
    equal = "At equal size (promptpress compressed to exactly the size llmlingua produced, item by item):"
    return "\n\n".join([_main_table(summary), equal, same, speed, other])


def _plot(ctx: SuiteContext, summary: dict) -> Path:
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name in (PP_DISTILLED, PP_LONG, REF_LONG, PP_LLML, REF_LLML, TRUNCATE, RANDOM):
        xs = [summary[name][f"{r}"]["achieved_rate"] for r in RATES]
        ys = [100 * summary[name][f"{r}"]["retention"] for r in RATES]
        ax.plot(xs, ys, marker="o", ls="-" if name.startswith("promptpress") else "--", label=name)
    ax.set_xlabel("achieved rate (compressed / original tokens, gpt-4o)")
    ax.set_ylabel("gold answers kept (%)")
    ax.set_title("SQuAD v2 dev: answer retention vs size (requested 0.5 / 0.33 / 0.2)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = ctx.out_dir / "compression_retention.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run(ctx: SuiteContext) -> SuiteResult:
    # One intra-op thread for both sides: on a shared 2-core machine two torch
    # threads ran 3-8x slower than one whenever other processes were busy.
    torch.set_num_threads(TORCH_THREADS)
    items, info, excluded = squad_items(ctx)
    articles = datasets.squad_v2_dev().items
    adapter = LLMLinguaAdapter(prepare_default_model(data_dir()))
    compressor = Compressor(causal=CausalLMScorer(adapter), distilled=DistilledScorer())
    compressor.compress("Warm the model up once.", CompressionSettings(rate=0.5), tenant="bench")
    runner = Runner(compressor, adapter, ctx.seed)
    for item in ctx.progress(items, desc="squad paragraphs"):
        for rate in RATES:
            runner.run(item, rate)
    summary = runner.summary()
    matched = runner.equal_size_summary()
    long = long_text_speed(ctx, runner, articles)
    warm = warm_cache(ctx, compressor, items)
    structure = structure_survival(ctx, compressor, adapter, [i.context for i in items])
    figures = {
        "items": len(items),
        "rates": list(RATES),
        "target_model": TARGET_MODEL,
        "scorer": "SmolLM2-135M-Instruct: int8 (promptpress), fp32 (llmlingua); "
        "distilled: all-MiniLM-L6-v2 + head",
        "torch_threads": TORCH_THREADS,
        "methods": summary,
        "equal_size": matched,
        "long_texts": long,
        "warm_cache": warm,
        "structure": structure,
    }
    return SuiteResult(
        suite=NAME,
        datasets=[info],
        figures=figures,
        table_md=_tables(summary, matched, long, warm, structure),
        plots=[_plot(ctx, summary)],
        notes=(
            f"{len(items)} SQuAD v2 dev paragraphs with one answerable question each "
            f"({excluded} tuning paragraphs excluded); scorer SmolLM2-135M-Instruct on CPU, one torch "
            "thread, dynamic int8 for promptpress (its default) and fp32 for llmlingua (its default); "
            "sizes in gpt-4o tokens (o200k_base). "
            "LLMLingua-2 is not "
            "measured: no LLMLingua-2 model can be installed offline here."
        ),
    )
