"""Authentication, tenants, and unexpected errors."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from promptpress import AsyncClient, PromptPressRpcError
from promptpress.cachekeys.profiles import load_profiles
from promptpress.server.app import build_app
from promptpress.server.auth import KeyRing, Unauthenticated
from promptpress.server.config import ServerConfig
from promptpress.server.pipeline import Pipeline
from promptpress.server.resources import Resources
from promptpress.v1 import promptpress_pb2 as pb

HI = pb.CountTokensRequest(texts=["hi"])


@pytest.fixture
async def keyed_app(tmp_path: Path, resources):  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    keys.write_text("# key tenant\nsk-alpha acme\nsk-beta  globex\n")
    config = ServerConfig(address="127.0.0.1:0", data_dir=str(tmp_path), api_keys=str(keys))
    app = await build_app(config, resources=resources)
    await app.start()
    yield app
    await app.stop(grace=0.1)


async def test_missing_and_unknown_keys_are_unauthenticated(keyed_app) -> None:  # type: ignore[no-untyped-def]
    address = f"127.0.0.1:{keyed_app.port}"
    for key in (None, "sk-wrong"):
        async with AsyncClient(address, api_key=key) as c:
            with pytest.raises(PromptPressRpcError) as err:
                await c.count_tokens(HI)
            assert err.value.code is grpc.StatusCode.UNAUTHENTICATED
            assert err.value.request_id and len(err.value.request_id) == 16
    async with AsyncClient(address, api_key="sk-alpha") as c:
        assert (await c.count_tokens(HI)).total == 1


async def test_health_needs_no_key(keyed_app) -> None:  # type: ignore[no-untyped-def]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{keyed_app.port}") as ch:
        resp = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
    assert resp.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("metadata", "tenant"),
    [
        ((("authorization", "Bearer sk-alpha"),), "acme"),
        ((("authorization", "bearer sk-beta"),), "globex"),
    ],
)
def test_keyring_maps_keys_to_tenants(tmp_path: Path, metadata, tenant: str) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    keys.write_text("sk-alpha acme\nsk-beta globex\n")
    assert KeyRing.from_file(keys).tenant_for(metadata) == tenant


def test_keyring_rejects_malformed_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("only-one-field\n")
    with pytest.raises(ValueError, match="keys:1"):
        KeyRing.from_file(keys)


def test_open_keyring_is_default_tenant_and_ignores_body() -> None:
    assert KeyRing.open().tenant_for(()) == "default"
    with pytest.raises(Unauthenticated):
        KeyRing({"k": "t"}, required=True).tenant_for((("authorization", "Basic k"),))


class ExplodingPipeline(Pipeline):
    def preprocess(self, inp):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internal detail")


async def test_unexpected_error_is_internal_with_request_id(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    pipeline = ExplodingPipeline(Resources(profiles=load_profiles()))
    app = await build_app(
        ServerConfig(address="127.0.0.1:0", data_dir=str(tmp_path)), pipeline=pipeline
    )
    await app.start()
    try:
        async with AsyncClient(f"127.0.0.1:{app.port}") as c:
            with (
                caplog.at_level(logging.ERROR, logger="promptpress.server"),
                pytest.raises(PromptPressRpcError) as err,
            ):
                await c.preprocess(
                    pb.PreprocessRequest(messages=[pb.Message(role=pb.ROLE_USER, content="x")])
                )
    finally:
        await app.stop(grace=0.1)
    assert err.value.code is grpc.StatusCode.INTERNAL
    assert "secret internal detail" not in err.value.details
    assert "Traceback" not in err.value.details
    request_id = err.value.details.rsplit("request id ", 1)[1].rstrip(")")
    assert err.value.request_id == request_id  # the x-request-id trailer, read by the client
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert logged and logged[0].exc_info is not None
