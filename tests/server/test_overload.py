"""Overload and abandoned work (issue 14, items 2 and 3): shed at once with RetryInfo,
a tenant cannot take every worker, work stops when its caller is gone."""

from __future__ import annotations

import asyncio
import functools
import random
import string
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from promptpress import AsyncClient, PromptPressRpcError
from promptpress.cancel import Cancelled, CancelToken, bound, checkpoint
from promptpress.errors import ResourceExhausted
from promptpress.server.admission import Admission, AdmissionLimits
from promptpress.server.app import build_app
from promptpress.server.config import ServerConfig
from promptpress.server.workers import FairExecutor, tenant_scope
from promptpress.v1 import promptpress_pb2 as pb

# --- admission, alone -----------------------------------------------------------------


async def _hold(admission: Admission, tenant: str, release: asyncio.Event) -> None:
    async with admission.admit(tenant, None):
        await release.wait()


async def test_admission_sheds_past_the_queue_and_rotates_tenants() -> None:
    admission = Admission(AdmissionLimits(max_in_flight=2, max_queued=3, max_queued_per_tenant=2))
    release = asyncio.Event()
    holders = [asyncio.create_task(_hold(admission, "a", release)) for _ in range(4)]
    await asyncio.sleep(0)
    assert (admission.in_flight, admission.queued) == (2, 2)
    with pytest.raises(ResourceExhausted) as err:  # a's share of the queue is full
        async with admission.admit("a", None):
            pass
    assert err.value.retry_after_s and err.value.retry_after_s > 0
    b = asyncio.create_task(_hold(admission, "b", release))  # b may still queue
    await asyncio.sleep(0)
    assert admission.queued == 3
    with pytest.raises(ResourceExhausted):  # the whole queue is full
        async with admission.admit("c", None):
            pass
    release.set()
    await asyncio.gather(*holders, b)
    assert (admission.in_flight, admission.queued, admission.shed) == (0, 0, 2)


async def test_admission_refuses_a_deadline_it_cannot_meet() -> None:
    admission = Admission(AdmissionLimits(max_in_flight=1, max_queued=10))
    admission._latency_s = 10.0  # calls have been taking 10 s each
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(admission, "a", release))
    await asyncio.sleep(0)
    with pytest.raises(ResourceExhausted, match="deadline"):
        async with admission.admit("b", 1.0):
            pass
    release.set()
    await holder


async def test_admission_forgets_a_caller_that_left_the_queue() -> None:
    admission = Admission(AdmissionLimits(max_in_flight=1, max_queued=10))
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(admission, "a", release))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(_hold(admission, "b", release))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert admission.queued == 0
    release.set()
    await holder
    assert admission.in_flight == 0


# --- the worker pool, alone ---------------------------------------------------------------


def test_fair_executor_keeps_a_worker_for_other_tenants() -> None:
    import threading

    pool = FairExecutor(2)  # one tenant: at most one worker
    gate = threading.Event()
    with tenant_scope("a"):
        a_jobs = [pool.submit(gate.wait, 30) for _ in range(3)]
    with tenant_scope("b"):
        b_job = pool.submit(lambda: "b ran")
    assert b_job.result(timeout=10) == "b ran"  # while a's first job still blocks
    assert not any(j.done() for j in a_jobs)
    gate.set()
    assert all(j.result(timeout=10) for j in a_jobs)
    pool.shutdown()


def test_cancel_token_reaches_the_worker_thread() -> None:
    pool = FairExecutor(1)
    token = CancelToken()

    def work() -> int:
        for i in range(10_000):
            checkpoint()
            if i == 5:
                token.cancel()
        return -1

    with bound(token):
        future = pool.submit(work)
    with pytest.raises(Cancelled):
        future.result(timeout=10)
    pool.shutdown()


# --- end to end -------------------------------------------------------------------------


@functools.cache
def big_text(chars: int = 7_000_000) -> str:
    """Random words: several seconds of tokenizer work (repetitive text is much faster)."""
    rng = random.Random(0)
    words = [
        "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(2, 12)))
        for _ in range(50_000)
    ]
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(words)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


@pytest.fixture
async def two_tenant_app(tmp_path: Path, resources):  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    keys.write_text("sk-a tenant-a\nsk-b tenant-b\n")

    async def start(**settings: object):  # type: ignore[no-untyped-def]
        config = ServerConfig(
            address="127.0.0.1:0", data_dir=str(tmp_path), api_keys=str(keys), **settings
        )
        app = await build_app(config, resources=resources)
        await app.start()
        apps.append(app)
        return app

    apps: list = []  # type: ignore[type-arg]
    yield start
    for app in apps:
        await app.stop(grace=0.1)


async def test_big_abandoned_counts_do_not_stall_another_tenant(two_tenant_app) -> None:  # type: ignore[no-untyped-def]
    app = await two_tenant_app(worker_threads=2)
    address = f"127.0.0.1:{app.port}"
    text = big_text()
    big = pb.CountTokensRequest(texts=[text, text, text])
    async with (
        AsyncClient(address, api_key="sk-a") as a,
        AsyncClient(address, api_key="sk-b", timeout=5) as b,
    ):
        calls = [asyncio.create_task(a.count_tokens(big, timeout=1.5)) for _ in range(4)]
        await asyncio.sleep(0.5)
        # While tenant A's four big counts run, B's tiny one is answered in its 5 s.
        assert (await b.count_tokens(pb.CountTokensRequest(texts=["hi"]))).total == 1
        for outcome in await asyncio.gather(*calls, return_exceptions=True):
            assert isinstance(outcome, PromptPressRpcError)
            assert outcome.code is grpc.StatusCode.DEADLINE_EXCEEDED
        # A's callers are gone: their work stopped (each count is ~15 s of tokenizing).
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, app.executor.wait_idle, 5.0)
        assert (await b.count_tokens(pb.CountTokensRequest(texts=["hi"]))).total == 1


async def test_overload_is_shed_with_retry_info_and_others_are_served(two_tenant_app) -> None:  # type: ignore[no-untyped-def]
    app = await two_tenant_app(
        worker_threads=2, max_in_flight=2, max_in_flight_per_tenant=1, max_queued=4
    )
    address = f"127.0.0.1:{app.port}"
    medium = pb.CountTokensRequest(texts=[big_text()[:1_000_000]])
    async with (
        grpc.aio.insecure_channel(address) as channel,
        AsyncClient(address, api_key="sk-b", timeout=10) as b,
    ):
        count = channel.unary_unary(
            "/promptpress.v1.PromptPressService/CountTokens",
            request_serializer=pb.CountTokensRequest.SerializeToString,
            response_deserializer=pb.CountTokensResponse.FromString,
        )
        auth = (("authorization", "Bearer sk-a"),)
        flood = [asyncio.ensure_future(count(medium, metadata=auth, timeout=60)) for _ in range(16)]
        await asyncio.sleep(0.2)
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert (await b.count_tokens(pb.CountTokensRequest(texts=["hi"]))).total == 1
        outcomes = await asyncio.gather(*flood, return_exceptions=True)
    ok = [o for o in outcomes if isinstance(o, pb.CountTokensResponse)]
    shed = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert ok and shed and len(ok) + len(shed) == len(outcomes)
    for err in shed:
        assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        status = rpc_status.from_call(err)
        assert status is not None
        info = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(info)
        assert info.retry_delay.ToTimedelta().total_seconds() > 0
    assert app.servicer.admission.in_flight == 0 and app.servicer.admission.queued == 0


async def test_compress_refuses_more_tokens_than_its_limit(two_tenant_app) -> None:  # type: ignore[no-untyped-def]
    app = await two_tenant_app(max_compress_tokens=100)
    async with AsyncClient(f"127.0.0.1:{app.port}", api_key="sk-a") as c:
        with pytest.raises(PromptPressRpcError) as err:
            await c.compress(pb.CompressRequest(text="word " * 500, rate=0.5))
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in err.value.violations] == ["text"]
        with pytest.raises(PromptPressRpcError) as err:
            await c.preprocess(
                pb.PreprocessRequest(
                    messages=[
                        pb.Message(role=pb.ROLE_USER, content="word " * 500),
                        pb.Message(role=pb.ROLE_ASSISTANT, content="ok"),
                        pb.Message(role=pb.ROLE_USER, content="q"),
                    ],
                    budget=pb.Budget(compression_rate=0.5),
                )
            )
        assert [v.field for v in err.value.violations] == ["budget.compression_rate"]
