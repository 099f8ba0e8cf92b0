"""Byte-identity guard for Preprocess (issue 16, per-request overhead).

The fixed corpus of bench/overhead_corpus.py (6 messages, ~500 tokens, no
documents; openai / anthropic / gemini targets; with and without tools,
budgets, volatile spans) was sent through the real gRPC server and each
PreprocessResponse serialised deterministically, minus stats.stage_ms (timings
vary), into tests/server/data/preprocess_responses.json. Any optimisation of
the request path must leave every byte of these responses unchanged.

Refresh the fixture ONLY deliberately (an intended output change), from a
checkout whose output you trust:

    PYTHONPATH=$PWD/proto PROMPTPRESS_RECORD_RESPONSES=1 \
        python -m pytest -q tests/server/test_response_stability.py
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from promptpress.bench.overhead_corpus import corpus
from promptpress.v1 import promptpress_pb2 as pb

FIXTURE = Path(__file__).parent / "data" / "preprocess_responses.json"


def stable_bytes(resp: pb.PreprocessResponse) -> bytes:
    """The response serialised deterministically, without the stage timings."""
    copy = pb.PreprocessResponse()
    copy.CopyFrom(resp)
    copy.stats.ClearField("stage_ms")
    return copy.SerializeToString(deterministic=True)


async def test_preprocess_responses_are_byte_identical(client) -> None:  # type: ignore[no-untyped-def]
    got: dict[str, str] = {}
    for name, req in corpus():
        resp = await client.preprocess(req)
        got[name] = base64.b64encode(stable_bytes(resp)).decode()
    if os.environ.get("PROMPTPRESS_RECORD_RESPONSES") == "1":
        FIXTURE.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(FIXTURE.read_text())
    assert len(want) >= 18
    assert sorted(got) == sorted(want)
    for name in sorted(want):
        assert got[name] == want[name], f"{name}: response bytes changed"
