"""The HTTP listener: aiohttp on the gRPC server's own asyncio loop.

`create_http_server(address, service, ...)` binds (so a taken port fails at
start-up, and port 0 reports the port it got) but does not serve;
`HttpServer.start()` serves, `stop()` drains in-flight requests for the grace
period. One middleware gives every response an ``x-request-id`` and maps every
exception to the API's own error JSON (errors.py), so no traceback leaves.
"""

from __future__ import annotations

import socket
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from promptpress.errors import InvalidInput
from promptpress.server.http.errors import anthropic_error, failure_for, openai_error
from promptpress.server.http.service import REQUEST_ID, HttpService, log_failure, log_ok

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _api(request: web.Request) -> str:
    """Whose error format this request expects."""
    if request.path.startswith("/v1/messages") or "anthropic-version" in request.headers:
        return "anthropic"
    return "openai"


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = uuid.uuid4().hex[:16]
    request[REQUEST_ID] = request_id
    api = _api(request)
    try:
        response = await handler(request)
    except Exception as exc:  # every failure becomes the API's error JSON
        failure = failure_for(exc, request_id)
        log_failure(exc, failure, request, api)
        body = anthropic_error(failure, request_id) if api == "anthropic" else openai_error(failure)
        return web.json_response(body, status=failure.status, headers=failure.headers(request_id))
    log_ok(request, api, response.status)
    return response


def build_web_app(service: HttpService, *, max_body_bytes: int) -> web.Application:
    app = web.Application(middlewares=[_errors], client_max_size=max_body_bytes)
    app.router.add_post("/v1/chat/completions", service.chat_completions)
    app.router.add_post("/v1/messages", service.messages)
    app.router.add_get("/v1/models", service.models)
    app.router.add_get("/v1/models/{model}", service.models)
    app.router.add_post("/v1/promptpress/bad_hits", service.bad_hits)
    return app


def check_http_address(address: str) -> tuple[str, int]:
    """(host, port) of HOST:PORT ([::1]:PORT for IPv6); InvalidInput naming the setting."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InvalidInput.single("http_address", f"{address!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def bind(address: str) -> socket.socket:
    """A listening TCP socket for HOST:PORT (port 0: any free port)."""
    host, port = check_http_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=512)


def ssl_context(cert_file: str, key_file: str, client_ca_file: str = "") -> ssl.SSLContext:
    """Server-side TLS from PEM files; with a client CA, clients must present a certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.load_verify_locations(client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass
class HttpServer:
    runner: web.AppRunner
    sock: socket.socket
    ssl_context: ssl.SSLContext | None = None
    port: int = 0  # what the socket got (port 0 in the address: any free one)

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    async def start(self) -> None:
        await web.SockSite(self.runner, self.sock, ssl_context=self.ssl_context).start()

    async def stop(self) -> None:
        """Stops accepting, gives in-flight requests the runner's shutdown_timeout, closes."""
        await self.runner.cleanup()
        self.sock.close()


async def create_http_server(
    address: str,
    service: HttpService,
    *,
    ssl_context: ssl.SSLContext | None = None,
    max_body_bytes: int,
    shutdown_timeout: float,
) -> HttpServer:
    runner = web.AppRunner(
        build_web_app(service, max_body_bytes=max_body_bytes),
        handle_signals=False,  # serve() owns SIGTERM/SIGINT for both transports
        shutdown_timeout=shutdown_timeout,
        # A client that goes away cancels its handler, and so its upstream call,
        # as a cancelled RPC does on the gRPC side.
        handler_cancellation=True,
        access_log=None,  # one structured `http` log line per request instead
    )
    await runner.setup()
    try:
        sock = bind(address)
    except BaseException:
        await runner.cleanup()
        raise
    return HttpServer(runner, sock, ssl_context, port=int(sock.getsockname()[1]))
