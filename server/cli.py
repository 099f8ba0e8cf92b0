"""The `promptpress` command: serve, call, count, compress, report-bad-hit, prepare,
train-difficulty.

Every error is one line on stderr (`error: ...`) and a non-zero exit: 1 for a
failed call or command, 2 for bad usage or input. Set PROMPTPRESS_DEBUG=1 to
see the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from promptpress import __version__

RPCS = {
    "Preprocess": ("PreprocessRequest", "preprocess"),
    "Compress": ("CompressRequest", "compress"),
    "CountTokens": ("CountTokensRequest", "count_tokens"),
    "IndexDocuments": ("IndexDocumentsRequest", "index_documents"),
    "DeleteDocuments": ("DeleteDocumentsRequest", "delete_documents"),
    "Complete": ("CompleteRequest", "complete"),
    "StreamComplete": ("StreamCompleteRequest", "stream_complete"),
    "ReportBadHit": ("ReportBadHitRequest", "report_bad_hit"),
    "RecordOutcome": ("RecordOutcomeRequest", "record_outcome"),
    "GetExperimentReport": ("GetExperimentReportRequest", "get_experiment_report"),
}
STREAMING = {"stream_complete"}

# Help for the settings `serve` offers as flags; any other ServerConfig field
# still gets a flag, with a generic line. The README's Configuration table is
# the full reference.
SETTING_HELP = {
    "address": "gRPC listen address HOST:PORT",
    "http_address": "HOST:PORT of the OpenAI/Anthropic-compatible HTTP endpoints (empty: off)",
    "data_dir": "models, tokenizer files and LMDB stores",
    "api_keys": "file of `KEY TENANT` lines; none = no authentication (tenant 'default')",
    "log_level": "DEBUG, INFO, WARNING or ERROR (JSON logs on stderr)",
    "grace_period_s": "seconds in-flight RPCs get to finish after SIGTERM",
    "worker_threads": "threads for model and LMDB work, off the event loop",
    "torch_threads": "intra-op threads per model inference, torch and ONNX Runtime (0: their default)",
    "model_passes": "forward passes of one model at once (0: one per usable CPU core)",
    "max_receive_message_bytes": "gRPC message size limit",
    "max_messages": "messages per request",
    "max_message_bytes": "bytes per message",
    "max_documents": "documents per request",
    "max_document_bytes": "bytes per document",
    "max_texts": "texts per CountTokens/Compress request",
    "max_text_bytes": "bytes per text",
    "max_document_ids": "document ids per request",
    "embedding_model": "sentence-transformers name (local cache) or path; empty: embedded MiniLM",
    "compressor_model": "causal LM for LLMLingua scoring (path); empty: embedded SmolLM2",
    "llmlingua2_model": "local path of a microsoft/llmlingua-2-* token classifier",
    "pair_encoder_base": "local all-mpnet-base-v2 folder (semantic cache); empty: from its wheels",
    "load_models": "load the models at start-up (false: CountTokens and plain Preprocess only)",
    "metrics_port": "Prometheus /metrics port on 127.0.0.1 (0: off)",
    "prices_file": "TOML/JSON price list laid over cachekeys/profiles.toml",
}


class CliError(Exception):
    """A failure the user can fix; printed as one line. `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tls",
        action="store_true",
        default=os.environ.get("PROMPTPRESS_TLS", "").lower() in ("1", "true", "yes", "on"),
        help="connect with TLS (implied by --ca-file/--cert-file; env PROMPTPRESS_TLS)",
    )
    p.add_argument(
        "--ca-file",
        default=os.environ.get("PROMPTPRESS_TLS_CA"),
        help="PEM roots to verify the server with (default: the system's; env PROMPTPRESS_TLS_CA)",
    )
    p.add_argument(
        "--cert-file",
        default=os.environ.get("PROMPTPRESS_CLIENT_CERT"),
        help="PEM client certificate for mutual TLS (env PROMPTPRESS_CLIENT_CERT)",
    )
    p.add_argument(
        "--key-file",
        default=os.environ.get("PROMPTPRESS_CLIENT_KEY"),
        help="PEM key of --cert-file (env PROMPTPRESS_CLIENT_KEY)",
    )
    p.add_argument(
        "--address",
        default=os.environ.get("PROMPTPRESS_ADDRESS", "127.0.0.1:50051"),
        help="server HOST:PORT (env PROMPTPRESS_ADDRESS; default %(default)s)",
    )
    p.add_argument(
        "--api-key",
        default=os.environ.get("PROMPTPRESS_API_KEY"),
        help="API key sent as `authorization: Bearer KEY` (env PROMPTPRESS_API_KEY)",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="deadline in seconds (default %(default)s)"
    )


def _setting_flags(p: argparse.ArgumentParser) -> None:
    """One flag per ServerConfig setting: --grace-period-s, --load-models, ..."""
    from promptpress.server.config import ServerConfig

    p.add_argument("--config", help="TOML config file (env PROMPTPRESS_CONFIG)")
    for f in dataclasses.fields(ServerConfig):
        if f.name == "extra":
            continue
        env = "PROMPTPRESS_" + f.name.upper()
        about = SETTING_HELP.get(f.name, f"the `{f.name}` setting (see README, Configuration)")
        kind = type(getattr(ServerConfig(), f.name))
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, help=about)
        else:
            p.add_argument(flag, dest=f.name, metavar=f.name.upper(), help=f"{about} (env {env})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promptpress",
        description="promptpress: trim, select, compress and cache LLM prompts; route requests.",
        epilog="Every error is one line on stderr; exit 1 for a failed call, 2 for bad input.",
    )
    parser.add_argument("--version", action="version", version=f"promptpress {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the server",
        description="Run the gRPC server. Settings: flags, then PROMPTPRESS_* variables, "
        "then the TOML file, then defaults.",
    )
    _setting_flags(serve)

    prepare = sub.add_parser(
        "prepare",
        help="prepare the embedded default models in the data directory",
        description="Convert the embedded compressor model and write the tokenizer files "
        "into the data directory (once; later runs reuse them).",
    )
    prepare.add_argument("--config", help="TOML config file (env PROMPTPRESS_CONFIG)")
    prepare.add_argument("--data-dir", dest="data_dir", help="env PROMPTPRESS_DATA_DIR")

    train = sub.add_parser(
        "train-difficulty",
        help="train the routing difficulty model",
        description="Train the routing difficulty model from a JSONL file of "
        '{"text": ..., "label": "easy"|"hard"} lines; writes JSON weights.',
    )
    train.add_argument("data", help="labelled JSONL file")
    train.add_argument("--out", required=True, help="where to write the model JSON")
    train.add_argument("--no-embedding", action="store_true", help="heuristic features only")
    train.add_argument("--embedding-model", default="", help="sentence-transformers name or path")

    sub.add_parser(
        "train-compressor",
        add_help=False,
        help="rebuild the distilled compressor's head from the wheels (see --help)",
    )

    call = sub.add_parser(
        "call",
        help="call an RPC with a proto3 JSON request",
        description="Call an RPC with a proto3 JSON request (a file, or stdin) and print the "
        "response as JSON; StreamComplete prints one JSON object per line as events arrive. "
        "Examples of every request: examples/requests/.",
    )
    call.add_argument("rpc", choices=sorted(RPCS), help="the RPC to call")
    call.add_argument("file", nargs="?", help="request JSON file (default: stdin)")
    _client_args(call)

    count = sub.add_parser("count", help="count tokens of texts")
    count.add_argument("texts", nargs="*", help="texts (default: stdin as one text)")
    count.add_argument("--model", default="", help="model whose tokenizer counts (default gpt-4o)")
    _client_args(count)

    compress = sub.add_parser("compress", help="compress a text read from stdin")
    compress.add_argument("--rate", type=float, default=0.5, help="kept/original tokens")
    compress.add_argument("--target-tokens", type=int, default=0, help="absolute size instead")
    compress.add_argument("--question", default="", help="question for question-aware methods")
    compress.add_argument(
        "--method",
        default="",
        choices=["", "llmlingua", "longllmlingua", "llmlingua2", "distilled"],
        help="compression method (default: the server's choice)",
    )
    compress.add_argument("--model", default="", help="target model (its tokenizer counts)")
    _client_args(compress)

    report = sub.add_parser(
        "report-bad-hit",
        help="mark a cached answer wrong by its matched_key: the entry is removed and the "
        "tenant's matching threshold learns from it",
    )
    report.add_argument("key", help="the CompleteResponse.matched_key of the answer")
    _client_args(report)
    experiments = sub.add_parser(
        "experiments",
        help="A/B experiments: read a report, record outcomes",
        description="Experiments are defined in the server config ([experiments.NAME]); "
        "these commands read their reports and record outcomes.",
    )
    exp_sub = experiments.add_subparsers(dest="action", required=True, metavar="ACTION")
    report = exp_sub.add_parser(
        "report",
        help="per-arm statistics, differences with 95% CIs, and a verdict",
        description="Per-arm statistics, arm-vs-control differences with 95% confidence "
        "intervals, and what to do.",
    )
    report.add_argument("name", help="the experiment's name in the server config")
    report.add_argument("--metric", default="", help="outcome metric (default: the experiment's)")
    report.add_argument("--json", action="store_true", help="print the report as proto3 JSON")
    _client_args(report)
    outcome = exp_sub.add_parser(
        "outcome",
        help="record an outcome for a request or a conversation",
        description="Record an outcome (counted once per request or conversation and metric).",
    )
    ref = outcome.add_mutually_exclusive_group(required=True)
    ref.add_argument("--request-id", default="", help="request_id from a response")
    ref.add_argument("--conversation-id", default="", help="conversation_id from a response")
    result = outcome.add_mutually_exclusive_group(required=True)
    result.add_argument("--success", dest="success", action="store_true", help="it worked")
    result.add_argument("--failure", dest="success", action="store_false", help="it did not")
    outcome.add_argument("--metric", default="success", help="what was measured (default success)")
    outcome.add_argument("--score", type=float, help="optional numeric score, averaged per arm")
    _client_args(outcome)
    return parser


def _client(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from promptpress.client import Client

    def pem(path: str | None) -> bytes | None:
        return Path(path).expanduser().read_bytes() if path else None

    return Client(
        args.address,
        api_key=args.api_key,
        timeout=args.timeout,
        tls=args.tls,
        root_certificates=pem(args.ca_file),
        certificate_chain=pem(args.cert_file),
        private_key=pem(args.key_file),
    )


def _invoke(args: argparse.Namespace, method: str, request: Any) -> Iterable[Any]:
    """Call one client method and yield its response(s); an RPC error becomes a CliError
    whose line carries the status, the message and the field violations."""
    from promptpress.client import PromptPressRpcError

    with _client(args) as client:
        try:
            result = getattr(client, method)(request)
            # A server stream is drained inside the try: its errors arrive mid-iteration.
            if method in STREAMING:
                yield from result
            else:
                yield result
        except PromptPressRpcError as err:
            fields = "; ".join(f"{v.field}: {v.description}" for v in err.violations)
            suffix = f" [{fields}]" if fields else ""
            raise CliError(f"{err.code.name}: {err.details}{suffix}") from None


def _read_request(path: str | None) -> str:
    if not path:
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", code=2) from None


def _call(args: argparse.Namespace) -> int:
    from promptpress.v1 import promptpress_pb2 as pb

    type_name, method = RPCS[args.rpc]
    request = getattr(pb, type_name)()
    try:
        json_format.Parse(_read_request(args.file) or "{}", request)
    except json_format.ParseError as exc:
        raise CliError(f"request is not valid {type_name} JSON: {exc}", code=2) from None
    for item in _invoke(args, method, request):
        if method in STREAMING:  # JSON lines, flushed as they arrive
            print(json_format.MessageToJson(item, indent=None), flush=True)
        else:
            print(json_format.MessageToJson(item, indent=2))
    return 0


def _count(args: argparse.Namespace) -> int:
    from promptpress.v1 import promptpress_pb2 as pb

    texts = args.texts or [sys.stdin.read()]
    request = pb.CountTokensRequest(texts=texts, model=args.model)
    for resp in _invoke(args, "count_tokens", request):
        for text, n in zip(texts, resp.counts, strict=True):
            print(f"{n}\t{text[:60]!r}")
        approx = ", approximate" if resp.approximate else ""
        print(f"total {resp.total} ({resp.encoding}{approx})")
        for warning in resp.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return 0


def _compress(args: argparse.Namespace) -> int:
    from promptpress.v1 import promptpress_pb2 as pb

    request = pb.CompressRequest(
        text=sys.stdin.read(),
        rate=args.rate,
        target_tokens=args.target_tokens,
        question=args.question,
        method=f"COMPRESSION_METHOD_{args.method.upper() or 'UNSPECIFIED'}",
        target=pb.Target(model=args.model),
    )
    for resp in _invoke(args, "compress", request):
        print(resp.text)
        print(
            f"# {resp.original_tokens} -> {resp.compressed_tokens} tokens (ratio {resp.ratio:.2f})",
            file=sys.stderr,
        )
    return 0


def _report_bad_hit(args: argparse.Namespace) -> int:
    from promptpress.v1 import promptpress_pb2 as pb

    for resp in _invoke(args, "report_bad_hit", pb.ReportBadHitRequest(key=args.key)):
        print(json_format.MessageToJson(resp, indent=2, always_print_fields_with_no_presence=True))
    return 0


def _experiments(args: argparse.Namespace) -> int:
    from promptpress.v1 import promptpress_pb2 as pb

    if args.action == "outcome":
        request = pb.RecordOutcomeRequest(
            request_id=args.request_id, conversation_id=args.conversation_id,
            metric=args.metric, success=args.success,
        )  # fmt: skip
        if args.score is not None:
            request.score = args.score
        for resp in _invoke(args, "record_outcome", request):
            state = "recorded" if resp.recorded else "already recorded"
            print(f"{state}: experiment {resp.experiment}, arm {resp.arm}")
        return 0
    report = pb.GetExperimentReportRequest(name=args.name, metric=args.metric)
    for resp in _invoke(args, "get_experiment_report", report):
        if args.json:
            print(json_format.MessageToJson(resp, indent=2))
        else:
            print(format_report(resp))
    return 0


def format_report(r: Any) -> str:
    """A GetExperimentReportResponse as a table and the verdict."""
    lines = [f"experiment {r.name}: control {r.control}, metric {r.metric}", ""]
    head = ("arm", "requests", "tokens in", "tokens out", "cost/req USD", "cache hits",
            "outcomes", "rate (95% CI)")  # fmt: skip
    rows = [head]
    for a in r.arms:
        ci = a.outcome_rate_interval
        rows.append((
            a.arm + (" (stopped)" if a.stopped else ""), str(a.requests),
            f"{a.mean_input_tokens_before:.0f}", f"{a.mean_input_tokens_after:.0f}",
            f"{a.mean_cost_usd:.6f}", f"{a.exact_hit_rate + a.semantic_hit_rate:.0%}",
            str(a.outcomes),
            f"{a.outcome_rate:.1%} ({ci.low:.1%}-{ci.high:.1%})" if a.outcomes else "-",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.append("")
    lines += [f"- {c.statement}" for c in r.comparisons]
    lines += ["", f"verdict: {r.verdict}"]
    return "\n".join(lines)


def _server_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from promptpress.server.config import load_config

    flags = {k: v for k, v in vars(args).items() if k != "command"}
    return load_config(flags)


def _serve(args: argparse.Namespace) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - client-only installs run this CLI on 3.10
        raise CliError("the server needs Python 3.11 or newer (the client runs on 3.10+)")
    config = _server_config(args)  # settings and table names: checked before torch loads
    from promptpress.server.app import check_config, serve
    from promptpress.server.logs import configure_logging, stop_logging

    check_config(config)  # a bad [tiers] table fails here, before any model loads
    configure_logging(config.log_level)
    clean = asyncio.run(serve(config))
    if not clean:
        # A worker thread is stuck in work that has no checkpoint; the interpreter
        # would join it at exit. The stores were not closed under it and LMDB is
        # crash-safe, so leave now rather than overrun the grace period.
        stop_logging()  # the queued log lines first (server/logs.py)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from promptpress.server.logs import configure_logging
    from promptpress.server.resources import prepare_assets

    config = _server_config(args)
    configure_logging(config.log_level)
    for name, path in prepare_assets(config).items():
        print(json.dumps({"asset": name, "path": str(path)}))
    return 0


def _train_difficulty(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from promptpress.server.routing.difficulty_train import train_from_file
    from promptpress.tokens import counter_for

    embedder = None
    if not args.no_embedding:
        from promptpress.retrieval import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(args.embedding_model or None)
    report = train_from_file(
        args.data,
        args.out,
        embedder,
        embedding_model=embedder.model_id if embedder else "",
        count_tokens=counter_for("gpt-4o").count,
    )
    print(json.dumps(asdict(report), default=str))
    return 0


def _train_compressor(argv: list[str]) -> int:
    from promptpress.bench.distill import main as train_main

    return train_main(argv)


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _serve,
    "call": _call,
    "count": _count,
    "compress": _compress,
    "report-bad-hit": _report_bad_hit,
    "prepare": _prepare,
    "train-difficulty": _train_difficulty,
    "experiments": _experiments,
}
# Commands that need the server extra; a client-only install says what to install.
SERVER_COMMANDS = {"serve", "prepare", "train-difficulty"}
SERVER_EXTRA_MODULES = {"grpc_health", "grpc_reflection", "torch", "transformers", "lmdb"}


def _one_line(exc: BaseException) -> str:
    from promptpress.errors import InvalidInput

    if isinstance(exc, InvalidInput):  # config: name the setting
        return "bad configuration: " + "; ".join(
            f"{v.field}: {v.description}" for v in exc.violations
        )
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train-compressor"]:  # its own parser: options live beside the recipe
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        return _train_compressor(argv[1:])
    # OpenMP threads spin-wait between parallel regions by default; on a small
    # shared host that makes a one-query embedding ~30x slower. Set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    try:
        return HANDLERS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except ModuleNotFoundError as exc:
        if args.command in SERVER_COMMANDS and (exc.name or "").split(".")[0] in (
            SERVER_EXTRA_MODULES
        ):
            print(
                f"error: `promptpress {args.command}` needs the server extra (missing module "
                f"{exc.name!r}): pip install 'promptpress[server]'",
                file=sys.stderr,
            )
            return 1
        return _unexpected(exc)
    except Exception as exc:
        return _unexpected(exc)


def _unexpected(exc: BaseException) -> int:
    if os.environ.get("PROMPTPRESS_DEBUG"):
        raise exc
    print(f"error: {_one_line(exc)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
