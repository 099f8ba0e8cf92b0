"""`promptpress prepare` (prepare_assets): every embedded model lands in the data
directory once, the pair encoder's base included; a configured local copy wins."""

from __future__ import annotations

from pathlib import Path

from promptpress.cachekeys.semantic_cache import mpnet_prep
from promptpress.prepared_folder import is_prepared
from promptpress.server.config import ServerConfig
from promptpress.server.resources import prepare_assets
from tests.conftest import stable_model_dir


def test_prepare_lists_the_prepared_pair_encoder_base(pair_encoder_base: Path) -> None:
    config = ServerConfig(data_dir=str(stable_model_dir()), pair_encoder_base="")
    assets = prepare_assets(config)
    assert set(assets) == {"tiktoken", "compressor", "pair_encoder_base"}
    assert assets["pair_encoder_base"] == mpnet_prep.model_dir(stable_model_dir())
    assert is_prepared(assets["pair_encoder_base"])


def test_a_configured_base_folder_is_used_as_given(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=str(stable_model_dir()), pair_encoder_base=str(tmp_path))
    assert prepare_assets(config)["pair_encoder_base"] == tmp_path


def test_the_session_names_its_prepared_base_for_every_server(pair_encoder_base: Path) -> None:
    # ServerConfig built in code takes PROMPTPRESS_PAIR_ENCODER_BASE as its default.
    assert ServerConfig().pair_encoder_base == str(pair_encoder_base)
