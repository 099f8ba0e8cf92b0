"""Compressor behaviour with a fast stand-in scorer: validation, guarantees, cache."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptpress.compressor.compress import Compressor
from promptpress.compressor.compression_cache import CompressionCache
from promptpress.compressor.settings import CompressionLimits, CompressionSettings
from promptpress.errors import FailedPrecondition, InvalidInput
from promptpress.tokens import counter_for
from promptpress.types import CompressionMethod, Span

WORDS = [
    "the",
    "normans",
    "were",
    "people",
    "who",
    "gave",
    "their",
    "name",
    "to",
    "normandy",
    "region",
    "france",
    "descended",
    "from",
    "norse",
    "raiders",
    "pirates",
    "denmark",
    "iceland",
    "norway",
    "leader",
    "rollo",
    "agreed",
    "swear",
    "fealty",
    "king",
    "charles",
    "west",
]

STRUCTURED = """User: Where is my order?
Order ord_8f3a2c91 was placed on March 5, 2024 for $1,299.00 by jane.doe@example.org.
Tracking: https://track.example.com/p/ZX-42?lang=en. It left the warehouse on 2024-03-07.

```json
{"order": "ord_8f3a2c91", "items": [1, 2]}
```
{prose}
Assistant: Let me check that for you."""


def prose(n_words: int, seed: int = 0) -> str:
    rnd = random.Random(seed)
    return " ".join(rnd.choice(WORDS) for _ in range(n_words)) + "."


def long_text(seed: int = 0) -> str:
    return "\n\n".join(prose(120, seed + i) for i in range(6))


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rate": 0.0}, "rate"),
        ({"rate": -0.1}, "rate"),
        ({"rate": 1.5}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"target_tokens": -1}, "target_tokens"),
        ({"method": "zip"}, "method"),
        ({"method": CompressionMethod.LONGLLMLINGUA}, "question"),
        ({"protected_spans": (Span(0, 10_000),)}, "protected_spans[0]"),
    ],
)
def test_bad_settings_name_the_field(fake_compressor, kwargs, field) -> None:
    with pytest.raises(InvalidInput) as err:
        fake_compressor.compress("some text to compress", CompressionSettings(**kwargs), tenant="t")
    assert [v.field for v in err.value.violations] == [field]


def test_text_over_the_limit_is_rejected_but_a_megabyte_works(fakes) -> None:
    FakeSurprisal, _ = fakes
    compressor = Compressor(
        causal=FakeSurprisal(), limits=CompressionLimits(max_text_bytes=2_000_000)
    )
    megabyte = (prose(170_000, 1) + " ")[:1_000_000]
    result = compressor.compress(megabyte, CompressionSettings(rate=0.5), tenant="t")
    assert (
        0.45 * result.original_tokens
        <= result.compressed_tokens
        <= 0.5 * result.original_tokens + 1
    )
    with pytest.raises(InvalidInput) as err:
        compressor.compress(megabyte * 3, CompressionSettings(rate=0.5), tenant="t")
    assert err.value.violations[0].field == "text"


def test_a_method_without_its_model_is_a_failed_precondition(fakes) -> None:
    FakeSurprisal, _ = fakes
    only_causal = Compressor(causal=FakeSurprisal())
    with pytest.raises(FailedPrecondition):
        only_causal.compress(
            "text here", CompressionSettings(method=CompressionMethod.LLMLINGUA2), tenant="t"
        )


@pytest.mark.parametrize(
    ("causal", "classifier", "question", "expected"),
    [
        (True, True, "", CompressionMethod.LLMLINGUA),
        (True, True, "why?", CompressionMethod.LONGLLMLINGUA),
        (False, True, "why?", CompressionMethod.LLMLINGUA2),
        ("distilled", True, "why?", CompressionMethod.DISTILLED),
        ("distilled", True, "", CompressionMethod.DISTILLED),
    ],
)
def test_default_method(fakes, causal, classifier, question, expected) -> None:
    FakeSurprisal, FakeKeep = fakes
    compressor = Compressor(
        causal=FakeSurprisal() if causal else None,
        classifier=FakeKeep() if classifier else None,
        distilled=FakeSurprisal() if causal == "distilled" else None,
    )
    result = compressor.compress(long_text(), CompressionSettings(question=question), tenant="t")
    assert result.method is expected


# --- the guarantees ------------------------------------------------------------------------


def test_empty_and_full_rate_do_not_touch_the_model(fakes) -> None:
    FakeSurprisal, _ = fakes
    scorer = FakeSurprisal()
    compressor = Compressor(causal=scorer)
    assert compressor.compress("", CompressionSettings(rate=0.3), tenant="t").text == ""
    text = long_text()
    same = compressor.compress(text, CompressionSettings(rate=1.0), tenant="t")
    assert (same.text, same.ratio, scorer.calls) == (text, 1.0, 0)


TEXTS = st.lists(
    st.sampled_from([*WORDS, "ord_8f3a2c91", "42.5%", "\n", "\n\n", "(", ")", ",", "é"]),
    max_size=80,
).map(" ".join)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=TEXTS, rate=st.floats(0.05, 1.0), method=st.sampled_from(list(CompressionMethod)))
def test_compression_never_expands_and_is_deterministic(
    fake_compressor, text, rate, method
) -> None:
    s = CompressionSettings(rate=rate, method=method, question="who was the leader?")
    first = fake_compressor.compress(text, s, tenant="t")
    assert first.compressed_tokens <= first.original_tokens
    assert first.compressed_tokens == counter_for("").count(first.text)
    fresh = Compressor(
        causal=type(fake_compressor.causal)(),
        classifier=type(fake_compressor.classifier)(),
        distilled=type(fake_compressor.distilled)(),
    )
    assert fresh.compress(text, s, tenant="t").text == first.text


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=TEXTS.filter(lambda t: len(t) > 4), data=st.data())
def test_caller_protected_spans_survive_byte_for_byte(fake_compressor, text, data) -> None:
    raw = text.encode()
    cuts = sorted({0, len(raw), *(i for i in range(len(raw)) if (raw[i] & 0xC0) != 0x80)})
    start = data.draw(st.sampled_from(cuts[:-1]))
    end = data.draw(st.sampled_from([c for c in cuts if c > start]))
    s = CompressionSettings(rate=0.1, protected_spans=(Span(start, end),))
    out = fake_compressor.compress(text, s, tenant="t").text
    assert raw[start:end].decode() in out


@pytest.mark.parametrize("rate", [0.5, 0.3])
def test_structure_passes_byte_for_byte(fake_compressor, rate) -> None:
    text = STRUCTURED.replace("{prose}", prose(150))
    out = fake_compressor.compress(text, CompressionSettings(rate=rate), tenant="t").text
    for piece in (
        "User:",
        "Assistant:",
        "ord_8f3a2c91",
        "March 5, 2024",
        "$1,299.00",
        "jane.doe@example.org",
        "https://track.example.com/p/ZX-42?lang=en",
        "2024-03-07",
        '```json\n{"order": "ord_8f3a2c91", "items": [1, 2]}\n```',
    ):
        assert piece in out, piece


def test_the_final_question_is_never_compressed(fake_compressor) -> None:
    question = "Which king did Rollo swear fealty to?"
    text = prose(300) + "\n\n" + question
    out = fake_compressor.compress(
        text, CompressionSettings(rate=0.2, question=question), tenant="t"
    ).text
    assert out.endswith(question)


@pytest.mark.parametrize("method", list(CompressionMethod))
@pytest.mark.parametrize("rate", [0.5, 0.33, 0.2])
def test_budget_is_met_within_ten_percent(fake_compressor, method, rate) -> None:
    text = long_text()
    s = CompressionSettings(rate=rate, method=method, question="who was the norman leader?")
    result = fake_compressor.compress(text, s, tenant="t")
    assert result.original_tokens > 500
    target = rate * result.original_tokens
    assert 0.9 * target <= result.compressed_tokens <= 1.1 * target
    assert result.ratio == pytest.approx(result.original_tokens / result.compressed_tokens)


def test_target_tokens_override_rate_and_count_in_the_target_tokenizer(fake_compressor) -> None:
    text = long_text() + " naïve café 数据 " * 40
    for model in ("gpt-4o", "gpt-4"):
        result = fake_compressor.compress(
            text, CompressionSettings(rate=0.9, target_tokens=300, target_model=model), tenant="t"
        )
        counter = counter_for(model)
        assert result.encoding == counter.encoding_name
        assert result.original_tokens == counter.count(text)
        assert 270 <= result.compressed_tokens == counter.count(result.text) <= 300
    assert counter_for("gpt-4o").encoding_name != counter_for("gpt-4").encoding_name


def test_reorder_puts_the_relevant_paragraph_first(fake_compressor) -> None:
    relevant = "Rollo the viking leader swore fealty to King Charles in the year of the treaty."
    text = prose(60, 1) + "\n\n" + prose(60, 2) + "\n\n" + relevant
    s = CompressionSettings(rate=0.7, question="Who swore fealty to King Charles?", reorder=True)
    out = fake_compressor.compress(text, s, tenant="t").text
    assert out.startswith("Rollo")


# --- cache -----------------------------------------------------------------------------------


def test_cache_hits_skip_the_model_and_are_tenant_scoped(fakes, tmp_path) -> None:
    FakeSurprisal, _ = fakes
    scorer = FakeSurprisal()
    with CompressionCache(tmp_path / "cache") as cache:
        compressor = Compressor(causal=scorer, cache=cache)
        text, s = long_text(), CompressionSettings(rate=0.4)
        cold = compressor.compress(text, s, tenant="acme")
        calls = scorer.calls
        warm = compressor.compress(text, s, tenant="acme")
        assert (warm.cached, cold.cached) == (True, False)
        assert (warm.text, warm.compressed_tokens, warm.ratio) == (
            cold.text,
            cold.compressed_tokens,
            cold.ratio,
        )
        assert scorer.calls == calls
        assert not compressor.compress(text, s, tenant="globex").cached
        assert not compressor.compress(text, CompressionSettings(rate=0.41), tenant="acme").cached
    with CompressionCache(tmp_path / "cache") as reopened:
        again = Compressor(causal=FakeSurprisal(), cache=reopened).compress(text, s, tenant="acme")
        assert again.cached and again.text == cold.text
