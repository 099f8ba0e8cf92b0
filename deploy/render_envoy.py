"""Render deploy/envoy.yaml for a list of promptpress replicas (standard library only).

    python deploy/render_envoy.py --replica 10.0.0.11:50051 --replica 10.0.0.12:50051 \
        [--listen 0.0.0.0:8080] [--admin 127.0.0.1:9901] [--health-interval 1s] > envoy.yaml

The tests render the same file with the same function (tests/replicas/test_envoy.py).
"""

from __future__ import annotations

import argparse
import string
import sys
from collections.abc import Sequence
from pathlib import Path

TEMPLATE = Path(__file__).with_name("envoy.yaml")


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def render(
    replicas: Sequence[str],
    *,
    listen: str = "0.0.0.0:8080",
    admin: str = "127.0.0.1:9901",
    health_interval: str = "1s",
    template: str | None = None,
) -> str:
    """The Envoy config routing to `replicas` (each HOST:PORT)."""
    if not replicas:
        raise ValueError("at least one replica")
    endpoints = ", ".join(
        "{endpoint: {address: {socket_address: {address: %s, port_value: %d}}}}"  # noqa: UP031
        % _split(r)
        for r in replicas
    )
    listen_host, listen_port = _split(listen)
    admin_host, admin_port = _split(admin)
    text = TEMPLATE.read_text() if template is None else template
    return string.Template(text).substitute(
        ENDPOINTS=f"[{endpoints}]",
        LISTEN_ADDRESS=listen_host,
        LISTEN_PORT=listen_port,
        ADMIN_ADDRESS=admin_host,
        ADMIN_PORT=admin_port,
        HEALTH_INTERVAL=health_interval,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replica", action="append", required=True, help="HOST:PORT, repeated")
    parser.add_argument("--listen", default="0.0.0.0:8080")
    parser.add_argument("--admin", default="127.0.0.1:9901")
    parser.add_argument("--health-interval", default="1s")
    args = parser.parse_args(argv)
    sys.stdout.write(
        render(
            args.replica,
            listen=args.listen,
            admin=args.admin,
            health_interval=args.health_interval,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
