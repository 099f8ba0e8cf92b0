"""The distilled compressor: a tiny reproducible training run, the shipped head, its guarantees."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from promptpress.bench import distill, distill_data
from promptpress.compressor.compress import Compressor
from promptpress.compressor.distilled import DistilledScorer
from promptpress.compressor.methods import prepare
from promptpress.compressor.segments import Segment, compress_segments
from promptpress.compressor.settings import CompressionSettings
from promptpress.tokens import counter_for
from promptpress.types import CompressionMethod, Span

PARAGRAPH = (
    "The Amazon rainforest covers much of the Amazon basin of South America. The basin "
    "encompasses seven million square kilometres, of which five and a half million are covered "
    "by the rainforest. The majority of the forest is contained within Brazil, with 60% of the "
    "rainforest, followed by Peru with 13% and Colombia with 10%. Environmentalists are "
    "concerned about the loss of biodiversity that will result from destruction of the forest, "
    "and about the release of the carbon contained within the vegetation."
)
QUESTION = "Which country contains the majority of the forest?"

TINY = [
    distill_data.Example("tiny/0", "squad", PARAGRAPH, QUESTION),
    distill_data.Example("tiny/1", "squad", PARAGRAPH, ""),
    distill_data.Example(
        "tiny/2", "sharegpt", "Sure! Here is how to sort a list in Python: call sorted(items).", ""
    ),
    distill_data.Example(
        "tiny/3",
        "sharegpt",
        "The meeting moved to Thursday at 10am; Dana will bring the slides and the budget.",
        "When is the meeting?",
    ),
]


@pytest.fixture(scope="module")
def distilled(shared_compressor) -> DistilledScorer:
    """The shipped head, as the session's compressor loaded it."""
    assert isinstance(shared_compressor.distilled, DistilledScorer)
    return shared_compressor.distilled


def test_tiny_training_run_is_reproducible_resumable_and_loadable(
    tmp_path: Path, causal_scorer
) -> None:  # type: ignore[no-untyped-def]
    labels = tmp_path / "labels.jsonl"
    assert distill_data.label(TINY, labels, causal_scorer) == len(TINY)
    assert distill_data.label(TINY, labels, causal_scorer) == 0  # resumes: nothing left
    quiet = lambda _: None  # noqa: E731
    record = distill.train(labels, tmp_path / "a.safetensors", seed=3, epochs=2, log=quiet)
    distill.train(labels, tmp_path / "b.safetensors", seed=3, epochs=2, log=quiet)
    a, b = load_file(tmp_path / "a.safetensors"), load_file(tmp_path / "b.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert record["data"]["records"] == len(TINY) and record["train"]["seed"] == 3
    assert "causal-int8" in next(iter(record["teacher"]["scorers"]))
    # A user's own checkpoint loads by path and compresses.
    scorer = DistilledScorer(tmp_path / "a.safetensors")
    scores = scorer.surprisal(PARAGRAPH, prefix=QUESTION + "\n\n")
    assert len(scores.values) == len(scorer.encoder.tokens(PARAGRAPH)[0])
    assert np.isfinite(scores.values).all()
    out = Compressor(distilled=scorer).compress(
        PARAGRAPH, CompressionSettings(rate=0.5, question=QUESTION), tenant="t"
    )
    assert out.method is CompressionMethod.DISTILLED and out.compressed_tokens < out.original_tokens


def test_not_a_head_is_rejected(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a promptpress distilled head"):
        DistilledScorer(tmp_path / "other.safetensors")


def test_default_is_distilled_and_smollm2_methods_stay_selectable(shared_compressor) -> None:  # type: ignore[no-untyped-def]
    c = shared_compressor
    assert c.resolve_method(None, QUESTION) is CompressionMethod.DISTILLED
    assert c.resolve_method(None, "") is CompressionMethod.DISTILLED
    for method in (CompressionMethod.LONGLLMLINGUA, CompressionMethod.LLMLINGUA):
        s = CompressionSettings(rate=0.5, method=method, question=QUESTION)
        assert c.compress(PARAGRAPH, s, tenant="sel").method is method


def _unit_scores(scorer, question: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    return prepare(
        PARAGRAPH, method=CompressionMethod.LLMLINGUA, causal=scorer, classifier=None
    ).scores


def _rank(v: np.ndarray) -> np.ndarray:
    r = np.empty(len(v))
    r[np.argsort(v, kind="stable")] = np.arange(len(v))
    return r


def test_shipped_head_ranks_words_like_its_teacher(distilled, causal_scorer) -> None:  # type: ignore[no-untyped-def]
    student, teacher = _unit_scores(distilled, ""), _unit_scores(causal_scorer, "")
    rho = np.corrcoef(_rank(student), _rank(teacher))[0, 1]
    # A random or broken head scores ~0; the trained one tracks SmolLM2's ranking.
    assert rho > 0.4


def test_distilled_keeps_every_guarantee(distilled) -> None:  # type: ignore[no-untyped-def]
    compressor = Compressor(distilled=distilled)
    secret = "KEEP  this exact, oddly   spaced sentence."
    text = (
        f"{PARAGRAPH} Order ord_8f3a2c91 shipped to https://example.com/t?id=42.\n\n"
        f'{secret}\n\n{{"order": "ord_8f3a2c91", "qty": 2}}\n\n{PARAGRAPH}'
    )
    start = text.encode().index(secret.encode())
    spans = (Span(start, start + len(secret.encode())),)
    counter = counter_for("gpt-4o")
    for question in ("", QUESTION):
        for target in (0, 60):
            s = CompressionSettings(
                rate=0.3,
                target_tokens=target,
                question=question,
                target_model="gpt-4o",
                protected_spans=spans,
            )
            out = compressor.compress(text, s, tenant="t")
            budget = compressor.budget_for(counter.count(text), s)
            # What must survive may exceed a tiny budget; nothing else may.
            floor = compressor.compress(
                text, dataclasses.replace(s, target_tokens=1), tenant="t"
            ).compressed_tokens
            assert out.compressed_tokens == counter.count(out.text) <= max(budget, floor)
            assert secret in out.text and '{"order": "ord_8f3a2c91", "qty": 2}' in out.text
            assert compressor.compress(text, s, tenant="t").text == out.text  # deterministic


def test_distilled_is_question_aware(distilled) -> None:  # type: ignore[no-untyped-def]
    compressor = Compressor(distilled=distilled)
    s = CompressionSettings(rate=0.25, target_model="gpt-4o")
    plain = compressor.compress(PARAGRAPH, s, tenant="t").text
    asked = compressor.compress(
        PARAGRAPH, dataclasses.replace(s, question=QUESTION), tenant="t"
    ).text
    assert plain != asked
    assert "Brazil" in asked


def test_segments_prefix_frozen_tail_question_aware(distilled) -> None:  # type: ignore[no-untyped-def]
    compressor = Compressor(distilled=distilled)
    prefix = [Segment(PARAGRAPH)]
    tail = [Segment(PARAGRAPH.replace("Amazon", "Congo")), Segment(PARAGRAPH)]
    results = [
        compress_segments(
            compressor, prefix, tail, CompressionSettings(rate=0.4, question=q), tenant="t"
        )
        for q in (QUESTION, "What worries environmentalists about the vegetation?")
    ]
    assert results[0].prefix == results[1].prefix  # same bytes whatever the question
    assert all(r.method is CompressionMethod.DISTILLED for r in results[0].context)
    assert results[0].context != results[1].context


@pytest.mark.parametrize("passes", [1, 2])
def test_micro_batching_changes_no_output(passes: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    alone = DistilledScorer(batching=False)
    texts = [PARAGRAPH[: 80 + 37 * k] for k in range(12)] + [PARAGRAPH * 3]
    questions = ["", QUESTION, "Who is concerned?"]
    jobs = [(t, questions[k % 3]) for k, t in enumerate(texts)]
    batched = DistilledScorer(window_s=0.02, max_concurrent=passes)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda j: batched.surprisal(j[0], prefix=j[1]), jobs))
    for (text, question), scores in zip(jobs, got, strict=True):
        want = alone.surprisal(text, prefix=question)
        assert np.array_equal(scores.offsets, want.offsets)
        # Bit for bit where the CPU's matrix kernels do not depend on the batch size;
        # AVX-512/AMX kernels chosen by size move a score by ~1e-6.
        np.testing.assert_allclose(scores.values, want.values, rtol=1e-5, atol=1e-5)
    if passes == 1:
        assert batched.batcher.stats.mean_batch > 1  # they really shared passes
    # What a caller sees does not change: the compressed text, batched or alone.
    settings = [CompressionSettings(rate=r, question=q) for r in (0.3, 0.5) for q in questions]
    calls = [(t, s) for t in texts for s in settings]
    shared, single = Compressor(distilled=batched), Compressor(distilled=alone)
    with ThreadPoolExecutor(8) as pool:
        texts_batched = list(
            pool.map(lambda c: shared.compress(c[0], c[1], tenant="b").text, calls)
        )
    assert texts_batched == [single.compress(t, s, tenant="a").text for t, s in calls]


class _CountedPasses:
    """Wraps an Encoder's `states` (the real forward passes) and counts the calls.

    `on_pass` runs after each call, in the thread that ran it.
    """

    def __init__(self, encoder, on_pass=lambda n: None) -> None:  # type: ignore[no-untyped-def]
        self.inner = encoder.states
        self.on_pass = on_pass
        self.passes = 0
        self.windows = 0

    def __call__(self, sequences, batch_size: int = 16):  # type: ignore[no-untyped-def]
        out = self.inner(sequences, batch_size)
        self.passes += 1
        self.windows += len(sequences)
        self.on_pass(self.passes)
        return out


LONG = " ".join(f"{PARAGRAPH} Item {i} was filed." for i in range(40))  # ~4,500 MiniLM tokens


def test_a_cancelled_call_stops_after_one_step_of_encoder_passes(
    distilled: DistilledScorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptpress.cancel import Cancelled, CancelToken, bound
    from promptpress.compressor.distilled import WINDOWS_PER_STEP

    ids, _ = distilled.encoder.tokens(LONG)
    q_ids = distilled.encoder.tokens(QUESTION)[0]
    windows = len(distilled.encoder.windows(ids, q_ids))
    steps = -(-windows // WINDOWS_PER_STEP)
    assert steps >= 3, "long enough to need several steps"

    counted = _CountedPasses(distilled.encoder)
    monkeypatch.setattr(distilled.encoder, "states", counted)
    with bound(CancelToken()):  # a live caller: every step runs
        whole = distilled.surprisal(LONG, prefix=QUESTION)
    assert (counted.passes, counted.windows) == (steps, windows)
    assert len(whole.values) == len(ids)

    token = CancelToken()
    counted = _CountedPasses(distilled.encoder, on_pass=lambda n: token.cancel("client gone"))
    monkeypatch.setattr(distilled.encoder, "states", counted)
    with bound(token), pytest.raises(Cancelled, match="client gone"):
        distilled.surprisal(LONG, prefix=QUESTION)
    assert counted.passes == 1 and counted.windows == WINDOWS_PER_STEP

    # Through the compressor (the default method): the same stop, nothing cached.
    compressor = Compressor(distilled=distilled)
    token = CancelToken()
    counted = _CountedPasses(distilled.encoder, on_pass=lambda n: token.cancel("deadline"))
    monkeypatch.setattr(distilled.encoder, "states", counted)
    settings = CompressionSettings(rate=0.3, question=QUESTION)
    with bound(token), pytest.raises(Cancelled):
        compressor.compress(LONG, settings, tenant="cancel")
    assert counted.passes == 1
    monkeypatch.undo()
    again = compressor.compress(LONG, settings, tenant="cancel")
    assert again.method is CompressionMethod.DISTILLED and again.compressed_tokens > 0
