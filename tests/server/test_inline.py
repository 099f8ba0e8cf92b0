"""Small calls run on the event loop, everything else in the worker pool (server/inline.py).

Where the work ran is read from the thread that ran the real pipeline: the
event loop's thread, or a `promptpress-worker` thread. Both paths keep the
`x-request-id` (in the trailing metadata) and the `rpc` log line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from promptpress.cachekeys.profiles import load_profiles
from promptpress.server import inline
from promptpress.server.app import App, build_app
from promptpress.server.config import ServerConfig
from promptpress.server.pipeline import Pipeline, PreprocessOutput
from promptpress.server.resources import Resources
from promptpress.types import PreprocessInput
from promptpress.v1 import promptpress_pb2 as pb
from promptpress.v1 import promptpress_pb2_grpc as pb_grpc


def small_request(**fields: object) -> pb.PreprocessRequest:
    return pb.PreprocessRequest(
        messages=[
            pb.Message(role=pb.ROLE_SYSTEM, content="You are terse."),
            pb.Message(role=pb.ROLE_USER, content="What is a prompt cache?"),
        ],
        target=pb.Target(provider="openai", model="gpt-4o-mini"),
        **fields,  # type: ignore[arg-type]
    )


def big_request() -> pb.PreprocessRequest:
    req = small_request()
    req.messages.insert(1, pb.Message(role=pb.ROLE_USER, content="word " * 1000))
    req.messages.insert(2, pb.Message(role=pb.ROLE_ASSISTANT, content="ok"))
    return req


@pytest.mark.parametrize(
    ("request_", "max_bytes", "inline_"),
    [
        (small_request(), 4096, True),
        (small_request(), 0, False),  # switched off
        (big_request(), 4096, False),  # over the size bound
        (small_request(documents=[pb.Document(text="a document")]), 4096, False),
        (small_request(document_ids=["doc-1"]), 4096, False),  # the corpus is a store
        (small_request(budget=pb.Budget(compression_rate=0.5)), 4096, False),  # a model
    ],
)
def test_preprocess_runs_inline_only_when_small_and_non_blocking(
    request_: pb.PreprocessRequest, max_bytes: int, inline_: bool
) -> None:
    assert inline.preprocess_runs_inline(request_, max_bytes) is inline_


def test_count_tokens_runs_inline_only_when_small() -> None:
    small = pb.CountTokensRequest(texts=["hello"], model="gpt-4o")
    big = pb.CountTokensRequest(texts=["hello " * 1000], model="gpt-4o")
    assert inline.count_tokens_runs_inline(small, 4096)
    assert not inline.count_tokens_runs_inline(big, 4096)
    assert not inline.count_tokens_runs_inline(small, 0)


class ThreadRecordingPipeline(Pipeline):
    """The real pipeline; remembers the name of the thread each request ran on."""

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.threads: list[str] = []

    def preprocess(self, inp: PreprocessInput) -> PreprocessOutput:
        self.threads.append(threading.current_thread().name)
        return super().preprocess(inp)


@pytest.fixture
async def served(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[App]:
    max_bytes = getattr(request, "param", 4096)
    app = await build_app(
        ServerConfig(
            address="127.0.0.1:0", data_dir=str(tmp_path), inline_max_request_bytes=max_bytes
        ),
        pipeline=ThreadRecordingPipeline(Resources(profiles=load_profiles())),
    )
    await app.start()
    try:
        yield app
    finally:
        await app.stop(grace=0.1)


async def preprocess(app: App, req: pb.PreprocessRequest) -> tuple[pb.PreprocessResponse, str]:
    """The response and its x-request-id (trailing metadata)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        call = pb_grpc.PromptPressServiceStub(channel).Preprocess(req, timeout=30)
        resp = await call
        trailer = dict(await call.trailing_metadata())
    return resp, str(trailer["x-request-id"])


def threads(app: App) -> list[str]:
    pipeline = app.servicer.pipeline
    assert isinstance(pipeline, ThreadRecordingPipeline)
    return pipeline.threads


async def test_small_preprocess_runs_on_the_loop_and_large_in_a_worker(
    served: App, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="promptpress.server"):
        small, small_id = await preprocess(served, small_request())
        big, big_id = await preprocess(served, big_request())
    loop_thread = threading.current_thread().name  # the test's loop runs the server too
    assert threads(served) == [loop_thread, threads(served)[1]]
    assert threads(served)[1].startswith("promptpress-worker")
    # Same answers and the same observable edge on both paths.
    assert small.messages and big.messages and big.stats.dropped_messages == 0
    assert len(small_id) == len(big_id) == 16 and small_id != big_id
    logged = {r.__dict__.get("request_id"): r.__dict__ for r in caplog.records if r.msg == "rpc"}
    for rid in (small_id, big_id):
        assert logged[rid]["rpc"] == "Preprocess" and logged[rid]["code"] == "OK"
        assert logged[rid]["tenant"] == "default"


@pytest.mark.parametrize("served", [0], indirect=True)
async def test_inline_off_sends_every_call_to_the_workers(served: App) -> None:
    await preprocess(served, small_request())
    assert len(threads(served)) == 1 and threads(served)[0].startswith("promptpress-worker")


async def test_invalid_input_on_the_inline_path_is_invalid_argument(served: App) -> None:
    bad = small_request()
    bad.messages[1].role = pb.ROLE_ASSISTANT  # no user message left
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await preprocess(served, bad)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    trailer = dict(err.value.trailing_metadata() or ())
    assert len(str(trailer.get("x-request-id", ""))) == 16  # errors carry it too
    assert "grpc-status-details-bin" in trailer  # beside the BadRequest details
