"""A Compress call the client abandons stops the distilled encoder's work on the server.

The server under test runs in this process with the session's compressor, so
the test can count the distilled encoder's real forward passes (`states`) while
the call runs through the real gRPC server and client.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from promptpress import cancel
from promptpress.compressor.distilled import WINDOWS_PER_STEP, DistilledScorer
from promptpress.v1 import promptpress_pb2 as pb

PARAGRAPH = (
    "The Amazon rainforest covers much of the Amazon basin of South America. The basin "
    "encompasses seven million square kilometres, of which five and a half million are covered "
    "by the rainforest. The majority of the forest is contained within Brazil, with 60% of the "
    "rainforest, followed by Peru with 13% and Colombia with 10%."
)
BOUND_S = 60.0  # the most any wait below may take: a bound, not a timing assert


async def test_cancelled_compress_stops_the_distilled_encoder_after_one_step(
    client, shared_compressor, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    scorer = shared_compressor.distilled
    assert isinstance(scorer, DistilledScorer)
    # Unique text: a cached result would not run the model at all.
    text = " ".join(f"{PARAGRAPH} Ticket {uuid.uuid4().hex[:8]}-{i}." for i in range(64))
    ids, _ = scorer.encoder.tokens(text)
    steps = -(-len(scorer.encoder.windows(ids, [])) // WINDOWS_PER_STEP)
    assert steps >= 3, "without cancellation the call would run several steps"

    inner_states, inner_surprisal = scorer.encoder.states, scorer.surprisal
    first_pass, finished = threading.Event(), threading.Event()
    seen: dict[str, object] = {"passes": 0, "error": None}

    def states(sequences, batch_size: int = 16):  # type: ignore[no-untyped-def]
        out = inner_states(sequences, batch_size)
        seen["passes"] = int(seen["passes"]) + 1  # type: ignore[call-overload]
        first_pass.set()
        # Hold the worker until the client's cancel has reached this call's token,
        # so the next step is guaranteed to find it cancelled.
        token = cancel.current()
        assert token is not None, "the server binds a CancelToken for the call"
        for _ in range(int(BOUND_S * 100)):
            if token.cancelled:
                break
            threading.Event().wait(0.01)
        return out

    def surprisal(text: str, *, prefix: str = ""):  # type: ignore[no-untyped-def]
        try:
            return inner_surprisal(text, prefix=prefix)
        except BaseException as exc:
            seen["error"] = exc
            raise
        finally:
            finished.set()

    monkeypatch.setattr(scorer.encoder, "states", states)
    monkeypatch.setattr(scorer, "surprisal", surprisal)
    request = pb.CompressRequest(
        text=text,
        rate=0.3,
        method=pb.COMPRESSION_METHOD_DISTILLED,
        target=pb.Target(model="gpt-4o"),
    )
    call = asyncio.create_task(client.compress(request, timeout=BOUND_S))
    assert await asyncio.to_thread(first_pass.wait, BOUND_S), "the encoder started"
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await asyncio.to_thread(finished.wait, BOUND_S), "the worker came back"
    assert isinstance(seen["error"], cancel.Cancelled)
    assert seen["passes"] == 1, f"stopped after one of {steps} steps"
