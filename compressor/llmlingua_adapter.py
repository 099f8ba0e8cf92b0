"""The one place promptpress touches llmlingua 0.2.2.

llmlingua's `PromptCompressor` loads the scorer model and runs the reference
algorithms. Four incompatibilities with today's stack are handled here, each
at one seam, each with its own test (tests/compressor/test_llmlingua_adapter.py):

1. transformers 5.x returns a `DynamicCache`; llmlingua slices
   `past_key_values` as a list of (key, value) pairs. `LegacyCacheCausalLM`
   converts both ways at the model's forward call (upstream issue 210).
2. `nltk.sent_tokenize` needs punkt data that cannot be downloaded offline.
   llmlingua's module-level `nltk` name is pointed at `_OfflineNltk`, whose
   `sent_tokenize` uses an untrained `PunktSentenceTokenizer` (no data files).
3. LLMLingua-2 decides word boundaries by looking for
   "bert-base-multilingual-cased" or "xlm-roberta-large" in `model_name`
   (`utils.is_begin_of_new_word`). After loading from any path or hub name we
   set `model_name` to the alias of the model's tokenizer family.
4. `TokenClfDataset` is built without `model_name`, so XLM-R models are fed
   BERT's "[CLS]"/"[SEP]"/"[PAD]" strings, which XLM-R's vocabulary maps to
   <unk> (upstream issue 181, fix PR 182 unmerged). `_TokenizerSpecialsDataset`
   takes the special tokens from the tokenizer itself. For that the tokenizer
   must keep its pad token: llmlingua's `load_model` tests `if
   config.pad_token_id`, so BERT's pad id 0 counts as missing and is replaced
   by the eos id, which BERT does not have; `load_model` below puts it back.

Models load with `local_files_only=True` (no downloads at run time: a hub name
resolves from the local Hugging Face cache) and `trust_remote_code=False`
(llmlingua defaults it to True, which would run code shipped with a model).
"""

from __future__ import annotations

import enum
import inspect
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from nltk.tokenize.punkt import PunktSentenceTokenizer

from promptpress.tiktoken_offline import ensure_offline_encodings

# llmlingua calls tiktoken.encoding_for_model at construction and nltk at
# import; the offline encodings must be in place before it is imported.
ensure_offline_encodings()

import llmlingua.prompt_compressor as _llmlingua  # noqa: E402
from llmlingua.utils import TokenClfDataset  # noqa: E402
from transformers import AutoConfig, DynamicCache  # noqa: E402

# The two model names llmlingua 0.2.2 recognises for LLMLingua-2 word boundaries.
BERT_FAMILY_ALIAS = "bert-base-multilingual-cased"
XLMR_FAMILY_ALIAS = "xlm-roberta-large"


class ModelKind(enum.Enum):
    CAUSAL_LM = "causal_lm"  # LLMLingua / LongLLMLingua (perplexity)
    TOKEN_CLASSIFIER = "token_classifier"  # LLMLingua-2


# --- seam 1: DynamicCache <-> legacy tuples -------------------------------------------


def cache_to_legacy(cache: Any) -> Any:
    """A transformers Cache as llmlingua expects it: one (key, value) per layer."""
    if cache is None or isinstance(cache, (tuple, list)):
        return cache
    return tuple((layer.keys, layer.values) for layer in cache.layers)


def legacy_to_cache(past: Any) -> Any:
    """llmlingua's list of [key, value] pairs as a DynamicCache for transformers 5."""
    if past is None or not isinstance(past, (tuple, list)):
        return past
    return DynamicCache(ddp_cache_data=[(k, v) for k, v in past])


@dataclass(frozen=True, slots=True)
class LegacyOutput:
    """The two fields llmlingua reads from a forward pass, in its own terms."""

    logits: torch.Tensor
    past_key_values: Any


class LegacyCacheCausalLM(torch.nn.Module):
    """Wraps a causal LM so llmlingua sees tuple caches and the model sees Cache objects."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.inner = model
        # transformers 5.x renamed the argument (and output field) `past_key_values` to `cache`.
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"

    def forward(self, *args: Any, past_key_values: Any = None, **kwargs: Any) -> LegacyOutput:
        if past_key_values is not None:
            kwargs[self._cache_arg] = legacy_to_cache(past_key_values)
        output = self.inner(*args, **kwargs)
        cache = output.get(self._cache_arg)
        return LegacyOutput(output.logits, cache_to_legacy(cache))


# --- seam 2: sentence splitting without punkt data -------------------------------------


class _OfflineNltk:
    """Stands in for the `nltk` module inside llmlingua.prompt_compressor."""

    def __init__(self) -> None:
        self._splitter = PunktSentenceTokenizer()  # untrained: needs no data files

    def sent_tokenize(self, text: str, language: str = "english") -> list[str]:
        return self._splitter.tokenize(text)


# --- seam 4: special tokens from the tokenizer, not from a guessed model name ----------


class _TokenizerSpecialsDataset(TokenClfDataset):
    def __init__(self, texts: Sequence[str], max_len: int = 512, tokenizer: Any = None, **_: Any):
        # The parent picks special-token strings by model name and defaults to BERT's;
        # the tokenizer knows its own.
        self.len = len(texts)
        self.texts = texts
        self.tokenizer = tokenizer
        self.max_len = max_len
        self.cls_token = tokenizer.cls_token or tokenizer.bos_token
        self.sep_token = tokenizer.sep_token or tokenizer.eos_token
        self.unk_token = tokenizer.unk_token
        self.pad_token = tokenizer.pad_token
        self.mask_token = tokenizer.mask_token


_patch_lock = threading.Lock()


def install_module_seams() -> None:
    """Point llmlingua's module-level `nltk` and `TokenClfDataset` at the offline-safe ones."""
    with _patch_lock:
        if not isinstance(_llmlingua.nltk, _OfflineNltk):
            _llmlingua.nltk = _OfflineNltk()
        _llmlingua.TokenClfDataset = _TokenizerSpecialsDataset


# --- seam 3: the word-boundary family alias --------------------------------------------


def word_boundary_alias(tokenizer: Any) -> str:
    """The model name llmlingua's LLMLingua-2 code needs for this tokenizer's word pieces."""
    pieces = tokenizer.tokenize("tokenization unbelievably")
    if any(p.startswith("##") for p in pieces):
        return BERT_FAMILY_ALIAS
    if pieces and pieces[0].startswith("▁"):
        return XLMR_FAMILY_ALIAS
    raise ValueError(
        "LLMLingua-2 needs a WordPiece (BERT-style '##') or SentencePiece (XLM-R-style '▁') "
        f"tokenizer; got pieces {pieces[:6]}"
    )


def detect_kind(model: str | Path) -> ModelKind:
    config = AutoConfig.from_pretrained(str(model), local_files_only=True, trust_remote_code=False)
    architectures = config.architectures or []
    if any("ForTokenClassification" in a for a in architectures):
        return ModelKind.TOKEN_CLASSIFIER
    return ModelKind.CAUSAL_LM


class LLMLinguaAdapter(_llmlingua.PromptCompressor):
    """llmlingua's PromptCompressor with the seams above applied; CPU, offline.

    `lm` is the bare transformers model and `tokenizer` its tokenizer, for
    promptpress's own scorers; `compress_prompt` is llmlingua's reference.
    """

    def __init__(self, model: str | Path, *, kind: ModelKind | None = None) -> None:
        install_module_seams()
        self.source = str(model)
        self.kind = kind or detect_kind(model)
        super().__init__(
            model_name=self.source,
            device_map="cpu",
            model_config={"trust_remote_code": False, "local_files_only": True},
            use_llmlingua2=self.kind is ModelKind.TOKEN_CLASSIFIER,
        )

    def load_model(
        self, model_name: str, device_map: str = "cpu", model_config: Any = None
    ) -> None:
        super().load_model(model_name, device_map, dict(model_config or {}))
        self.lm: Any = self.model  # type: ignore[has-type]  # set by llmlingua's load_model
        self.lm.eval()
        if self.kind is ModelKind.CAUSAL_LM:
            self.model = LegacyCacheCausalLM(self.lm)
            return
        self.model_name = word_boundary_alias(self.tokenizer)
        if self.tokenizer.pad_token is None and self.lm.config.pad_token_id is not None:
            self.tokenizer.pad_token_id = self.lm.config.pad_token_id


def reference_compress(
    adapter: LLMLinguaAdapter,
    contexts: Sequence[str],
    *,
    rate: float,
    question: str = "",
) -> str:
    """llmlingua's own compress_prompt with its documented settings for each method.

    With a question on a causal LM this is LongLLMLingua as the paper configures it
    (question-conditioned ranking, sort reordering, dynamic ratio, contrastive
    token filter); without, LLMLingua; on a token classifier, LLMLingua-2.
    """
    contexts = list(contexts)
    if adapter.kind is ModelKind.TOKEN_CLASSIFIER:
        out = adapter.compress_prompt(contexts, rate=rate, force_tokens=["\n"])
    elif question:
        out = adapter.compress_prompt(
            contexts,
            question=question,
            rate=rate,
            condition_in_question="after_condition",
            reorder_context="sort",
            dynamic_context_compression_ratio=0.3,
            condition_compare=True,
            context_budget="+100",
            rank_method="longllmlingua",
            concate_question=False,
        )
    else:
        out = adapter.compress_prompt(contexts, rate=rate, use_context_level_filter=False)
    return str(out["compressed_prompt"])
