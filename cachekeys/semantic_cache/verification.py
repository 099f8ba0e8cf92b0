"""Verified lookups and bad-hit reports: the decisions of the SemanticCache's
verifier side, as functions of what the cache read (the cache keeps its state and
does the reads and writes, so this module does not import it).

`best_verified` picks, among the prefilter's candidates, the one the verifier
scores highest, if it clears the tenant's threshold.

A client that finds a cached answer wrong reports the key its response carried
(`matched_key`: the entry's exact key for exact hits, its semantic key for
semantic ones). The entry goes at once; for a semantic hit the verifier score
it was served at is added to the tenant's `TenantCalibration` (stored in the
tenant's meta map, in the same commit as the deletion), which raises that
tenant's threshold while its reported rate is above the error bound.

The served-hit memory (key -> entry, score) is in-process and bounded: a report
for a key served by another process, or long ago, still removes the entry (by
the exact-key index or a scan of the tenant's entries) but cannot know the
score it was served at, so it counts at the tenant's current threshold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from promptpress.cachekeys.semantic_cache.verifier import TenantCalibration, Verifier

CALIBRATION_KEY = b"calibration"  # in the tenant's sc:meta map
MAX_SERVED = 50_000

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BadHitReport:
    removed: int  # entries deleted (0: nothing stored under that key any more)
    kind: str  # "exact" | "semantic" | "" (unknown key)
    score: float | None  # the verifier score the hit was served at, when known
    tenant_threshold: float | None  # the tenant's threshold after the report (verifier only)


@dataclass(frozen=True, slots=True)
class Verified:
    score: float  # the verifier's same-answer score
    entry_id: bytes
    similarity: float  # the prefilter cosine, capped at 1
    record: Record


def best_verified(
    verifier: Verifier,
    cut: float,
    context_fingerprint: str,
    query_text: str,
    candidates: Iterable[tuple[bytes, float, Record | None]],
) -> Verified | None:
    """Among (entry id, cosine, live record or None) candidates of this context, best
    cosine first, the one the verifier scores highest, if it clears the tenant's
    threshold `cut`. At most `verifier.max_candidates` are scored."""
    live = [
        (eid, min(1.0, float(sim)), record)
        for eid, sim, record in candidates
        if record is not None and record["ctx"] == context_fingerprint
    ][: verifier.max_candidates]
    if not live:
        return None
    scores = verifier.score_many([r["q"] for _, _, r in live], query_text,
                                 [sim for _, sim, _ in live], cut=cut)  # fmt: skip
    k = int(np.argmax(scores))
    if scores[k] < cut:
        return None
    eid, sim, record = live[k]
    return Verified(float(scores[k]), eid, sim, record)


def served_kind(
    served: tuple[bytes, float | None] | None, records: Sequence[Record | None], key: str
) -> tuple[bool, float | None]:
    """Whether the reported key was a semantic hit, and the score it was served at
    (known only for a hit this process remembers serving)."""
    if served is not None:
        return served[1] is not None, served[1]
    return any(r is not None and r["exact"] != key for r in records), None


def calibration_after_report(
    current: TenantCalibration, verifier: Verifier, score: float | None
) -> TenantCalibration:
    """A copy of the tenant's calibration counting one report at `score` (at the
    tenant's current threshold when the score is unknown: then the hit was served
    by another process, so it is counted as served too)."""
    calibration = dataclasses.replace(
        current, served=list(current.served), reported=list(current.reported)
    )
    at = score
    if at is None:
        at = current.threshold(verifier.threshold, verifier.max_false_hit_rate)
    calibration.reported[TenantCalibration.bin_of(at)] += 1
    if score is None:
        calibration.served[TenantCalibration.bin_of(at)] += 1
    return calibration
