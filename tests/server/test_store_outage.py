"""The shared store going away and coming back, with a real Valkey and a real server.

One Valkey of this module's own (the session one must not be stopped): it is
shut down with SHUTDOWN SAVE and restarted on the same port and directory, so
what was committed before the outage comes back with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import redis

from promptpress import AsyncClient, PromptPressRpcError
from promptpress.compressor.compress import Compressor
from promptpress.compressor.compression_cache import CompressionCache
from promptpress.server.app import App, build_app
from promptpress.server.config import ServerConfig
from promptpress.server.resources import load_resources
from promptpress.storage.redis_store import RedisStore
from promptpress.v1 import promptpress_pb2 as pb
from tests.procs import Valkey, start_valkey, temp_log_dir
from tests.routing.fake_upstream import FakeUpstream, JSONReply, openai_completion

MANUAL = (
    "The Zephyr 3000 espresso machine heats up in 25 seconds.\n\n"
    "To descale the Zephyr 3000, fill the tank with a 1:4 citric acid solution and run program D."
)
PASSAGE = (
    "The Carolingian Renaissance was a period of intellectual and cultural revival in the "
    "Carolingian Empire, lasting from the late eighth century to the ninth century. "
) * 6


@dataclass
class Outage:
    valkey: Valkey
    log_dir: Path

    def stop(self) -> None:
        """Save and stop the store (what was committed survives the restart)."""
        client = redis.Redis(port=self.valkey.port, socket_timeout=5)
        with contextlib.suppress(redis.exceptions.ConnectionError):
            client.shutdown(save=True)  # the server closes the connection as it exits
        assert self.valkey.wait(15) is not None, "valkey did not exit"

    def start(self) -> None:
        self.valkey = start_valkey(self.log_dir, port=self.valkey.port)


@pytest.fixture(scope="module")
def outage() -> Iterator[Outage]:
    with temp_log_dir("promptpress-outage-") as log_dir:
        state = Outage(start_valkey(log_dir), log_dir)
        try:
            yield state
        finally:
            state.valkey.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(JSONReply(openai_completion("Paris."))).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
async def app(
    outage: Outage, upstream: FakeUpstream, tmp_path_factory, shared_embedder, shared_compressor
) -> AsyncIterator[App]:  # type: ignore[no-untyped-def]
    url = outage.valkey.url
    tiers = {
        "routing": {"tier_order": ["small"], "max_attempts": 1},
        "tiers": {
            "small": {
                "upstreams": [
                    {
                        "name": "mini",
                        "kind": "openai",
                        "base_url": upstream.openai_base_url,
                        "model": "gpt-4o-mini",
                    }
                ]
            }
        },
    }
    config = ServerConfig(
        address="127.0.0.1:0",
        data_dir=str(tmp_path_factory.mktemp("outage")),
        store_url=url,
        max_corpus_documents_per_tenant=3,
        grace_period_s=0.5,
        extra=tiers,
    )
    # The session's compressor model, with its cache on this store.
    compressor = Compressor(
        causal=shared_compressor.causal, cache=CompressionCache(RedisStore(url))
    )
    resources = load_resources(config, embedder=shared_embedder, compressor=compressor)
    application = await build_app(config, resources=resources)
    await application.start()
    yield application
    await application.stop(grace=0.1)
    resources.close()
    assert compressor.cache is not None
    compressor.cache.store.close()


@pytest.fixture
async def client(app: App) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(f"127.0.0.1:{app.port}", timeout=30) as c:
        yield c


def user(text: str) -> pb.Message:
    return pb.Message(role=pb.ROLE_USER, content=text)


def doc(doc_id: str, text: str = MANUAL) -> pb.IndexDocumentsRequest:
    return pb.IndexDocumentsRequest(documents=[pb.Document(id=doc_id, text=text)])


def ask(text: str) -> pb.CompleteRequest:
    return pb.CompleteRequest(
        request=pb.PreprocessRequest(
            messages=[user(text)], target=pb.Target(provider="openai", model="gpt-4o-mini")
        )
    )


async def test_store_down_then_back(
    client: AsyncClient, outage: Outage, upstream: FakeUpstream
) -> None:
    await client.index_documents(doc("manual"))
    question = ask("What is the capital of France?")
    assert (await client.complete(question)).cache_status == pb.CACHE_STATUS_NONE
    assert (await client.complete(question)).cache_status == pb.CACHE_STATUS_EXACT
    by_id = pb.PreprocessRequest(messages=[user("How do I descale it?")], document_ids=["manual"])
    assert (await client.preprocess(by_id)).chunks
    compress = pb.CompressRequest(text=PASSAGE, rate=0.5)
    assert not (await client.compress(compress)).cached
    assert (await client.compress(compress)).cached

    outage.stop()
    name = f"redis://127.0.0.1:{outage.valkey.port}/0"
    # What needs the store: UNAVAILABLE, naming it.
    for call in (client.index_documents(doc("during")), client.preprocess(by_id)):
        with pytest.raises(PromptPressRpcError) as err:
            await call
        assert err.value.code is grpc.StatusCode.UNAVAILABLE
        assert name in str(err.value)
    # What does not: still answered.
    counted = await client.count_tokens(pb.CountTokensRequest(texts=["hello world"]))
    assert counted.counts[0] > 0
    inline = pb.PreprocessRequest(
        messages=[user("How do I descale it?")], documents=[pb.Document(id="x", text=MANUAL)]
    )
    assert (await client.preprocess(inline)).chunks
    again = await client.compress(compress)
    assert not again.cached, "the cache is a miss while the store is away"
    calls = len(upstream.requests)
    answered = await client.complete(question)
    assert answered.cache_status == pb.CACHE_STATUS_NONE and answered.message.content == "Paris."
    assert len(upstream.requests) == calls + 1, "answered by the upstream, not the cache"

    outage.start()
    # Back by itself: no restart of promptpress, the data committed before is there,
    # and the write refused during the outage left nothing behind.
    assert (await client.preprocess(by_id)).chunks
    assert (await client.compress(compress)).cached
    assert (await client.complete(question)).cache_status == pb.CACHE_STATUS_EXACT
    deleted = await client.delete_documents(pb.DeleteDocumentsRequest(document_ids=["during"]))
    assert deleted.deleted == 0
    await client.index_documents(doc("during"))


async def test_corpus_quota_is_resource_exhausted(client: AsyncClient) -> None:
    await client.delete_documents(
        pb.DeleteDocumentsRequest(document_ids=["manual", "during", "q1", "q2", "q3", "q4"])
    )
    await client.index_documents(doc("q1"))
    two = pb.IndexDocumentsRequest(
        documents=[pb.Document(id=f"q{i}", text=f"{MANUAL} {i}") for i in (2, 3, 4)]
    )
    with pytest.raises(PromptPressRpcError) as err:
        await client.index_documents(two)
    assert err.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "3 documents" in str(err.value)
    deleted = await client.delete_documents(pb.DeleteDocumentsRequest(document_ids=["q2"]))
    assert deleted.not_found == ["q2"], "nothing of the refused request was stored"
