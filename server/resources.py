"""Heavy resources, loaded once before serving and passed to the stages.

`prepare_assets` materialises the embedded defaults in the data directory (the
tiktoken files now; the converted compressor model once that stage lands).
"""

from __future__ import annotations

from pathlib import Path

from promptpress.compressor.tiktoken_offline import ensure_offline_encodings
from promptpress.server.config import ServerConfig


def prepare_assets(config: ServerConfig) -> dict[str, Path]:
    data = config.data_path
    data.mkdir(parents=True, exist_ok=True)
    return {"tiktoken": ensure_offline_encodings(data / "tiktoken")}
