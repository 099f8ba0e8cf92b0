"""The HTTP request handlers: authenticate, parse, run the Completer, render.

Both doors share one flow (`_complete`); a `Dialect` supplies what differs
(parsing, the JSON response, the stream's frames, the error JSON). The Completer,
the key ring, the limits and the worker pool are the gRPC servicer's own, so both
transports share models, stores, caches and limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from promptpress.errors import InvalidInput
from promptpress.server import convert
from promptpress.server.auth import KeyRing, Unauthenticated
from promptpress.server.completion import Completer, Completion, CompletionInput
from promptpress.server.experiments import Assignment, Experiments, served, with_arm_settings
from promptpress.server.http import anthropic_api, anthropic_stream, openai_api, sse
from promptpress.server.http.errors import HttpFailure, failure_for
from promptpress.server.http.models import ModelChoice, list_models, resolve_model
from promptpress.server.http.options import OptionDefaults, request_options
from promptpress.server.http.report import report, report_headers
from promptpress.server.http.wire import WireRequest, completion_input, json_object, renamed
from promptpress.server.keyfile import KeyFile
from promptpress.server.logs import log_event
from promptpress.server.routing.tiers import TierConfig
from promptpress.types import ToolCallDelta

log = logging.getLogger("promptpress.server")

REQUEST_ID = web.RequestKey("promptpress_request_id", str)
TENANT = web.RequestKey("promptpress_tenant", str)


class StreamFrames(Protocol):
    def start(self) -> bytes: ...
    def text(self, text: str) -> bytes: ...
    def tool_call(self, delta: ToolCallDelta) -> bytes: ...
    def finish(self, done: Completion, report: dict[str, Any]) -> bytes: ...
    def error(self, failure: HttpFailure, request_id: str) -> bytes: ...


@dataclass(frozen=True)
class Dialect:
    name: str  # "openai" | "anthropic"
    parse: Callable[[Mapping[str, Any]], WireRequest]
    render: Callable[[Completion, str, str, dict[str, Any]], dict[str, Any]]
    frames: Callable[[WireRequest, str, str], StreamFrames]


OPENAI = Dialect(
    "openai",
    openai_api.parse_chat_request,
    lambda done, model, rid, rep: openai_api.chat_completion(
        done, model=model, request_id=rid, created=int(time.time()), report=rep
    ),
    lambda wire, model, rid: openai_api.ChunkStream(
        model=model, request_id=rid, created=int(time.time()), include_usage=wire.include_usage
    ),
)
ANTHROPIC = Dialect(
    "anthropic",
    anthropic_api.parse_messages_request,
    lambda done, model, rid, rep: anthropic_api.message_json(
        done, model=model, request_id=rid, report=rep
    ),
    lambda wire, model, rid: anthropic_stream.EventStream(model=model, request_id=rid),
)


def api_key_metadata(all_values: Callable[[str], list[str]]) -> list[tuple[str, str]]:
    """`Authorization: Bearer KEY` (OpenAI SDKs) or `x-api-key: KEY` (Anthropic SDKs), as
    the gRPC metadata the key ring reads. Two different keys in one request are refused."""
    authorization = all_values("authorization")
    api_keys = [f"Bearer {k.strip()}" for k in all_values("x-api-key")]
    distinct = set(authorization) | set(api_keys)
    if len(distinct) > 1:
        raise Unauthenticated("conflicting API keys in `authorization` and `x-api-key`")
    return [("authorization", value) for value in distinct]


class HttpService:
    def __init__(
        self,
        *,
        keyring: Callable[[], KeyRing | KeyFile],
        limits: convert.RequestLimits,
        completer: Completer,
        defaults: OptionDefaults,
        admitted: Callable[[str, float | None], AbstractAsyncContextManager[None]],
        charge: Callable[[str, Completion], Awaitable[None]],
        experiments: Experiments | None = None,
    ) -> None:
        self.keyring = keyring  # read per request: the key ring may be reloaded
        # The gRPC servicer's own call scope (rate limits, admission, cancellation;
        # ResourceExhausted -> 429) and its accounting of answers against the limits.
        self.admitted = admitted
        self.charge = charge
        self.limits = limits
        self.completer = completer
        self.defaults = defaults
        self.experiments = experiments or Experiments((), None)

    def tiers(self) -> TierConfig | None:
        router = self.completer.router
        return router.config.tiers if router is not None else None

    def tenant(self, request: web.Request) -> str:
        """The caller's tenant, from its API key."""
        keyring = self.keyring()
        metadata = api_key_metadata(lambda name: list(request.headers.getall(name, [])))
        if not metadata and keyring.required:
            raise Unauthenticated(
                "missing API key: send `Authorization: Bearer KEY` or `x-api-key: KEY`"
            )
        tenant = keyring.tenant_for(metadata)
        request[TENANT] = tenant
        return tenant

    # --- routes ------------------------------------------------------------------------

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        tenant = self.tenant(request)
        async with self.admitted(tenant, None):  # HTTP callers send no deadline
            return await self._complete(request, OPENAI, tenant)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        tenant = self.tenant(request)
        async with self.admitted(tenant, None):
            return await self._complete(request, ANTHROPIC, tenant)

    async def models(self, request: web.Request) -> web.Response:
        """GET /v1/models, and /v1/models/{id} for one (404 for a name nothing serves)."""
        async with self.admitted(self.tenant(request), None):
            entries = list_models(self.tiers())
        api = anthropic_api if "anthropic-version" in request.headers else openai_api
        name = request.match_info.get("model")
        if name is None:
            body = api.models_json(entries)
        else:
            resolve_model(name, self.tiers())  # NotFound names what exists
            body = api.model_json(next(e for e in entries if e.id == name.strip()))
        return web.json_response(body, headers={"x-request-id": request[REQUEST_ID]})

    async def bad_hits(self, request: web.Request) -> web.Response:
        """POST /v1/promptpress/bad_hits {"key": MATCHED_KEY}: the cached answer served
        under that key was wrong. The entry is removed at once and the report feeds the
        tenant's calibration, as gRPC's ReportBadHit does."""
        tenant = self.tenant(request)
        async with self.admitted(tenant, None):
            body = json_object(await request.read())
            raw = body.get("key")
            if not isinstance(raw, str):
                raise InvalidInput.single("key", "must be a string: a response's matched_key")
            key = convert.report_key(raw)
            loop = asyncio.get_running_loop()
            done = await loop.run_in_executor(
                self.completer.executor, self.completer.report_bad_hit, tenant, key
            )
        body = {
            "removed": done.removed,
            "cache": done.kind or "none",  # what had served the key: exact | semantic
            "tenant_threshold": done.tenant_threshold,
        }
        return web.json_response(body, headers={"x-request-id": request[REQUEST_ID]})

    # --- the shared flow ----------------------------------------------------------------

    async def _prepare(
        self, request: web.Request, dialect: Dialect, tenant: str
    ) -> tuple[WireRequest, ModelChoice, CompletionInput, Assignment | None]:
        body = json_object(await request.read())
        wire = dialect.parse(body)
        choice = resolve_model(wire.model, self.tiers())
        options = request_options(self.defaults.for_tenant(tenant), request.headers, body)
        inp = completion_input(wire, options, choice, tenant=tenant, limits=self.limits)
        pre, assignment = self.experiments.assign(tenant, inp.request, options.conversation_id)
        inp = with_arm_settings(dataclasses.replace(inp, request=pre), assignment)
        return wire, choice, inp, assignment

    async def _experiment_done(
        self, tenant: str, assignment: Assignment | None, done: Completion, started: float,
        request_id: str,
    ) -> dict[str, str]:  # fmt: skip
        """Count the answer in its arm; the fields that say which arm it was."""
        if assignment is None:
            return {}
        contribution = served(done.pre, cost_usd=done.cost_usd, cache_status=done.cache_status,
                              latency_s=time.perf_counter() - started)  # fmt: skip
        await asyncio.get_running_loop().run_in_executor(
            self.completer.executor,
            self.experiments.record,
            tenant,
            assignment,
            request_id,
            contribution,
        )
        return {
            "experiment": assignment.experiment,
            "arm": assignment.arm.name,
            "conversation_id": assignment.conversation,
        }

    async def _complete(
        self, request: web.Request, dialect: Dialect, tenant: str
    ) -> web.StreamResponse:
        request_id = request[REQUEST_ID]
        started = time.perf_counter()
        wire, choice, inp, assignment = await self._prepare(request, dialect, tenant)
        if wire.stream:
            return await self._stream(request, dialect, tenant, wire, choice, inp, assignment)
        with callers_paths(wire):  # the stages' violations, in the caller's JSON paths
            done = await self.completer.complete(tenant, inp, None)
        await self.charge(tenant, done)
        arm = await self._experiment_done(tenant, assignment, done, started, request_id)
        body = dialect.render(done, choice.name, request_id, {**report(done, request_id), **arm})
        headers = {"x-request-id": request_id, **report_headers(done), **arm_headers(arm)}
        return web.json_response(body, headers=headers)

    async def _stream(
        self,
        request: web.Request,
        dialect: Dialect,
        tenant: str,
        wire: WireRequest,
        choice: ModelChoice,
        inp: CompletionInput,
        assignment: Assignment | None,
    ) -> web.StreamResponse:
        request_id = request[REQUEST_ID]
        started = time.perf_counter()
        events = self.completer.stream(tenant, inp, None)
        async with contextlib.aclosing(events):
            # Nothing is sent before the first event: a failure up to here (a bad
            # request, every upstream down) is still a plain HTTP error with its status.
            with callers_paths(wire):
                event = await anext(events)
            response = await sse.open_stream(request, {"x-request-id": request_id})
            frames = dialect.frames(wire, choice.name, request_id)
            await response.write(frames.start())
            try:
                while not isinstance(event, Completion):
                    if isinstance(event, str):
                        await response.write(frames.text(event))
                    else:
                        await response.write(frames.tool_call(event))
                    event = await anext(events)
                await self.charge(tenant, event)
                arm = await self._experiment_done(tenant, assignment, event, started, request_id)
                await response.write(frames.finish(event, {**report(event, request_id), **arm}))
            except (ConnectionError, StopAsyncIteration):
                raise
            except Exception as exc:  # after the headers: reported in the stream itself
                failure = failure_for(exc, request_id)
                log_failure(exc, failure, request, dialect.name)
                await response.write(frames.error(failure, request_id))
        await response.write_eof()
        return response


def arm_headers(arm: dict[str, str]) -> dict[str, str]:
    """x-promptpress-experiment, -arm, -conversation-id (none outside an experiment)."""
    return {"x-promptpress-" + k.replace("_", "-"): v for k, v in arm.items()}


@contextlib.contextmanager
def callers_paths(wire: WireRequest) -> Iterator[None]:
    try:
        yield
    except InvalidInput as exc:
        raise renamed(exc, wire) from None


def log_failure(exc: BaseException, failure: HttpFailure, request: web.Request, api: str) -> None:
    level = logging.ERROR if failure.kind == "internal" else logging.INFO
    log.log(
        level,
        "http",
        exc_info=exc if level == logging.ERROR else None,
        extra={
            "api": api,
            "path": request.path,
            "tenant": request.get(TENANT, ""),
            "request_id": request.get(REQUEST_ID, ""),
            "status": failure.status,
            "detail": failure.message,
        },
    )


def log_ok(request: web.Request, api: str, status: int) -> None:
    log_event(
        log,
        "http",
        api=api,
        path=request.path,
        tenant=request.get(TENANT, ""),
        request_id=request.get(REQUEST_ID, ""),
        status=status,
    )
