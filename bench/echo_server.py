"""A bare grpc.aio server: the ceiling of Python gRPC on this machine.

It serves the same method paths as promptpress, takes the request as raw bytes
(no parsing) and answers with a canned payload of the size promptpress answered
that request with, so the transport moves the same bytes both ways and the only
difference left is promptpress's own work.

    python -m promptpress.bench.echo_server --address 127.0.0.1:0 --responses FILE

FILE maps method path -> {request byte length -> response byte length}. Unknown
requests are echoed back unchanged. Once listening it logs, like promptpress,
a JSON line to stderr with "event": "serving" and the bound "port".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

import grpc

ResponseSizes = dict[str, dict[int, int]]


class _EchoHandler(grpc.GenericRpcHandler):
    def __init__(self, sizes: ResponseSizes) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        self._sizes = sizes

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method
        if method not in self._handlers:
            self._handlers[method] = grpc.unary_unary_rpc_method_handler(self._make(method))
        return self._handlers[method]

    def _make(self, method: str):  # type: ignore[no-untyped-def]
        by_length = self._sizes.get(method, {})
        canned = {n: b"\x00" * n for n in set(by_length.values())}

        async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            size = by_length.get(len(request))
            return request if size is None else canned[size]

        return echo


async def create_echo_server(
    address: str = "127.0.0.1:0", sizes: ResponseSizes | None = None
) -> tuple[grpc.aio.Server, int]:
    """Returns an unstarted echo server and its bound port."""
    # The same channel limits as a server that takes ~32k-token requests.
    options = [
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ]
    server = grpc.aio.server(options=options)
    server.add_generic_rpc_handlers((_EchoHandler(sizes or {}),))
    port = server.add_insecure_port(address)
    return server, port


def load_sizes(path: Path | None) -> ResponseSizes:
    if path is None:
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {m: {int(k): int(v) for k, v in table.items()} for m, table in raw.items()}


async def serve(address: str, sizes: ResponseSizes) -> None:
    server, port = await create_echo_server(address, sizes)
    await server.start()
    print(json.dumps({"event": "serving", "port": port, "server": "echo"}), file=sys.stderr)
    sys.stderr.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=1.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--address", default="127.0.0.1:0")
    p.add_argument("--responses", type=Path, default=None)
    args = p.parse_args(argv)
    asyncio.run(serve(args.address, load_sizes(args.responses)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
