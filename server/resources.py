"""Heavy resources, loaded once before serving and passed to the stages.

`load_resources` builds every model and store from the config (blocking: call
it in a thread); `prepare_assets` materialises the embedded defaults in the
data directory so a first start does not pay for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptpress.cachekeys.profiles import ProfileSet, load_profiles
from promptpress.compressor.tiktoken_offline import ensure_offline_encodings
from promptpress.retrieval import Corpus, Embedder, Limits
from promptpress.server.config import ServerConfig
from promptpress.server.logs import log_event

log = logging.getLogger("promptpress.server")


@dataclass
class Resources:
    """What the stages need, loaded once. Optional parts are None when not loaded."""

    profiles: ProfileSet
    embedder: Embedder | None = None
    corpus: Corpus | None = None
    compressor: Any | None = None
    semantic_cache: Any | None = None
    closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for resource in reversed(self.closers):
            resource.close()
        self.closers.clear()


def retrieval_limits(config: ServerConfig) -> Limits:
    return Limits(
        max_documents=config.max_documents,
        max_document_ids=config.max_document_ids,
        max_document_bytes=config.max_document_bytes,
    )


def prepare_assets(config: ServerConfig) -> dict[str, Path]:
    data = config.data_path
    data.mkdir(parents=True, exist_ok=True)
    return {"tiktoken": ensure_offline_encodings(data / "tiktoken")}


def load_resources(config: ServerConfig, *, embedder: Embedder | None = None) -> Resources:
    """Load models and open stores. `embedder` lets tests share one loaded model."""
    prepare_assets(config)
    profiles = load_profiles(prices_path=config.prices_file or None)
    resources = Resources(profiles=profiles)
    if not config.load_models:
        log_event(log, "models not loaded (load_models=false)")
        return resources
    resources.embedder = embedder or Embedder(config.embedding_model or None)
    resources.corpus = Corpus(
        config.data_path / "corpus", resources.embedder, limits=retrieval_limits(config)
    )
    resources.closers.append(resources.corpus)
    log_event(log, "resources loaded", embedder=resources.embedder.model_id)
    return resources
