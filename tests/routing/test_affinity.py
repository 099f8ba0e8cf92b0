"""Consistent hashing of prompt-prefix keys over a tier's upstreams."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from promptpress.server.routing.affinity import Node, pick, rendezvous_order

NODES = [Node("a"), Node("b"), Node("c"), Node("d")]
KEYS = [f"prefix-{i}" for i in range(4000)]


def test_same_key_same_node_and_order_is_a_permutation():
    for key in KEYS[:50]:
        assert pick(key, NODES) == pick(key, list(reversed(NODES)))
        assert sorted(n.name for n in rendezvous_order(key, NODES)) == ["a", "b", "c", "d"]


def test_removing_a_node_remaps_only_its_keys():
    before = {k: pick(k, NODES).name for k in KEYS}
    after = {k: pick(k, [n for n in NODES if n.name != "c"]).name for k in KEYS}
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved == {k for k in KEYS if before[k] == "c"}
    assert 0 < len(moved) < len(KEYS) / 2


def test_shares_follow_weights():
    weighted = [Node("big", 3.0), Node("small", 1.0)]
    share = Counter(pick(k, weighted).name for k in KEYS)["big"] / len(KEYS)
    assert 0.70 < share < 0.80  # 3:1 weights -> 75 %


@given(st.text(min_size=1), st.integers(min_value=0, max_value=3))
def test_failover_order_without_a_node_is_the_order_with_it_minus_that_node(key, drop):
    full = rendezvous_order(key, NODES)
    without = rendezvous_order(key, [n for i, n in enumerate(NODES) if i != drop])
    assert without == [n for n in full if n != NODES[drop]]
