"""One pair of real promptpress servers on one real Valkey, shared by the replica tests
(started once per session: loading the models twice takes most of a minute here)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.procs import Server, compressor_model_dir, start_server, stop_all, temp_log_dir
from tests.routing.fake_upstream import FakeUpstream

# Tenants are unique per session, so a reused store (PROMPTPRESS_TEST_REDIS_URL)
# holds no documents, answers or counters from an earlier run.
RUN = uuid.uuid4().hex[:8]
TENANT_RPS = f"rps-{RUN}"
KEYS = "".join(
    f"{key} {tenant}-{RUN}\n" for key, tenant in
    [("key-a", "a"), ("key-rps", "rps"), ("key-tpm", "tpm"), ("key-free", "free"),
     ("key-spend", "spend")]
)  # fmt: skip
TENANTS = {
    # A burst of one request, then one per 100 s: the second call anywhere is refused.
    TENANT_RPS: {"requests_per_second": 0.01},
    # One token per second: a long Preprocess puts the bucket in debt for a while.
    f"tpm-{RUN}": {"tokens_per_minute": 60},
    # One micro-dollar a day: one answered Complete (20 input tokens at $0.15/M) spends it.
    f"spend-{RUN}": {"spend_usd_per_day": 0.000001},
}


@dataclass
class Pair:
    a: Server
    b: Server
    keys: Path
    upstream: FakeUpstream


def tiers(upstream: FakeUpstream) -> dict:  # type: ignore[type-arg]
    return {
        "routing": {"tier_order": ["small"], "max_attempts": 1},
        "tiers": {
            "small": {
                "prices": {"input": 0.15, "output": 0.6},
                "upstreams": [
                    {
                        "name": "mini",
                        "kind": "openai",
                        "base_url": upstream.openai_base_url,
                        "model": "gpt-4o-mini",
                    }
                ],
            }
        },
    }


@pytest.fixture(scope="session")
def pair(valkey_url: str) -> Iterator[Pair]:
    """Servers A and B: one Valkey store, one keys file (checked every 0.3 s), the
    same tenant limits, one scripted upstream."""
    with temp_log_dir() as log_dir, FakeUpstream() as upstream:
        keys = log_dir / "keys"
        keys.write_text(KEYS)
        settings = {
            "store_url": valkey_url,
            "api_keys": str(keys),
            "api_keys_reload_s": 0.3,
            "compressor_model": str(compressor_model_dir()),
            "drain_period_s": 0.0,
            "tenants": TENANTS,
            **tiers(upstream),
        }
        a = start_server(log_dir, settings=settings, name="a", wait=False)
        b = start_server(log_dir, settings=settings, name="b", wait=False)
        try:
            yield Pair(a.wait_serving(300), b.wait_serving(300), keys, upstream)
        finally:
            stop_all(a, b)
