"""TLS and mutual TLS (issue 14, item 10), with certificates made at test time: TLS
works, a plaintext client is refused, mTLS refuses a client without a valid
certificate, the HTTP endpoints speak the same TLS, the CLI connects."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import socket
import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from promptpress import AsyncClient, PromptPressRpcError
from promptpress.errors import InvalidInput
from promptpress.server import cli
from promptpress.server.app import build_app
from promptpress.server.config import ServerConfig
from promptpress.server.tls import check_tls_settings, is_loopback
from promptpress.v1 import promptpress_pb2 as pb

HI = pb.CountTokensRequest(texts=["hi"])


@dataclass
class Pem:
    cert: bytes
    key: bytes


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(name: str) -> tuple[Pem, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return Pem(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)), cert, key


def issue(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, name: str, *, server: bool
) -> Pem:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return Pem(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


@dataclass
class Pki:
    dir: Path
    ca: Pem
    server: Pem
    client: Pem
    rogue_client: Pem  # signed by a CA the server does not trust

    def write(self, name: str, data: bytes) -> str:
        path = self.dir / name
        path.write_bytes(data)
        return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca, ca_cert, ca_key = make_ca("promptpress test CA")
    _, rogue_cert, rogue_key = make_ca("someone else")
    return Pki(
        dir=tmp_path_factory.mktemp("pki"),
        ca=ca,
        server=issue(ca_cert, ca_key, "promptpress", server=True),
        client=issue(ca_cert, ca_key, "tenant client", server=False),
        rogue_client=issue(rogue_cert, rogue_key, "rogue client", server=False),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def tls_app(tmp_path: Path, resources, pki: Pki):  # type: ignore[no-untyped-def]
    apps = []

    async def start(*, mutual: bool, http: bool = False):  # type: ignore[no-untyped-def]
        config = ServerConfig(
            address="127.0.0.1:0",
            data_dir=str(tmp_path),
            tls_cert_file=pki.write("server.pem", pki.server.cert),
            tls_key_file=pki.write("server.key", pki.server.key),
            tls_client_ca_file=pki.write("ca.pem", pki.ca.cert) if mutual else "",
            http_address=f"127.0.0.1:{free_port()}" if http else "",
        )
        app = await build_app(config, resources=resources)
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        await app.stop(grace=0.1)


async def test_tls_works_and_plaintext_is_refused(tls_app, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    app = await tls_app(mutual=False)
    address = f"127.0.0.1:{app.port}"
    async with AsyncClient(address, root_certificates=pki.ca.cert, timeout=10) as c:
        assert (await c.count_tokens(HI)).total == 1
    async with AsyncClient(address, timeout=5) as plain:
        with pytest.raises(PromptPressRpcError) as err:
            await plain.count_tokens(HI)
    assert err.value.code is grpc.StatusCode.UNAVAILABLE


async def test_tls_client_refuses_a_server_it_does_not_trust(tls_app, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    app = await tls_app(mutual=False)
    async with AsyncClient(
        f"127.0.0.1:{app.port}", root_certificates=pki.rogue_client.cert, timeout=5
    ) as c:
        with pytest.raises(PromptPressRpcError) as err:
            await c.count_tokens(HI)
    assert err.value.code is grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("client_cert", ["none", "rogue"])
async def test_mtls_refuses_a_client_without_a_valid_certificate(
    tls_app, pki: Pki, client_cert: str
) -> None:  # type: ignore[no-untyped-def]
    app = await tls_app(mutual=True)
    address = f"127.0.0.1:{app.port}"
    creds = {"rogue": pki.rogue_client, "none": None}[client_cert]
    kwargs = {"certificate_chain": creds.cert, "private_key": creds.key} if creds else {}
    async with AsyncClient(address, root_certificates=pki.ca.cert, timeout=5, **kwargs) as c:
        with pytest.raises(PromptPressRpcError) as err:
            await c.count_tokens(HI)
    assert err.value.code is grpc.StatusCode.UNAVAILABLE
    async with AsyncClient(
        address,
        root_certificates=pki.ca.cert,
        certificate_chain=pki.client.cert,
        private_key=pki.client.key,
        timeout=10,
    ) as good:
        assert (await good.count_tokens(HI)).total == 1


async def test_http_endpoints_use_the_same_tls(tls_app, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    app = await tls_app(mutual=True, http=True)
    url = f"https://127.0.0.1:{app.http_port}/v1/models"

    def get(with_client_cert: bool) -> int:
        context = ssl.create_default_context(cadata=pki.ca.cert.decode())
        if with_client_cert:
            context.load_cert_chain(
                pki.write("client.pem", pki.client.cert), pki.write("client.key", pki.client.key)
            )
        with urllib.request.urlopen(url, context=context, timeout=10) as resp:
            return int(resp.status)

    assert await asyncio.to_thread(get, True) == 200
    with pytest.raises((ssl.SSLError, OSError)):
        await asyncio.to_thread(get, False)


async def test_cli_connects_with_tls(tls_app, pki: Pki, capsys) -> None:  # type: ignore[no-untyped-def]
    app = await tls_app(mutual=True)
    argv = [
        "count",
        "--address",
        f"127.0.0.1:{app.port}",
        "--ca-file",
        pki.write("ca.pem", pki.ca.cert),
        "--cert-file",
        pki.write("client.pem", pki.client.cert),
        "--key-file",
        pki.write("client.key", pki.client.key),
        "hello world",
    ]
    assert await asyncio.to_thread(cli.main, argv) == 0
    assert "total 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("localhost:50051", True),
        ("[::1]:50051", True),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        ("10.1.2.3:50051", False),
        ("api.example.com:443", False),
    ],
)
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


async def test_plaintext_on_all_interfaces_warns(tmp_path: Path, resources, caplog) -> None:  # type: ignore[no-untyped-def]
    config = ServerConfig(address="0.0.0.0:0", data_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="promptpress.server"):
        app = await build_app(config, resources=resources)
    await app.stop(grace=0)
    assert any("plaintext gRPC port" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "settings",
    [
        {"tls_cert_file": "c.pem"},
        {"tls_key_file": "k.pem"},
        {"tls_client_ca_file": "ca.pem"},
    ],
)
def test_half_tls_settings_are_refused(settings: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        check_tls_settings(ServerConfig(**settings))
