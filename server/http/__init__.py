"""OpenAI- and Anthropic-compatible HTTP endpoints in front of the Complete pipeline.

server.py         the aiohttp listener (same asyncio loop as grpc.aio), error middleware
service.py        the handlers: auth -> parse -> Completer -> render
openai_api.py     Chat Completions JSON/SSE <-> WireRequest / Completion (pure)
anthropic_api.py  Messages JSON <-> WireRequest / Completion (pure)
anthropic_stream.py  the Messages SSE event sequence (blocks never overlap)
wire.py           WireRequest -> CompletionInput (the gRPC API's validation and limits)
options.py        preprocessing settings: per-tenant defaults, headers, body field
models.py         `model`: auto, a tier, or a configured upstream model
report.py         what promptpress did: x-promptpress-* headers and a `promptpress` field
errors.py         exceptions -> HTTP status and each API's error JSON
sse.py            server-sent event framing
"""
