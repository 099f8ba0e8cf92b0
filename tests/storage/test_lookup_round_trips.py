"""A semantic-cache lookup makes a fixed number of store reads, whatever the bucket's
size and whichever back end: 1 for a miss, 2 for a hit (bench `store` measures it at
100k; here the same function at a few hundred entries, against both back ends)."""

from __future__ import annotations

import numpy as np
import pytest

from promptpress.bench.suites.store import lookup_latency, synthetic_vectors
from promptpress.storage import Store


@pytest.mark.parametrize("contexts", [1, 10])
def test_reads_per_lookup_do_not_grow_with_the_bucket(store: Store, contexts: int) -> None:
    vectors = synthetic_vectors(600, np.random.default_rng(0), centres=50)
    cell = lookup_latency(
        store, vectors, contexts=contexts, lookups=60, rng=np.random.default_rng(1)
    )
    assert cell["hit_found_rate"] == 1.0 and cell["miss_found_rate"] == 0.0
    assert cell["hit_store_reads_per_lookup"] == 2.0
    assert cell["miss_store_reads_per_lookup"] == 1.0
