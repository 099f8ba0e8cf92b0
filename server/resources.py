"""Heavy resources, loaded once before serving and passed to the stages.

`load_resources` builds every model and store from the config (blocking: call
it in a thread); `prepare_assets` materialises the embedded defaults in the
data directory so a first start does not pay for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptpress.cachekeys.profiles import ProfileSet, load_profiles
from promptpress.cachekeys.semantic_cache.cache import SemanticCache
from promptpress.cachekeys.semantic_cache.pair_encoder import (
    ENCODER_PATH,
    PairEncoder,
    base_location,
    default_pair_encoder,
    graph_home,
    served_graph,
)
from promptpress.cachekeys.semantic_cache.verifier import DEFAULT_MAX_FALSE_HIT_RATE, Verifier
from promptpress.compressor.compress import Compressor
from promptpress.compressor.loading import load_compressor
from promptpress.compressor.model_prep import prepare_default_model
from promptpress.compressor.settings import CompressionLimits
from promptpress.errors import FailedPrecondition, InvalidInput
from promptpress.retrieval import Corpus, DocumentLimits, SentenceTransformerEmbedder
from promptpress.retrieval.corpus import Quotas
from promptpress.server.config import ServerConfig
from promptpress.server.logs import log_event
from promptpress.storage import Store
from promptpress.storage.open import REDIS_SCHEMES, open_store
from promptpress.tiktoken_offline import ensure_offline_encodings
from promptpress.types import TextEmbedder

log = logging.getLogger("promptpress.server")


@dataclass
class Resources:
    """What the stages need, loaded once. Optional parts are None when not loaded."""

    profiles: ProfileSet
    store: Store | None = None
    embedder: SentenceTransformerEmbedder | None = None
    corpus: Corpus | None = None
    compressor: Compressor | None = None
    semantic_cache: SemanticCache | None = None
    closers: list[Any] = field(default_factory=list)

    def require_corpus(self) -> Corpus:
        if self.corpus is None:
            raise FailedPrecondition(
                "documents need the retrieval models, which this server did not load"
            )
        return self.corpus

    def require_compressor(self) -> Compressor:
        if self.compressor is None:
            raise FailedPrecondition(
                "compression needs the compressor model, which this server did not load"
            )
        return self.compressor

    def close(self) -> None:
        for resource in reversed(self.closers):
            resource.close()
        self.closers.clear()


def retrieval_limits(config: ServerConfig) -> DocumentLimits:
    return DocumentLimits(
        max_documents=config.max_documents,
        max_document_ids=config.max_document_ids,
        max_document_bytes=config.max_document_bytes,
    )


SEMANTIC_CACHE_OPTIONS = {
    "threshold": float,
    "ttl_s": float,
    "max_entries_per_tenant": int,
    "eviction": str,
    "matcher": str,
    "max_false_hit_rate": float,
    "prefilter_threshold": float,
}
MATCHERS = ("verifier", "features", "guards", "cosine")


def semantic_cache_options(table: Mapping[str, Any]) -> dict[str, Any]:
    """The [semantic_cache] config table, checked: unknown keys are an error."""
    options: dict[str, Any] = {}
    for key, value in table.items():
        kind = SEMANTIC_CACHE_OPTIONS.get(key)
        if kind is None:
            raise InvalidInput.single(
                f"semantic_cache.{key}",
                f"unknown setting; known: {', '.join(SEMANTIC_CACHE_OPTIONS)}",
            )
        if isinstance(value, bool) or not isinstance(value, str if kind is str else int | float):
            raise InvalidInput.single(
                f"semantic_cache.{key}", f"expected {kind.__name__}, got {value!r}"
            )
        options[key] = kind(value)
    if options.get("matcher", "verifier") not in MATCHERS:
        raise InvalidInput.single("semantic_cache.matcher", f"must be one of {', '.join(MATCHERS)}")
    bound = options.get("max_false_hit_rate", DEFAULT_MAX_FALSE_HIT_RATE)
    if not 0.0 < bound < 1.0:
        raise InvalidInput.single("semantic_cache.max_false_hit_rate", "must be in (0, 1)")
    return options


def model_passes(config: ServerConfig) -> int:
    """Forward passes of one model that may run at once: the setting, or one per usable core."""
    if config.model_passes > 0:
        return config.model_passes
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def corpus_quotas(config: ServerConfig) -> Quotas:
    return Quotas(
        max_documents=config.max_corpus_documents_per_tenant,
        max_bytes=config.max_corpus_bytes_per_tenant,
    )


def check_store_settings(config: ServerConfig) -> None:
    """store_url's scheme, store_map_size and the corpus quotas, checked before anything
    loads; raises InvalidInput naming the setting."""
    scheme = config.store_url.split("://", 1)[0].lower() if "://" in config.store_url else ""
    if config.store_url and scheme not in ("lmdb", *REDIS_SCHEMES):
        raise InvalidInput.single(
            "store_url", "use redis://, rediss:// (TLS), lmdb:///path, or leave it empty (LMDB)"
        )
    if config.store_map_size < 1 << 20:
        raise InvalidInput.single("store_map_size", "must be at least 1 MiB (1048576 bytes)")
    for name in ("max_corpus_documents_per_tenant", "max_corpus_bytes_per_tenant"):
        if getattr(config, name) < 0:
            raise InvalidInput.single(name, "must be >= 0 (0: unlimited)")


def open_configured_store(config: ServerConfig) -> Store:
    """The Store `store_url` names (empty: LMDB under data_dir/store)."""
    check_store_settings(config)
    try:
        return open_store(
            config.store_url, data_dir=config.data_path, map_size=config.store_map_size
        )
    except ValueError as exc:
        raise InvalidInput.single("store_url", str(exc)) from exc


def open_semantic_cache(
    store: Store,
    embedder: TextEmbedder,
    table: Mapping[str, Any],
    load_encoder: Callable[[], PairEncoder],
) -> SemanticCache:
    """The semantic cache as configured. The default matcher verifies every candidate
    (Verifier: the pair encoder and the feature MLP, calibrated to max_false_hit_rate);
    "features" is the verifier without the pair encoder (the feature MLP alone, its own
    calibration); "guards" and "cosine" are the older word-list guards and a bare
    cosine threshold."""
    options = semantic_cache_options(table)
    matcher = options.pop("matcher", "verifier")
    bound = options.pop("max_false_hit_rate", DEFAULT_MAX_FALSE_HIT_RATE)
    prefilter = options.pop("prefilter_threshold", None)
    verifier = None
    if matcher in ("verifier", "features"):
        encoder = load_encoder() if matcher == "verifier" else None
        verifier = Verifier(
            embedder, max_false_hit_rate=bound, prefilter=prefilter, encoder=encoder
        )
    return SemanticCache(
        store, dim=embedder.dim, guards=matcher == "guards", verifier=verifier, **options
    )


def prepare_assets(config: ServerConfig) -> dict[str, Path]:
    data = config.data_path
    data.mkdir(parents=True, exist_ok=True)
    assets = {"tiktoken": ensure_offline_encodings(data / "tiktoken")}
    if not config.compressor_model:
        assets["compressor"] = prepare_default_model(data)
    base = assets["pair_encoder_base"] = base_location(data, config.pair_encoder_base)
    assets["pair_encoder"] = served_graph(graph_home(data, base), ENCODER_PATH, base)
    return assets


def load_resources(
    config: ServerConfig,
    *,
    embedder: SentenceTransformerEmbedder | None = None,
    compressor: Compressor | None = None,
) -> Resources:
    """Load models and open stores. `embedder`/`compressor` let tests share loaded models."""
    config.data_path.mkdir(parents=True, exist_ok=True)
    ensure_offline_encodings(config.data_path / "tiktoken")
    profiles = load_profiles(prices_path=config.prices_file or None)
    resources = Resources(profiles=profiles)
    # Opened first, closed last (closers run in reverse). Connecting is lazy for
    # Redis: a store that is down at start-up is reported per request, not fatal.
    resources.store = open_configured_store(config)
    resources.closers.append(resources.store)
    log_event(log, "store opened", store=resources.store.name)
    if config.torch_threads > 0:
        import torch

        torch.set_num_threads(config.torch_threads)
    if not config.load_models:
        log_event(log, "models not loaded (load_models=false)")
        return resources
    resources.embedder = embedder or SentenceTransformerEmbedder(
        config.embedding_model or None,
        batching=config.micro_batching,
        window_s=config.micro_batch_window_ms / 1000,
        max_concurrent=model_passes(config),
    )
    resources.corpus = Corpus(
        resources.store,
        resources.embedder,
        limits=retrieval_limits(config),
        quotas=corpus_quotas(config),
        fine_at_index=None if config.index_sub_chunks else (),
    )
    resources.closers.append(resources.corpus)
    resources.semantic_cache = open_semantic_cache(
        resources.store,
        resources.embedder,
        config.extra.get("semantic_cache", {}),
        lambda: default_pair_encoder(
            config.data_path, config.pair_encoder_base, max(0, config.torch_threads)
        ),
    )
    resources.closers.append(resources.semantic_cache)
    if compressor is None:
        compressor = load_compressor(
            config.data_path,
            causal_model=config.compressor_model or None,
            llmlingua2_model=config.llmlingua2_model or None,
            distilled_model=config.distilled_model or None,
            distilled=config.distilled_compressor,
            batching=config.micro_batching,
            batch_window_s=config.micro_batch_window_ms / 1000,
            model_passes=model_passes(config),
            limits=CompressionLimits(max_text_bytes=config.max_text_bytes),
            store=resources.store,
        )
        if compressor.cache is not None:
            resources.closers.append(compressor.cache)
    resources.compressor = compressor
    log_event(log, "resources loaded", embedder=resources.embedder.model_id)
    return resources
