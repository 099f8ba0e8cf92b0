"""Each llmlingua 0.2.2 incompatibility is handled at its seam: one test per seam."""

from __future__ import annotations

import llmlingua.prompt_compressor as llmlingua_module
import pytest
import torch
from llmlingua.utils import TokenClfDataset, is_begin_of_new_word
from transformers import DynamicCache

from promptpress.compressor.llmlingua_adapter import (
    BERT_FAMILY_ALIAS,
    XLMR_FAMILY_ALIAS,
    LegacyCacheCausalLM,
    LLMLinguaAdapter,
    ModelKind,
    cache_to_legacy,
    install_module_seams,
    legacy_to_cache,
    reference_compress,
)

LONG_TEXT = " ".join(
    [
        "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy,",
        "a region in France. They were descended from Norse raiders and pirates from Denmark, Iceland",
        "and Norway who, under their leader Rollo, agreed to swear fealty to King Charles III of West",
        "Francia. Through generations of assimilation and mixing with the native Frankish and Roman-Gaulish",
        "populations, their descendants would gradually merge with the Carolingian-based cultures of West",
        "Francia. The distinct cultural and ethnic identity of the Normans emerged initially in the first",
        "half of the 10th century, and it continued to evolve over the succeeding centuries.",
    ]
    * 2
)


# --- seam 1: DynamicCache <-> tuples -------------------------------------------------------


def test_transformers_returns_a_cache_object_llmlingua_cannot_slice(causal_adapter) -> None:
    ids = causal_adapter.tokenizer("Hello there", return_tensors="pt").input_ids
    with torch.inference_mode():
        raw = causal_adapter.lm(ids, use_cache=True).past_key_values
        wrapped = causal_adapter.model(ids, use_cache=True).past_key_values
    assert isinstance(raw, DynamicCache)  # what transformers 5 gives llmlingua without the seam
    assert isinstance(wrapped, tuple)
    assert wrapped[0][0].shape == raw.layers[0].keys.shape


def test_cache_conversion_round_trips() -> None:
    legacy = [(torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)) for _ in range(3)]
    back = cache_to_legacy(legacy_to_cache(legacy))
    assert len(back) == 3
    for (k0, v0), (k1, v1) in zip(legacy, back, strict=True):
        assert torch.equal(k0, k1) and torch.equal(v0, v1)


def test_reference_llmlingua_runs_through_iterative_windows(causal_adapter) -> None:
    # > 200 model tokens: llmlingua's iterative loop reuses and slices past_key_values.
    assert isinstance(causal_adapter.model, LegacyCacheCausalLM)
    n_tokens = len(causal_adapter.tokenizer(LONG_TEXT).input_ids)
    assert n_tokens > 250
    out = reference_compress(causal_adapter, [LONG_TEXT], rate=0.5)
    assert 0 < len(out) < len(LONG_TEXT)


# --- seam 2: sentence splitting without punkt data -----------------------------------------


def test_sentence_level_filter_runs_without_punkt_data(causal_adapter) -> None:
    assert not hasattr(llmlingua_module.nltk, "download")  # llmlingua sees the offline stand-in
    assert llmlingua_module.nltk.sent_tokenize("One here. Two there! Three?") == [
        "One here.",
        "Two there!",
        "Three?",
    ]
    out = causal_adapter.compress_prompt(
        [LONG_TEXT[:250], LONG_TEXT[250:500]],
        rate=0.5,
        use_sentence_level_filter=True,
        use_context_level_filter=False,
        use_token_level_filter=False,
    )
    assert 0 < len(out["compressed_prompt"]) < 500


# --- seam 3: word boundaries for any model name ---------------------------------------------


def test_llmlingua_rejects_model_names_it_does_not_know(tiny_bert_dir) -> None:
    with pytest.raises(NotImplementedError):
        is_begin_of_new_word("##ing", str(tiny_bert_dir), [], {})


@pytest.mark.parametrize(
    ("fixture", "alias"),
    [("tiny_bert_dir", BERT_FAMILY_ALIAS), ("tiny_xlmr_dir", XLMR_FAMILY_ALIAS)],
)
def test_any_path_gets_its_tokenizer_family_alias(request, fixture: str, alias: str) -> None:
    path = request.getfixturevalue(fixture)
    adapter = LLMLinguaAdapter(path)
    assert adapter.kind is ModelKind.TOKEN_CLASSIFIER
    assert adapter.source == str(path)
    assert adapter.model_name == alias
    out = reference_compress(
        adapter, ["The quick brown fox jumps over the lazy dog near the river bank."], rate=0.5
    )
    assert 0 < len(out.split()) < 13


def test_microsoft_layout_names_load_by_local_path(tmp_path, tiny_bert_dir) -> None:
    import shutil

    named = tmp_path / "microsoft" / "llmlingua-2-bert-base-multilingual-cased-meetingbank"
    shutil.copytree(tiny_bert_dir, named)
    adapter = LLMLinguaAdapter(named)
    assert adapter.model_name == BERT_FAMILY_ALIAS


def test_hub_names_resolve_only_from_the_local_cache() -> None:
    # local_files_only: a name missing from the Hugging Face cache fails at once, no download.
    with pytest.raises(OSError):
        LLMLinguaAdapter("microsoft/llmlingua-2-xlm-roberta-large-meetingbank-not-cached")


# --- seam 4: XLM-R special tokens ------------------------------------------------------------


def test_xlmr_dataset_uses_the_tokenizers_own_special_tokens(tiny_xlmr_dir) -> None:
    adapter = LLMLinguaAdapter(tiny_xlmr_dir)
    tok = adapter.tokenizer
    upstream = TokenClfDataset(["the fox"], max_len=64, tokenizer=tok)  # what llmlingua builds
    assert upstream[0]["ids"][0].item() == tok.unk_token_id  # "[CLS]" is <unk> to XLM-R: the bug
    fixed = llmlingua_module.TokenClfDataset(["the fox"], max_len=64, tokenizer=tok)
    ids = fixed[0]["ids"].tolist()
    assert ids[0] == tok.cls_token_id == tok.bos_token_id
    assert tok.sep_token_id in ids and ids[-1] == tok.pad_token_id
    assert tok.unk_token_id not in ids


def test_xlmr_model_sees_bos_in_the_reference_path(tiny_xlmr_dir) -> None:
    adapter = LLMLinguaAdapter(tiny_xlmr_dir)
    seen: list[torch.Tensor] = []
    hook = adapter.lm.register_forward_pre_hook(
        lambda _m, args, kwargs: seen.append(kwargs["input_ids"]), with_kwargs=True
    )
    try:
        reference_compress(adapter, ["The quick brown fox jumps over the lazy dog."], rate=0.5)
    finally:
        hook.remove()
    assert seen and all(batch[:, 0].eq(adapter.tokenizer.cls_token_id).all() for batch in seen)


def test_module_seams_are_idempotent() -> None:
    install_module_seams()
    first = llmlingua_module.nltk
    install_module_seams()
    assert llmlingua_module.nltk is first


def test_word_boundary_alias_rejects_byte_level_bpe(causal_adapter) -> None:
    from promptpress.compressor.llmlingua_adapter import word_boundary_alias

    with pytest.raises(ValueError, match="WordPiece"):
        word_boundary_alias(causal_adapter.tokenizer)
