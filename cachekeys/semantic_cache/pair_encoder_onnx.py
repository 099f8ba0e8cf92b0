"""The pair encoder's served graph: int8 ONNX Runtime, prepared once per weights.

The committed adapters are merged into the base model's float32 weights, the
merged model (encoder, mean pooling and the linear head: one logit out) is
exported to ONNX, and its linear layers are quantised to int8 with one scale per
output channel (onnxruntime.quantization.quantize_dynamic, per_channel). The
result is prepared once (promptpress.prepared_folder: staged, marker written
last; beside the base model when promptpress prepared it, pair_encoder.graph_home)
under a name derived from the adapters' bytes, the base folder and the versions
of torch, onnx and onnxruntime, so new weights or a new
runtime get a new graph and never a stale one.

Why not torch's own dynamic quantisation (what served before session 7): it
scales each weight matrix as a whole, and on these adapters that moved a logit
from float32's by 2.1 on average (80 written pairs); per-channel scales move it
by 0.42, and on the written calibration split the encoder's ranking is better
for it (ROC AUC 0.988 against 0.974; bench/README.md, "Session 7"). It is also
a little faster here (17.8 ms a pass against 20.1 ms on one thread).

The calibration in the weights' metadata is computed through this same graph
(bench/train_pair_encoder.py), and the metadata keeps a few reference logits that
the served graph must reproduce (tests/cachekeys/test_pair_encoder.py).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from promptpress.prepared_folder import MARKER_FILENAME, is_prepared, prepare_once

MODEL_FILENAME = "pair_encoder.int8.onnx"
QUANTIZATION = {"weight_type": "QInt8", "per_channel": True, "scope": "every MatMul/Gemm"}
OPSET = 17


def runtime_versions() -> dict[str, str]:
    """The versions that shape the graph: the exporter's and the quantiser's."""
    return {name: importlib.metadata.version(name) for name in ("torch", "onnxruntime", "onnx")}


def graph_key(weights: Path, base_dir: Path) -> str:
    """What the prepared graph is made from: the adapters' bytes, the base folder's
    identity and the runtime versions. The base is identified by its marker when
    promptpress prepared it (it records the weights' SHA-256), else by its config
    and the names, sizes and times of its files (hashing 440 MB at every start
    would cost seconds)."""
    h = hashlib.sha256(Path(weights).read_bytes())
    base = Path(base_dir)
    if is_prepared(base):
        h.update((base / MARKER_FILENAME).read_bytes())
    else:
        for file in sorted(p for p in base.iterdir() if p.is_file()):
            stat = file.stat()
            h.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        if (base / "config.json").is_file():
            h.update((base / "config.json").read_bytes())
    h.update(json.dumps([runtime_versions(), QUANTIZATION, OPSET], sort_keys=True).encode())
    return h.hexdigest()[:16]


def graph_folder(cache_dir: Path, weights: Path, base_dir: Path) -> Path:
    return Path(cache_dir) / f"pair-encoder-onnx-{graph_key(weights, base_dir)}"


def prepare_graph(
    cache_dir: Path, weights: Path, base_dir: Path, load_model: Callable[[], tuple[Any, Any]]
) -> Path:
    """The int8 ONNX graph of these adapters over this base, built once into
    `<cache_dir>/pair-encoder-onnx-<key>/` (~15 s here; a 110 MB file) from
    `load_model()`, the (tokenizer, float32 module) it exports; returns the model
    file."""

    def build(staging: Path) -> dict[str, Any]:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tokenizer, model = load_model()
        float_path = staging / "float32.onnx"
        sample = tokenizer("How do I fix a tap?", "How can I repair a faucet?", return_tensors="pt")
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on shape arithmetic
            torch.onnx.export(
                model, (sample["input_ids"], sample["attention_mask"]), str(float_path),
                input_names=["input_ids", "attention_mask"], output_names=["logit"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                              "attention_mask": {0: "batch", 1: "tokens"}},
                opset_version=OPSET, dynamo=False,
            )  # fmt: skip
        root = logging.getLogger()
        root.addFilter(_no_preprocessing_advice)
        try:
            quantize_dynamic(
                str(float_path), str(staging / MODEL_FILENAME),
                weight_type=QuantType.QInt8, per_channel=True,
            )  # fmt: skip
        finally:
            root.removeFilter(_no_preprocessing_advice)
        os.remove(float_path)
        return {
            "made_from": {"adapters": str(weights), "base": str(base_dir)},
            "adapters_sha256": hashlib.sha256(Path(weights).read_bytes()).hexdigest(),
            "versions": runtime_versions(), "quantization": QUANTIZATION, "opset": OPSET,
        }  # fmt: skip

    return prepare_once(graph_folder(cache_dir, weights, base_dir), build) / MODEL_FILENAME


def _no_preprocessing_advice(record: logging.LogRecord) -> bool:
    """The quantiser logs advice to pre-process image models on the root logger."""
    return "pre-processing before quantization" not in record.getMessage()


def open_session(model_file: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session with `threads` intra-op threads (0: the runtime's
    default), no spinning between passes (the cores are shared with the rest)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
