"""Hostile or odd input: many violations, undecodable bytes, doubled auth headers, byte
spans that split a character (issue 14, items 4-7)."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from promptpress import PromptPressRpcError
from promptpress.server.app import build_app
from promptpress.server.config import ServerConfig
from promptpress.server.decode import RateLimitedWarning
from promptpress.server.status import MAX_VIOLATIONS_SENT
from promptpress.v1 import promptpress_pb2 as pb

SERVICE = "/promptpress.v1.PromptPressService/"


def _bad_request(err: grpc.aio.AioRpcError) -> error_details_pb2.BadRequest:
    status = rpc_status.from_call(err)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    return bad


@pytest.mark.parametrize(
    "request_",
    [
        pb.PreprocessRequest(
            messages=[pb.Message(role=pb.ROLE_USER, content="q")],
            document_ids=[""] * 300,
        ),
        pb.PreprocessRequest(messages=[pb.Message(role=99, content="x" * 100)] * 500),
    ],
)
async def test_many_violations_stay_invalid_argument(address: str, request_) -> None:  # type: ignore[no-untyped-def]
    """Hundreds of violations used to overflow gRPC's metadata limit (RESOURCE_EXHAUSTED)."""
    async with grpc.aio.insecure_channel(address) as ch:
        call = ch.unary_unary(
            SERVICE + "Preprocess",
            request_serializer=pb.PreprocessRequest.SerializeToString,
            response_deserializer=pb.PreprocessResponse.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(request_, timeout=30)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    bad = _bad_request(err.value)
    assert len(bad.field_violations) == MAX_VIOLATIONS_SENT + 1
    assert "more violations not shown" in bad.field_violations[-1].description
    assert bad.field_violations[0].field


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("CountTokens", b"\x0a\xff\xff\xff\xff\x0f"),  # length past the end
        ("Preprocess", b"\xff\xff\xff"),  # not a tag at all
        ("CountTokens", b"\x0a\x02\xc3\x28"),  # texts[0] is invalid UTF-8
    ],
)
async def test_undecodable_bytes_are_invalid_argument(
    address: str, method: str, payload: bytes, caplog
) -> None:  # type: ignore[no-untyped-def]
    async with grpc.aio.insecure_channel(address) as ch:
        raw = ch.unary_unary(SERVICE + method)  # bytes in, bytes out
        with caplog.at_level(logging.WARNING), pytest.raises(grpc.aio.AioRpcError) as err:
            await raw(payload, timeout=10)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "class" not in err.value.details() and "Error" not in err.value.details()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "service", ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]
)
async def test_undecodable_reflection_request_is_invalid_argument(
    address: str, service: str, caplog
) -> None:  # type: ignore[no-untyped-def]
    """A streaming request's bad message gets the same answer as a unary one's."""
    async with grpc.aio.insecure_channel(address) as ch:
        raw = ch.stream_stream(f"/{service}/ServerReflectionInfo")  # bytes in, bytes out
        good = b"\x3a\x00"  # list_services = ""
        call = raw(iter([good, b"\xff\xff\xff"]), timeout=10)
        answers = []
        with caplog.at_level(logging.WARNING), pytest.raises(grpc.aio.AioRpcError) as err:
            async for answer in call:
                answers.append(answer)
    assert len(answers) == 1 and b"promptpress.v1.PromptPressService" in answers[0]
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "class" not in err.value.details() and "Error" not in err.value.details()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_decode_warnings_are_rate_limited(caplog) -> None:  # type: ignore[no-untyped-def]
    now = [0.0]
    warn = RateLimitedWarning(interval_s=10, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="promptpress.server"):
        logged = [warn("undecodable request") for _ in range(1000)]
        now[0] = 11.0
        logged.append(warn("undecodable request"))
    assert logged.count(True) == 2
    assert caplog.records[-1].suppressed_since_last == 999


async def test_two_authorization_headers_are_unauthenticated(tmp_path: Path, resources) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    keys.write_text("sk-alpha acme\nsk-beta globex\n")
    config = ServerConfig(address="127.0.0.1:0", data_dir=str(tmp_path), api_keys=str(keys))
    app = await build_app(config, resources=resources)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as ch:
            call = ch.unary_unary(
                SERVICE + "CountTokens",
                request_serializer=pb.CountTokensRequest.SerializeToString,
                response_deserializer=pb.CountTokensResponse.FromString,
            )
            req = pb.CountTokensRequest(texts=["hi"])
            one = (("authorization", "Bearer sk-alpha"),)
            assert (await call(req, metadata=one, timeout=10)).total == 1
            two = (("authorization", "Bearer sk-alpha"), ("authorization", "Bearer sk-beta"))
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(req, metadata=two, timeout=10)
        assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        await app.stop(grace=0.1)


# "é" is two bytes (0xC3 0xA9): offset 1 is inside it.
SPLIT = pb.ByteSpan(start=1, end=3)


@pytest.mark.parametrize("rate", [0.0, 1.0, 0.5])
async def test_span_inside_a_character_is_refused_at_any_rate(client, rate: float) -> None:  # type: ignore[no-untyped-def]
    req = pb.PreprocessRequest(
        messages=[pb.Message(role=pb.ROLE_USER, content="éte " * 50, protected_spans=[SPLIT])],
        budget=pb.Budget(compression_rate=rate),
    )
    with pytest.raises(PromptPressRpcError) as err:
        await client.preprocess(req)
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in err.value.violations] == ["messages[0].protected_spans[0]"]


async def test_volatile_span_inside_a_character_names_its_message(client) -> None:  # type: ignore[no-untyped-def]
    req = pb.PreprocessRequest(
        messages=[
            pb.Message(role=pb.ROLE_SYSTEM, content="sys"),
            pb.Message(role=pb.ROLE_USER, content="éa", volatile_spans=[SPLIT]),
        ]
    )
    with pytest.raises(PromptPressRpcError) as err:
        await client.preprocess(req)
    assert [v.field for v in err.value.violations] == ["messages[1].volatile_spans[0]"]


async def test_compress_span_inside_a_character(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptPressRpcError) as err:
        await client.compress(pb.CompressRequest(text="é" * 10, protected_spans=[SPLIT]))
    assert [v.field for v in err.value.violations] == ["protected_spans[0]"]


async def test_spans_on_character_boundaries_pass(client) -> None:  # type: ignore[no-untyped-def]
    req = pb.PreprocessRequest(
        messages=[
            pb.Message(
                role=pb.ROLE_USER, content="éa", protected_spans=[pb.ByteSpan(start=0, end=2)]
            )
        ]
    )
    out = await client.preprocess(req)
    assert out.messages[0].content == "éa"


async def test_many_violations_through_the_client(client) -> None:  # type: ignore[no-untyped-def]
    req = pb.PreprocessRequest(
        messages=[pb.Message(role=pb.ROLE_USER, content="q")], document_ids=[""] * 300
    )
    with pytest.raises(PromptPressRpcError) as err:
        await client.preprocess(req)
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert len(err.value.details) < 2048
