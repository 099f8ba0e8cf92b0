"""Cache-stable compression: the prefix is frozen, the context is question-aware."""

from __future__ import annotations

import random

import pytest

from promptpress.compressor.compress import Compressor
from promptpress.compressor.compression_cache import CompressionCache
from promptpress.compressor.segments import Segment, _dynamic_budgets, compress_segments
from promptpress.compressor.settings import CompressionSettings
from promptpress.types import CompressionMethod

WORDS = [
    "river",
    "castle",
    "army",
    "church",
    "trade",
    "harvest",
    "winter",
    "market",
    "bridge",
    "tower",
    "council",
    "guild",
]


def filler(n: int, seed: int) -> str:
    rnd = random.Random(seed)
    return " ".join(rnd.choice(WORDS) for _ in range(n)) + "."


HISTORY = [Segment(filler(80, i)) for i in range(3)]
CHUNKS = [
    Segment(filler(80, 10)),
    Segment(
        "Rollo the Norse leader swore fealty to King Charles in 911 at Saint-Clair-sur-Epte. "
        + filler(40, 11)
    ),
    Segment(filler(80, 12)),
]


@pytest.fixture
def compressor(fakes, tmp_path):
    with CompressionCache(tmp_path / "cache") as cache:
        yield Compressor(causal=fakes[0](), cache=cache)


def test_prefix_bytes_do_not_depend_on_the_question_or_the_context(compressor) -> None:
    a = compress_segments(
        compressor,
        HISTORY,
        CHUNKS,
        CompressionSettings(rate=0.4, question="Who swore fealty?"),
        tenant="t",
    )
    b = compress_segments(
        compressor,
        HISTORY,
        CHUNKS[:1],
        CompressionSettings(rate=0.4, question="What is traded?"),
        tenant="t",
    )
    assert [r.text for r in a.prefix] == [r.text for r in b.prefix]
    assert all(r.method is CompressionMethod.LLMLINGUA for r in a.prefix)
    assert all(r.cached for r in b.prefix)  # compressed once, ever


def test_prefix_equals_compressing_each_segment_alone(compressor) -> None:
    out = compress_segments(
        compressor, HISTORY, (), CompressionSettings(rate=0.4, question="anything?"), tenant="t"
    )
    alone = [
        compressor.compress(s.text, CompressionSettings(rate=0.4), tenant="t").text for s in HISTORY
    ]
    assert [r.text for r in out.prefix] == alone


def test_relevant_context_chunk_keeps_more_of_itself(compressor) -> None:
    out = compress_segments(
        compressor,
        (),
        CHUNKS,
        CompressionSettings(rate=0.3, question="Who swore fealty to King Charles?"),
        tenant="t",
    )
    assert out.context_relevance[1] == max(out.context_relevance)
    kept = [r.compressed_tokens / r.original_tokens for r in out.context]
    assert kept[1] > kept[0] and kept[1] > kept[2]
    assert all(r.method is CompressionMethod.LONGLLMLINGUA for r in out.context)
    assert "Rollo" in out.context[1].text and "911" in out.context[1].text


def test_target_tokens_is_shared_prefix_first(compressor) -> None:
    s = CompressionSettings(target_tokens=250, question="Who swore fealty?")
    out = compress_segments(compressor, HISTORY, CHUNKS, s, tenant="t")
    prefix_tokens = sum(r.compressed_tokens for r in out.prefix)
    context_tokens = sum(r.compressed_tokens for r in out.context)
    assert prefix_tokens + context_tokens <= 250
    assert context_tokens >= 0.9 * (250 - prefix_tokens)
    assert out.compressed_tokens == prefix_tokens + context_tokens
    assert out.ratio == pytest.approx(out.original_tokens / out.compressed_tokens)


def test_no_compress_segments_pass_through(compressor) -> None:
    pinned = Segment("Pinned: keep every word of this message exactly.", compress=False)
    out = compress_segments(
        compressor,
        [pinned, *HISTORY],
        [pinned],
        CompressionSettings(rate=0.2, question="q?"),
        tenant="t",
    )
    assert out.prefix[0].text == pinned.text and out.context[0].text == pinned.text


def test_without_a_question_the_context_is_frozen_too(compressor) -> None:
    out = compress_segments(compressor, (), CHUNKS, CompressionSettings(rate=0.4), tenant="t")
    alone = [compressor.compress(s.text, CompressionSettings(rate=0.4), tenant="t") for s in CHUNKS]
    assert [r.text for r in out.context] == [r.text for r in alone]
    assert all(r.cached for r in alone)
    assert out.context_relevance == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("lengths", "relevance", "budget"),
    [
        ([100, 100, 100], [3.0, 2.0, 1.0], 150),
        ([10, 500], [5.0, 0.0], 300),
        ([50, 50], [1.0, 1.0], 1000),
    ],
)
def test_dynamic_budgets_sum_and_cap(lengths, relevance, budget) -> None:
    import numpy as np

    shares = _dynamic_budgets(lengths, np.array(relevance), budget, True)
    assert sum(shares) <= min(budget, sum(lengths))
    assert sum(shares) >= min(budget, sum(lengths)) - len(lengths)
    assert all(0 <= s <= n for s, n in zip(shares, lengths, strict=True))
    if relevance[0] > relevance[-1] and lengths[0] == lengths[-1]:
        assert shares[0] > shares[-1]
