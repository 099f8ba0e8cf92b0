"""The real models: SmolLM2 for LLMLingua/LongLLMLingua, tiny classifiers for LLMLingua-2."""

from __future__ import annotations

import threading

import pytest

from promptpress.compressor.compress import Compressor
from promptpress.compressor.loading import load_compressor
from promptpress.compressor.scoring import CausalLMScorer
from promptpress.compressor.settings import CompressionSettings
from promptpress.types import CompressionMethod

NORMANS = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, "
    "a region in France. They were descended from Norse raiders and pirates from Denmark, Iceland "
    "and Norway who, under their leader Rollo, agreed to swear fealty to King Charles III of West "
    "Francia. Through generations of assimilation and mixing with the native Frankish and "
    "Roman-Gaulish populations, their descendants would gradually merge with the Carolingian-based "
    "cultures of West Francia. The distinct cultural and ethnic identity of the Normans emerged "
    "initially in the first half of the 10th century, and it continued to evolve over the "
    "succeeding centuries. The Norman dynasty had a major political, cultural and military impact "
    "on medieval Europe and even the Near East. The Normans were famed for their martial spirit "
    "and eventually for their Christian piety, becoming exponents of the Catholic orthodoxy into "
    "which they assimilated. They adopted the Gallo-Romance language of the Frankish land they "
    "settled, their dialect becoming known as Norman, Normaund or Norman French, an important "
    "literary language. The Duchy of Normandy, which they formed by treaty with the French crown, "
    "was a great fief of medieval France, and under Richard I of Normandy was forged into a "
    "cohesive and formidable principality in feudal tenure. The Normans are noted both for their "
    "culture, such as their unique Romanesque architecture and musical traditions, and for their "
    "significant military accomplishments and innovations. Norman adventurers founded the Kingdom "
    "of Sicily under Roger II after conquering southern Italy on the Saracens and Byzantines, and "
    "an expedition on behalf of their duke, William the Conqueror, led to the Norman conquest of "
    "England at the Battle of Hastings in 1066."
)


def test_converted_model_prefers_natural_english(causal_adapter, causal_scorer) -> None:
    text = NORMANS[:500]
    scrambled = " ".join(reversed(text.split()))
    fp32 = CausalLMScorer(causal_adapter, quantize=False)
    natural, backwards = fp32.surprisal(text).values.mean(), fp32.surprisal(scrambled).values.mean()
    # Perplexity ~20 against hundreds: the GGUF was read right (transformers 4.46 reads it as noise).
    assert natural < 3.5 and backwards > natural + 2.0
    # The int8 scorer is noisier in absolute terms but keeps the ordering compression relies on.
    assert causal_scorer.model_id.endswith("int8")
    assert (
        causal_scorer.surprisal(scrambled).values.mean()
        > causal_scorer.surprisal(text).values.mean() + 1.5
    )


@pytest.mark.parametrize(
    ("method", "rate"),
    [
        (CompressionMethod.LLMLINGUA, 0.33),
        (CompressionMethod.LONGLLMLINGUA, 0.5),
        (CompressionMethod.LONGLLMLINGUA, 0.2),
    ],
)
def test_budget_within_ten_percent_with_the_real_model(model_compressor, method, rate) -> None:
    s = CompressionSettings(method=method, rate=rate, question="Who led the Norse raiders?")
    result = model_compressor.compress(NORMANS, s, tenant="t")
    assert (
        0.9 * rate * result.original_tokens
        <= result.compressed_tokens
        <= rate * result.original_tokens
    )


def test_budget_over_500_tokens(model_compressor) -> None:
    text = NORMANS + "\n\n" + NORMANS.replace("Normans", "Vikings")
    result = model_compressor.compress(
        text, CompressionSettings(rate=0.33, method=CompressionMethod.LLMLINGUA), tenant="t"
    )
    assert result.original_tokens > 500
    assert (
        0.9 * 0.33 * result.original_tokens
        <= result.compressed_tokens
        <= 0.33 * result.original_tokens
    )


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Who was the Norse leader?", "Rollo"),
        ("In what year was the Battle of Hastings?", "1066"),
        ("Which kingdom did Roger II found?", "Sicily"),
    ],
)
def test_question_aware_compression_keeps_the_answer(model_compressor, question, answer) -> None:
    s = CompressionSettings(rate=0.25, question=question)
    result = model_compressor.compress(NORMANS, s, tenant="t")
    assert result.method is CompressionMethod.LONGLLMLINGUA
    assert answer in result.text


def test_concurrent_callers_get_the_sequential_answers(model_compressor) -> None:
    texts = [NORMANS[i * 300 : i * 300 + 600] for i in range(4)]
    s = CompressionSettings(rate=0.4)
    expected = [model_compressor.compress(t, s, tenant="t").text for t in texts]
    got: dict[int, str] = {}

    def work(i: int) -> None:
        got[i] = model_compressor.compress(texts[i], s, tenant="t").text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[i] for i in range(4)] == expected


def test_llmlingua2_with_a_local_token_classifier(bert_classifier) -> None:
    compressor = Compressor(classifier=bert_classifier)
    text = NORMANS + " Ticket ord_8f3a2c91 see https://example.com/normans."
    result = compressor.compress(text, CompressionSettings(rate=0.3), tenant="t")
    assert result.method is CompressionMethod.LLMLINGUA2
    assert (
        0.9 * 0.3 * result.original_tokens
        <= result.compressed_tokens
        <= 0.3 * result.original_tokens
    )
    assert "ord_8f3a2c91" in result.text and "https://example.com/normans" in result.text


def test_load_compressor_wires_models_and_cache(smollm2_dir, tiny_xlmr_dir, tmp_path) -> None:
    compressor = load_compressor(tmp_path, causal_model=smollm2_dir, llmlingua2_model=tiny_xlmr_dir)
    assert set(compressor.methods) == set(CompressionMethod)
    s = CompressionSettings(rate=0.5, method=CompressionMethod.LLMLINGUA2)
    first = compressor.compress(NORMANS[:400], s, tenant="t")
    second = compressor.compress(NORMANS[:400], s, tenant="t")
    assert (first.cached, second.cached, second.text) == (False, True, first.text)
    assert (tmp_path / "compression-cache").is_dir()
