"""IndexDocuments, DeleteDocuments and Preprocess with documents, through the server."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from promptpress import AsyncClient, PromptPressRpcError
from promptpress.server.app import build_app
from promptpress.server.config import ServerConfig
from promptpress.server.resources import load_resources
from promptpress.v1 import promptpress_pb2 as pb

MANUAL = (
    "The Zephyr 3000 espresso machine heats up in 25 seconds.\n\n"
    "To descale the Zephyr 3000, fill the tank with a 1:4 citric acid solution and run program D.\n\n"
    "The warranty covers the pump for 36 months and the heating element for 24 months."
)
OTHER = "Bananas are rich in potassium.\n\nThe Nile is the longest river in Africa."


def user(text: str) -> pb.Message:
    return pb.Message(role=pb.ROLE_USER, content=text)


async def test_index_then_preprocess_by_id(client) -> None:  # type: ignore[no-untyped-def]
    resp = await client.index_documents(
        pb.IndexDocumentsRequest(
            documents=[pb.Document(id="manual", text=MANUAL), pb.Document(id="other", text=OTHER)]
        )
    )
    assert [d.status for d in resp.documents] in (
        [pb.INDEX_STATUS_CREATED] * 2,
        [pb.INDEX_STATUS_UNCHANGED] * 2,
    )
    again = await client.index_documents(
        pb.IndexDocumentsRequest(documents=[pb.Document(id="manual", text=MANUAL)])
    )
    assert again.documents[0].status == pb.INDEX_STATUS_UNCHANGED

    out = await client.preprocess(
        pb.PreprocessRequest(
            messages=[user("How do I descale the machine?")],
            document_ids=["manual", "other"],
            budget=pb.Budget(max_context_tokens=70),
        )
    )
    assert out.chunks, "no chunk selected"
    best = max(out.chunks, key=lambda c: c.score)
    assert best.document_id == "manual"
    assert sum(c.tokens for c in out.chunks) <= 70
    body = json.loads(out.provider_body)
    text = json.dumps(body)
    assert "citric acid" in text
    # Retrieved context sits after the history, just before the last user message.
    assert body["messages"][-1]["content"] == "How do I descale the machine?"


async def test_unknown_document_id_is_invalid(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptPressRpcError) as err:
        await client.preprocess(pb.PreprocessRequest(messages=[user("q")], document_ids=["nope"]))
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in err.value.violations] == ["document_ids[0]"]


@pytest.mark.parametrize(
    ("docs", "field"),
    [
        ([pb.Document(id="a", text="")], "documents[0].text"),
        ([pb.Document(id="a", text="x"), pb.Document(id="a", text="y")], "documents[1].id"),
        ([pb.Document(id="", text="x")], "documents[0].id"),
        ([], "documents"),
    ],
)
async def test_bad_index_requests(client, docs, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptPressRpcError) as err:
        await client.index_documents(pb.IndexDocumentsRequest(documents=docs))
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert field in [v.field for v in err.value.violations]


async def test_bad_index_writes_nothing(client) -> None:  # type: ignore[no-untyped-def]
    docs = [pb.Document(id="fresh-1", text="fine"), pb.Document(id="fresh-2", text="")]
    with pytest.raises(PromptPressRpcError):
        await client.index_documents(pb.IndexDocumentsRequest(documents=docs))
    deleted = await client.delete_documents(pb.DeleteDocumentsRequest(document_ids=["fresh-1"]))
    assert deleted.deleted == 0 and list(deleted.not_found) == ["fresh-1"]


async def test_delete_then_reference_fails(client) -> None:  # type: ignore[no-untyped-def]
    await client.index_documents(
        pb.IndexDocumentsRequest(documents=[pb.Document(id="temp", text=OTHER)])
    )
    deleted = await client.delete_documents(
        pb.DeleteDocumentsRequest(document_ids=["temp", "never"])
    )
    assert deleted.deleted == 1 and list(deleted.not_found) == ["never"]
    with pytest.raises(PromptPressRpcError):
        await client.preprocess(pb.PreprocessRequest(messages=[user("q")], document_ids=["temp"]))


async def test_too_many_documents_limit(tmp_path: Path, shared_embedder, shared_compressor) -> None:  # type: ignore[no-untyped-def]
    config = ServerConfig(address="127.0.0.1:0", data_dir=str(tmp_path), max_documents=2)
    app = await build_app(
        config,
        resources=load_resources(config, embedder=shared_embedder, compressor=shared_compressor),
    )
    await app.start()
    try:
        async with AsyncClient(f"127.0.0.1:{app.port}") as c:
            docs = [pb.Document(id=f"d{i}", text="t") for i in range(3)]
            with pytest.raises(PromptPressRpcError) as err:
                await c.index_documents(pb.IndexDocumentsRequest(documents=docs))
    finally:
        await app.stop(grace=0.1)
        app.servicer.pipeline.resources.close()
    assert err.value.violations[0].field == "documents"


async def test_tenants_do_not_see_each_others_documents(tmp_path: Path, resources) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    keys.write_text("sk-a acme\nsk-b globex\n")
    config = ServerConfig(address="127.0.0.1:0", data_dir=str(tmp_path), api_keys=str(keys))
    app = await build_app(config, resources=resources)
    await app.start()
    address = f"127.0.0.1:{app.port}"
    try:
        async with (
            AsyncClient(address, api_key="sk-a") as a,
            AsyncClient(address, api_key="sk-b") as b,
        ):
            await a.index_documents(
                pb.IndexDocumentsRequest(documents=[pb.Document(id="secret", text=MANUAL)])
            )
            with pytest.raises(PromptPressRpcError) as err:
                await b.preprocess(
                    pb.PreprocessRequest(messages=[user("q")], document_ids=["secret"])
                )
            assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
            ok = await a.preprocess(
                pb.PreprocessRequest(messages=[user("descale?")], document_ids=["secret"])
            )
            assert ok.chunks
            ka = (await a.preprocess(pb.PreprocessRequest(messages=[user("same")]))).cache
            kb = (await b.preprocess(pb.PreprocessRequest(messages=[user("same")]))).cache
            assert ka.exact_key != kb.exact_key and ka.prompt_cache_key != kb.prompt_cache_key
    finally:
        await app.stop(grace=0.1)


async def test_static_document_goes_in_cached_prefix(client) -> None:  # type: ignore[no-untyped-def]
    history = []
    for i in range(3):
        history += [
            user(f"question {i} " + "filler " * 40),
            pb.Message(role=pb.ROLE_ASSISTANT, content=f"answer {i}"),
        ]
    req = pb.PreprocessRequest(
        messages=[
            pb.Message(role=pb.ROLE_SYSTEM, content="Be exact."),
            *history,
            user("descale how?"),
        ],
        documents=[
            pb.Document(id="manual", text=MANUAL * 30, static=True),
            pb.Document(id="other", text=OTHER),
        ],
        target=pb.Target(provider="anthropic", model="claude-sonnet-4-5"),
    )
    out = await client.preprocess(req)
    body = json.loads(out.provider_body)
    assert "Zephyr" in json.dumps(body["system"])  # static manual in the system prefix
    assert out.cache.breakpoints, "a >1024-token prefix should get a cache breakpoint"
    assert "cache_control" in out.provider_body
    assert out.stats.cost_after_usd < out.stats.cost_before_usd


async def test_max_prompt_tokens_caps_context_and_history_together(client) -> None:  # type: ignore[no-untyped-def]
    history = []
    for i in range(12):
        history += [
            user(f"question {i} about espresso " + "detail " * 60),
            pb.Message(role=pb.ROLE_ASSISTANT, content=f"answer {i} " + "more " * 80),
        ]
    docs = [pb.Document(id=f"d{i}", text=(MANUAL + "\n\n") * 6) for i in range(4)]
    out = await client.preprocess(
        pb.PreprocessRequest(
            messages=[*history, user("How do I descale the Zephyr?")],
            documents=docs,
            budget=pb.Budget(max_prompt_tokens=1500),
        )
    )
    assert out.stats.original_tokens > 3000
    assert out.chunks and out.stats.dropped_messages > 0
    # Chunk and document wrappers add a few tokens beyond the budgeted content.
    assert out.stats.final_tokens <= 1500 * 1.05, out.stats.final_tokens
    assert sum(c.tokens for c in out.chunks) <= 750
