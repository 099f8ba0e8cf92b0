"""Store settings are checked before anything loads, naming the setting."""

from __future__ import annotations

import pytest

from promptpress.errors import InvalidInput
from promptpress.server.app import check_config
from promptpress.server.config import ServerConfig


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"store_url": "memcached://cache:11211"}, "store_url"),
        ({"store_url": "valkey.internal:6379"}, "store_url"),
        ({"store_map_size": 4096}, "store_map_size"),
        ({"max_corpus_documents_per_tenant": -1}, "max_corpus_documents_per_tenant"),
        ({"max_corpus_bytes_per_tenant": -5}, "max_corpus_bytes_per_tenant"),
    ],
)
def test_bad_store_settings_name_the_setting(settings: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput) as err:
        check_config(ServerConfig(**settings))
    assert [v.field for v in err.value.violations] == [field]


@pytest.mark.parametrize(
    "url",
    ["", "redis://:pw@valkey:6379/0", "rediss://cache:6380/1", "redis://c:7000/0?cluster=true"],
)
def test_good_store_urls_pass(url: str) -> None:
    check_config(ServerConfig(store_url=url))
