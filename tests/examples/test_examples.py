"""examples/ works as shipped: a proto3 JSON request for every RPC, run through the
CLI against a real server, and the Node.js client (grpc-js + proto-loader) calling
Preprocess and Complete and decoding google.rpc.BadRequest details."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import PIPE

import pytest
from google.protobuf import json_format

from promptpress.server.app import App, build_app
from promptpress.server.config import ServerConfig
from promptpress.server.resources import load_resources
from promptpress.v1 import promptpress_pb2 as pb
from tests.routing.fake_upstream import (
    FakeUpstream,
    JSONReply,
    RecordedRequest,
    SSEReply,
    openai_completion,
    openai_stream,
)

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = ROOT / "examples" / "requests"
NODE_DIR = ROOT / "examples" / "node"
CLI = Path(sys.executable).parent / "promptpress"
SERVICE = pb.DESCRIPTOR.services_by_name["PromptPressService"]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def answer(request: RecordedRequest) -> JSONReply | SSEReply:
    """The upstream: Paris, as JSON or as an SSE stream, whatever was asked."""
    body = request.json()
    if body.get("stream"):
        usage = {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
        return SSEReply(openai_stream(["Par", "is."], usage=usage))
    return JSONReply(openai_completion("Paris.", prompt_tokens=12, completion_tokens=2))


@pytest.fixture(scope="module")
async def example_server(
    tmp_path_factory: pytest.TempPathFactory, shared_embedder, shared_compressor
) -> AsyncIterator[App]:  # type: ignore[no-untyped-def]
    upstream = FakeUpstream(default=answer).start()
    config = ServerConfig(
        address="127.0.0.1:0",
        data_dir=str(tmp_path_factory.mktemp("examples")),
        extra={
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
        },
    )
    resources = load_resources(config, embedder=shared_embedder, compressor=shared_compressor)
    app = await build_app(config, resources=resources)
    await app.start()
    try:
        yield app
    finally:
        await app.stop(grace=0.1)
        resources.close()
        upstream.stop()


def test_every_rpc_has_a_valid_example_request() -> None:
    for method in SERVICE.methods:
        path = REQUESTS / f"{snake(method.name)}.json"
        assert path.exists(), f"no example request for {method.name}: {path}"
        request = getattr(pb, method.input_type.name)()
        # Unknown fields or bad enum names fail here, as they would for a user.
        json_format.Parse(path.read_text(), request)
        assert request.ByteSize() > 0, f"{path.name} is empty"


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(str(CLI), *args, stdout=PIPE, stderr=PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_example_requests_run_through_the_cli(example_server: App) -> None:
    address = f"127.0.0.1:{example_server.port}"

    async def call(rpc: str) -> str:
        code, out, err = await run_cli("call", rpc, str(REQUESTS / f"{snake(rpc)}.json"),
                                       "--address", address)  # fmt: skip
        assert code == 0, f"{rpc}: {err}"
        return out

    indexed = json.loads(await call("IndexDocuments"))
    assert {d["documentId"] for d in indexed["documents"]} == {
        "handbook-returns",
        "handbook-shipping",
    }
    pre = json.loads(await call("Preprocess"))
    assert any(c["documentId"] == "handbook-returns" for c in pre["chunks"])
    assert "restocking" in pre["providerBody"]
    counted = json.loads(await call("CountTokens"))
    assert counted["counts"][0] == 2 and counted["encoding"] == "o200k_base"
    compressed = json.loads(await call("Compress"))
    assert "$129.99" in compressed["text"]
    assert compressed["compressedTokens"] < compressed["originalTokens"]
    done = json.loads(await call("Complete"))
    assert done["message"]["content"] == "Paris."
    lines = (await call("StreamComplete")).splitlines()
    events = [json.loads(line) for line in lines]  # JSON lines, one per event
    assert [e["delta"] for e in events[:-1]] == ["Par", "is."]
    assert events[-1]["done"]["message"]["content"] == "Paris."
    deleted = json.loads(await call("DeleteDocuments"))
    assert deleted["deleted"] == 1


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
async def test_node_client_calls_and_decodes_bad_request(example_server: App) -> None:
    assert (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").exists(), (
        "examples/node dependencies missing: `make install` runs npm install there"
    )
    proc = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / "client.js"), f"127.0.0.1:{example_server.port}",
        stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    results = {r["call"]: r for r in map(json.loads, out.decode().splitlines())}
    pre = results["Preprocess"]
    assert pre["finalTokens"] > 0 and pre["providerBody"]["model"] == "gpt-4o"
    assert results["Complete"]["content"] == "Paris."
    assert results["Complete"]["tier"] == "small"
    bad = results["Preprocess(bad)"]
    assert bad["code"] == "INVALID_ARGUMENT"
    assert any(v["field"] == "messages[0].role" for v in bad["violations"]), bad
