"""Cache affinity: the same prompt-prefix key goes to the same upstream of a tier.

Provider prompt caches are per deployment (per organisation, region, replica), so
requests sharing a prefix should land on the same upstream. Weighted rendezvous
(highest-random-weight) hashing gives that with two properties a ring would need
virtual nodes for: an upstream's share is proportional to its weight, and removing
(or cooling down) one upstream remaps only the keys that were on it.

Score for (key, node): ``-weight / ln(u)`` with ``u`` a uniform hash in (0, 1); the
ordering by score is the failover order for that key too.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

_SPAN = float(2**64)


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    weight: float = 1.0


def _uniform(key: str, node: str) -> float:
    digest = hashlib.blake2b(f"{node}\x00{key}".encode(), digest_size=8).digest()
    # (n + 0.5) / 2^64 lies strictly inside (0, 1): the log below is finite and negative.
    return (int.from_bytes(digest, "big") + 0.5) / _SPAN


def rendezvous_score(key: str, node: Node) -> float:
    return -node.weight / math.log(_uniform(key, node.name))


def rendezvous_order(key: str, nodes: Sequence[Node]) -> list[Node]:
    """Nodes best first for this key; ties (practically impossible) break by name."""
    return sorted(nodes, key=lambda n: (-rendezvous_score(key, n), n.name))


def pick(key: str, nodes: Sequence[Node]) -> Node:
    if not nodes:
        raise ValueError("no nodes to pick from")
    return rendezvous_order(key, nodes)[0]
