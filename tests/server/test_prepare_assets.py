"""`promptpress prepare` (prepare_assets): every embedded model lands in the data
directory once, the pair encoder's base included; a configured local copy wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptpress.cachekeys.semantic_cache import mpnet_prep
from promptpress.prepared_folder import is_prepared
from promptpress.server.config import ServerConfig
from promptpress.server.resources import prepare_assets
from tests.conftest import stable_model_dir


def test_prepare_lists_the_prepared_pair_encoder_base(pair_encoder_base: Path) -> None:
    config = ServerConfig(data_dir=str(stable_model_dir()), pair_encoder_base="")
    assets = prepare_assets(config)
    assert set(assets) == {"tiktoken", "compressor", "pair_encoder_base", "pair_encoder"}
    assert assets["pair_encoder_base"] == mpnet_prep.model_dir(stable_model_dir())
    assert is_prepared(assets["pair_encoder_base"])
    # The served graph (int8 ONNX), prepared beside the base it was made from.
    assert assets["pair_encoder"].parent.parent == stable_model_dir() / "models"
    assert is_prepared(assets["pair_encoder"].parent) and assets["pair_encoder"].stat().st_size > 0


def test_a_configured_base_folder_is_used_as_given(pair_encoder_base: Path, tmp_path: Path) -> None:
    local = tmp_path / "my-mpnet"
    local.symlink_to(pair_encoder_base)  # a local copy of the same model
    config = ServerConfig(data_dir=str(stable_model_dir()), pair_encoder_base=str(local))
    assets = prepare_assets(config)
    assert assets["pair_encoder_base"] == local
    # A prepared base's graph is shared by every data directory that names the base.
    assert assets["pair_encoder"].parent.parent == stable_model_dir() / "models"


def test_a_base_promptpress_did_not_prepare_gets_its_graph_in_the_data_directory(
    tmp_path: Path,
) -> None:
    from promptpress.cachekeys.semantic_cache.pair_encoder import graph_home

    (tmp_path / "base").mkdir()
    assert graph_home(tmp_path / "data", tmp_path / "base") == tmp_path / "data" / "models"


def test_a_configured_folder_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=str(stable_model_dir()), pair_encoder_base=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        prepare_assets(config)


def test_the_session_names_its_prepared_base_for_every_server(pair_encoder_base: Path) -> None:
    # ServerConfig built in code takes PROMPTPRESS_PAIR_ENCODER_BASE as its default.
    assert ServerConfig().pair_encoder_base == str(pair_encoder_base)
