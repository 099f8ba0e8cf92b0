"""Two real promptpress servers on one real Valkey behave as one service: the
corpus, the answer cache, the compression cache and the API keys are shared."""

from __future__ import annotations

import os
import time

import grpc
import pytest

from tests.procs import Server
from tests.replicas.conftest import RUN, Pair
from tests.routing.fake_upstream import JSONReply, openai_completion

pytestmark = pytest.mark.slow


def client(server: Server, key: str = "key-a"):  # type: ignore[no-untyped-def]
    from promptpress import Client

    return Client(server.address, api_key=key, timeout=120)


def ask(text: str):  # type: ignore[no-untyped-def]
    from promptpress.v1 import promptpress_pb2 as pb

    return pb.CompleteRequest(
        request=pb.PreprocessRequest(
            messages=[pb.Message(role=pb.ROLE_USER, content=text)],
            target=pb.Target(provider="openai", model="gpt-4o-mini"),
        )
    )


def test_documents_indexed_on_a_are_retrieved_on_b(pair: Pair) -> None:
    from promptpress.v1 import promptpress_pb2 as pb

    doc = pb.Document(
        id="lighthouses",
        text="The Eddystone Lighthouse stands on rocks fourteen kilometres south of Rame Head. "
        "Its fourth tower, designed by James Douglass, was completed in 1882.\n\n"
        "Bell Rock Lighthouse, off the coast of Angus, is the oldest surviving sea-washed "
        "lighthouse; Robert Stevenson built it between 1807 and 1810.",
    )
    with client(pair.a) as a:
        indexed = a.index_documents(pb.IndexDocumentsRequest(documents=[doc]))
    assert indexed.documents[0].status == pb.INDEX_STATUS_CREATED
    with client(pair.b) as b:
        out = b.preprocess(
            pb.PreprocessRequest(
                messages=[pb.Message(role=pb.ROLE_USER, content="Who built Bell Rock Lighthouse?")],
                document_ids=["lighthouses"],
                target=pb.Target(model="gpt-4o"),
            )
        )
        assert {c.document_id for c in out.chunks} == {"lighthouses"}
        assert "Robert Stevenson" in "".join(m.content for m in out.messages)
        # Re-indexing the same content on B finds it already there.
        again = b.index_documents(pb.IndexDocumentsRequest(documents=[doc]))
    assert again.documents[0].status == pb.INDEX_STATUS_UNCHANGED


def test_an_answer_from_a_is_an_exact_and_semantic_hit_on_b(pair: Pair) -> None:
    from promptpress.v1 import promptpress_pb2 as pb

    pair.upstream.reset()
    pair.upstream.script(JSONReply(openai_completion("Paris.", prompt_tokens=20)))
    with client(pair.a) as a:
        first = a.complete(ask("What is the capital of France?"))
    assert first.cache_status == pb.CACHE_STATUS_NONE and first.message.content == "Paris."
    with client(pair.b) as b:
        exact = b.complete(ask("What is the capital of France?"))
        para = b.complete(ask("what's the capital of france"))
    assert exact.cache_status == pb.CACHE_STATUS_EXACT and exact.message.content == "Paris."
    assert exact.matched_key == first.cache.exact_key
    assert para.cache_status == pb.CACHE_STATUS_SEMANTIC and para.message.content == "Paris."
    assert para.matched_key == first.cache.semantic_key
    assert len(pair.upstream.requests) == 1  # B never asked the upstream


def test_a_compression_cached_by_a_is_reused_by_b(pair: Pair) -> None:
    from promptpress.v1 import promptpress_pb2 as pb

    text = (
        "The committee met on Tuesday to review the quarterly budget. After a long discussion "
        "about travel expenses, office supplies and the new printer lease, members agreed to "
        "postpone the decision on the printer until the vendor sends a revised quote. The "
        "treasurer noted that travel spending was twelve percent under plan."
    )
    request = pb.CompressRequest(text=text, rate=0.5, target=pb.Target(model="gpt-4o"))
    with client(pair.a) as a:
        first = a.compress(request)
    with client(pair.b) as b:
        second = b.compress(request)
    assert not first.cached and first.compressed_tokens < first.original_tokens
    assert second.cached and second.text == first.text


def test_a_key_added_to_the_file_reaches_both(pair: Pair) -> None:
    from promptpress import PromptPressRpcError
    from promptpress.v1 import promptpress_pb2 as pb

    def status(server: Server) -> grpc.StatusCode:
        with client(server, "key-new") as c:
            try:
                c.count_tokens(pb.CountTokensRequest(texts=["hi"]))
            except PromptPressRpcError as err:
                return err.code
        return grpc.StatusCode.OK

    assert status(pair.a) == status(pair.b) == grpc.StatusCode.UNAUTHENTICATED
    tmp = pair.keys.with_suffix(".tmp")
    tmp.write_text(pair.keys.read_text() + f"key-new new-{RUN}\n")
    os.replace(tmp, pair.keys)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and {status(pair.a), status(pair.b)} != {grpc.StatusCode.OK}:
        time.sleep(0.1)
    assert status(pair.a) == status(pair.b) == grpc.StatusCode.OK
