"""Verified lookups and bad-hit reports (the SemanticCache's verifier side).

`verified_hit` picks, among the prefilter's candidates, the one the verifier
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from promptpress.cachekeys.semantic_cache.verifier import TenantCalibration

if TYPE_CHECKING:
    from promptpress.cachekeys.semantic_cache.cache import CacheHit, SemanticCache

CALIBRATION_KEY = b"calibration"  # in the tenant's sc:meta map
MAX_SERVED = 50_000


@dataclass(frozen=True, slots=True)
class BadHitReport:
    removed: int  # entries deleted (0: nothing stored under that key any more)
    kind: str  # "exact" | "semantic" | "" (unknown key)
    score: float | None  # the verifier score the hit was served at, when known
    tenant_threshold: float | None  # the tenant's threshold after the report (verifier only)


def verified_hit(
    cache: SemanticCache,
    tenant: str,
    context_fingerprint: str,
    query_text: str,
    ids: Sequence[bytes],
    sims: Sequence[float],
    records: Mapping[bytes, dict[str, Any] | None],
    now: float,
) -> CacheHit | None:
    """The candidate the verifier scores highest, if it clears the tenant's threshold."""
    verifier = cache.verifier
    assert verifier is not None
    cut = cache.calibration(tenant).threshold(verifier.threshold, verifier.max_false_hit_rate)
    best: tuple[float, bytes, float, dict] | None = None
    for eid, sim in zip(ids, sims, strict=False):
        record = cache._live(records[eid], tenant, now)
        if record is None or record["ctx"] != context_fingerprint:
            continue
        score = verifier.score(record["q"], query_text, min(1.0, float(sim)))
        if score >= cut and (best is None or score > best[0]):
            best = (score, eid, float(sim), record)
    if best is None:
        return None
    score, eid, sim, record = best
    cache._touch(tenant, eid, now)
    hit = cache._hit(eid, "semantic", record["sem"], min(1.0, sim), record)
    hit = dataclasses.replace(hit, score=score)
    cache._remember_served(tenant, hit)
    return hit


def report_bad_hit(cache: SemanticCache, tenant: str, key: str) -> BadHitReport:
    with cache._lock:
        served = cache._served.pop((tenant, key), None)
    storage = cache.storage
    eids = [served[0]] if served else storage.find(tenant, key)
    records = storage.records(tenant, eids)
    if served:
        semantic = served[1] is not None
    else:
        semantic = any(r is not None and r["exact"] != key for r in records)
    score = served[1] if served else None
    verifier = cache.verifier
    meta: dict[bytes, bytes] = {}
    calibration: TenantCalibration | None = None
    if verifier is not None and semantic and any(r is not None for r in records):
        base, bound = verifier.threshold, verifier.max_false_hit_rate
        calibration = dataclasses.replace(
            cache.calibration(tenant),
            served=list(cache.calibration(tenant).served),
            reported=list(cache.calibration(tenant).reported),
        )
        at = score if score is not None else calibration.threshold(base, bound)
        calibration.reported[TenantCalibration.bin_of(at)] += 1
        if score is None:  # served by another process: count the hit itself too
            calibration.served[TenantCalibration.bin_of(at)] += 1
        meta[CALIBRATION_KEY] = calibration.to_json()
    written = storage.delete(tenant, eids, meta)
    with cache._lock:
        cache._apply_to_buckets(tenant, [], written.removed, written.versions)
        if calibration is not None:  # committed: now the lookups use it
            cache._calibration[tenant] = calibration
            cache._calibration_dirty.discard(tenant)
    threshold = cache.tenant_threshold(tenant)
    kind = ("semantic" if semantic else "exact") if written.removed else ""
    return BadHitReport(len(written.removed), kind, score, threshold)
