"""Build a ready Compressor from a data directory: what the server calls once at start-up."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from promptpress.compressor.compress import Compressor
from promptpress.compressor.compression_cache import CompressionCache
from promptpress.compressor.distilled import DEFAULT_HEAD, DistilledScorer
from promptpress.compressor.llmlingua_adapter import LLMLinguaAdapter
from promptpress.compressor.model_prep import prepare_default_model
from promptpress.compressor.scoring import CausalLMScorer, TokenClassifierScorer
from promptpress.compressor.settings import CompressionLimits
from promptpress.storage import Store

log = logging.getLogger(__name__)


def load_compressor(
    data_dir: Path,
    *,
    causal_model: str | Path | None = None,
    llmlingua2_model: str | Path | None = None,
    distilled_model: str | Path | None = None,
    distilled: bool = True,
    batching: bool = True,
    batch_window_s: float = 0.002,
    model_passes: int = 1,
    cache: bool = True,
    threads: int | None = None,
    default_rate: float = 0.5,
    limits: CompressionLimits | None = None,
    store: Store | None = None,
) -> Compressor:
    """Load the scorer models once and open the LMDB cache under data_dir.

    causal_model: a local path or a Hugging Face name already in the local
    cache; default: the embedded SmolLM2-135M-Instruct, converted into
    data_dir on first use (see prepare_default_model). llmlingua2_model: an
    LLMLingua-2 token classifier (e.g. a local copy of
    microsoft/llmlingua-2-xlm-roberta-large-meetingbank); without it,
    LLMLingua-2 requests fail with FailedPrecondition. distilled_model: a
    head (.safetensors) trained by `promptpress train-compressor`; default:
    the one shipped in compressor/weights/. With `distilled` (the default) it
    is loaded and the distilled method becomes the default; the SmolLM2
    methods stay selectable. batching: micro-batch the distilled
    encoder's passes across concurrent requests (batch_window_s at most);
    model_passes of them may run at once. threads: torch's
    intra-op threads (a process-wide setting); None leaves torch's default.
    store: where the compression cache lives (default: LMDB under data_dir).
    """
    if threads is not None:
        torch.set_num_threads(threads)
    data_dir = Path(data_dir)
    source = causal_model or prepare_default_model(data_dir)
    causal = CausalLMScorer(LLMLinguaAdapter(source))
    classifier = None
    fast = None
    if distilled or distilled_model:
        fast = DistilledScorer(
            distilled_model or DEFAULT_HEAD,
            batching=batching,
            window_s=batch_window_s,
            max_concurrent=model_passes,
        )
    if llmlingua2_model:
        adapter = LLMLinguaAdapter(llmlingua2_model)
        classifier = TokenClassifierScorer(adapter)
    cache_store = CompressionCache(store or data_dir / "compression-cache") if cache else None
    log.info(
        "compressor loaded: causal=%s llmlingua2=%s distilled=%s cache=%s",
        source,
        llmlingua2_model or "-",
        fast.path if fast else "-",
        cache_store.path if cache_store else "-",
    )
    return Compressor(
        causal=causal,
        classifier=classifier,
        distilled=fast,
        cache=cache_store,
        default_rate=default_rate,
        limits=limits or CompressionLimits(),
    )
