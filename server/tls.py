"""TLS and mutual TLS for the gRPC port, from PEM files named in the config.

`tls_cert_file` + `tls_key_file` turn TLS on; `tls_client_ca_file` adds mutual TLS
(a client without a certificate signed by that CA is refused during the
handshake). Without TLS the port is plaintext, and binding it to anything but a
loopback address logs a warning: API keys would cross the network in clear.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import grpc

from promptpress.errors import InvalidInput
from promptpress.server.config import ServerConfig
from promptpress.server.logs import log_event

log = logging.getLogger("promptpress.server")


def _read(path: str, setting: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise InvalidInput.single(setting, f"cannot read {path}: {exc.strerror}") from exc


def check_tls_settings(config: ServerConfig) -> bool:
    """True when TLS is configured; InvalidInput when the settings are half there."""
    cert, key, ca = config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file
    if bool(cert) != bool(key):
        missing = "tls_key_file" if cert else "tls_cert_file"
        raise InvalidInput.single(missing, "tls_cert_file and tls_key_file go together")
    if ca and not cert:
        raise InvalidInput.single(
            "tls_client_ca_file", "mutual TLS needs tls_cert_file and tls_key_file too"
        )
    return bool(cert)


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """gRPC server credentials from the config's PEM files; None without TLS."""
    if not check_tls_settings(config):
        return None
    chain = _read(config.tls_cert_file, "tls_cert_file")
    key = _read(config.tls_key_file, "tls_key_file")
    ca = (
        _read(config.tls_client_ca_file, "tls_client_ca_file")
        if config.tls_client_ca_file
        else None
    )
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=ca, require_client_auth=ca is not None
    )


def is_loopback(address: str) -> bool:
    """Whether HOST:PORT binds only the loopback interface."""
    host = address.rsplit(":", 1)[0].strip("[]")
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: could be anything


def bind(server: grpc.aio.Server, config: ServerConfig) -> int:
    """Bind the config's address, with TLS when configured; returns the port."""
    credentials = server_credentials(config)
    if credentials is not None:
        return server.add_secure_port(config.address, credentials)
    if not is_loopback(config.address):
        log_event(
            log,
            "plaintext gRPC port on a non-loopback address: API keys and prompts cross "
            "the network unencrypted; set tls_cert_file and tls_key_file",
            logging.WARNING,
            address=config.address,
        )
    return server.add_insecure_port(config.address)
