"""Suite `service`: the promptpress server's own throughput, latency and memory.

A real promptpress server and a bare grpc.aio echo server (the ceiling of Python
gRPC here) run as child processes on loopback. The same load generator sends
both the same serialised requests — CountTokens and Preprocess, small/medium/large,
at several concurrency levels — and the echo server answers with as many bytes
as promptpress did. promptpress's requests per second are reported as a share of
the echo server's, cell by cell; memory is the server's peak RSS (VmHWM).
Last, an overload row (bench/service_overload.py): offered load far beyond
capacity, goodput against the capacity measured in the cells, shed share, p99 of
admitted requests, RSS before, at peak and after the load.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message

from promptpress.bench import datasets, plots, servers
from promptpress.bench.frame import SuiteContext, SuiteResult, markdown_table, ratio
from promptpress.bench.loadgen import CellResult, LoadSpec, run_load
from promptpress.bench.service_overload import TABLE_HEADER as OVERLOAD_HEADER
from promptpress.bench.service_overload import OverloadSpec, measure_overload, table_row
from promptpress.bench.service_workloads import COUNT_MODEL, Workload, build_workloads
from promptpress.tokens import counter_for
from promptpress.v1 import promptpress_pb2 as pb

NAME = "service"
SERVICE = "/promptpress.v1.PromptPressService/"
RPCS: dict[str, type[Message]] = {
    "CountTokens": pb.CountTokensResponse,
    "Preprocess": pb.PreprocessResponse,
}
TARGETS = ("echo", "promptpress")  # echo first in each cell pair: the baseline
MB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    sizes: tuple[str, ...]
    concurrency: tuple[int, ...]
    duration_s: float  # per cell and target, split over `rounds`
    rounds: int  # echo and promptpress alternate this many times within a cell
    grace_s: float
    max_requests: int | None
    variants: int
    conversations: int
    overload: OverloadSpec


def settings(ctx: SuiteContext) -> Settings:
    return ctx.by_profile(
        # Overload: far more clients than the overload server's max_in_flight + max_queued (48).
        tiny=Settings(
            ("small",), (1, 4), 2.0, 1, 5.0, 12, 2, 200, OverloadSpec(256, 2.0, 5.0, 1.0)
        ),
        quick=Settings(
            ("small", "medium", "large"),
            (1, 8, 64),
            3.0,
            6,
            3.0,
            None,
            4,
            1500,
            OverloadSpec(320, 20.0, 10.0, 15.0),
        ),
        full=Settings(
            ("small", "medium", "large"),
            (1, 8, 64),
            10.0,
            5,
            30.0,
            None,
            8,
            3000,
            OverloadSpec(320, 60.0, 10.0, 30.0),
        ),
    )


def _child_env() -> dict[str, str]:
    """The server's default configuration: no PROMPTPRESS_* settings leak in from the
    caller's shell except where `make prepare` put the models."""
    return servers.default_env()


def _request_bytes(workload: Workload, rpc: str, index: int) -> bytes:
    variant = workload.variants[index % len(workload.variants)]
    return variant.count_tokens if rpc == "CountTokens" else variant.preprocess


async def probe_response_sizes(
    address: str, workloads: dict[str, Workload]
) -> tuple[dict[str, dict[int, int]], dict[str, dict[str, float]]]:
    """Calls promptpress once per request variant: checks each answer parses and is
    sane, and records its size so the echo server can answer with as many bytes."""
    sizes: dict[str, dict[int, int]] = {SERVICE + rpc: {} for rpc in RPCS}
    means: dict[str, dict[str, float]] = {}
    async with grpc.aio.insecure_channel(address) as channel:
        for name, workload in workloads.items():
            means[name] = {}
            for rpc, response_type in RPCS.items():
                call = channel.unary_unary(SERVICE + rpc)
                lengths = []
                for i in range(len(workload.variants)):
                    request = _request_bytes(workload, rpc, i)
                    raw = await call(request, timeout=300)
                    _check_response(rpc, response_type.FromString(raw))
                    sizes[SERVICE + rpc].setdefault(len(request), len(raw))
                    lengths.append(len(raw))
                means[name][rpc] = sum(lengths) / len(lengths)
    return sizes, means


def _check_response(rpc: str, response: Any) -> None:
    if rpc == "CountTokens" and response.total <= 0:
        raise RuntimeError("CountTokens answered total=0 for a non-empty request")
    if rpc == "Preprocess" and not response.messages:
        raise RuntimeError("Preprocess answered no messages for a non-empty request")


async def _cell(channel: grpc.aio.Channel, rpc: str, workload: Workload, spec: LoadSpec):  # type: ignore[no-untyped-def]
    call = channel.unary_unary(SERVICE + rpc)
    n = len(workload.variants)
    # Client i starts at variant i and walks through them, so concurrent clients
    # send different requests.
    return await run_load(lambda i, seq: call(_request_bytes(workload, rpc, (i + seq) % n)), spec)


async def _warm_up(channel: grpc.aio.Channel, rpc: str, workload: Workload) -> None:
    call = channel.unary_unary(SERVICE + rpc)
    for i in range(len(workload.variants)):
        await call(_request_bytes(workload, rpc, i), timeout=300)


async def _alternating_rounds(
    cfg: Settings,
    concurrency: int,
    rpc: str,
    workload: Workload,
    channels: dict[str, grpc.aio.Channel],
) -> tuple[dict[str, CellResult], list[float]]:
    """One cell for both targets in `cfg.rounds` rounds of one slice each, echo first
    in even rounds and promptpress first in odd ones (ABBA: a load that rises or falls
    through the cell favours neither), so a burst of noise from a neighbour lands on
    both sides of the ratio. Returns the pooled results and each round's share
    (promptpress rps / echo rps of that round's two slices)."""
    per_round = (cfg.max_requests + cfg.rounds - 1) // cfg.rounds if cfg.max_requests else None
    spec = LoadSpec(concurrency, cfg.duration_s / cfg.rounds, per_round, cfg.grace_s)
    parts: dict[str, list[CellResult]] = {t: [] for t in TARGETS}
    shares: list[float] = []
    for r in range(cfg.rounds):
        for t in TARGETS if r % 2 == 0 else tuple(reversed(TARGETS)):
            parts[t].append(await _cell(channels[t], rpc, workload, spec))
        echo, pp = parts["echo"][-1].rps, parts["promptpress"][-1].rps
        if echo > 0:
            shares.append(pp / echo)
    return {t: CellResult.combine(rounds) for t, rounds in parts.items()}, shares


async def measure(
    ctx: SuiteContext,
    cfg: Settings,
    workloads: dict[str, Workload],
    procs: dict[str, servers.ServerProcess],
) -> tuple[list[dict[str, Any]], dict[plots.LatencyKey, list[float]], dict[str, Any]]:
    """Runs every cell, echo and promptpress back to back, largest size last."""
    cells: list[dict[str, Any]] = []
    latencies: dict[plots.LatencyKey, list[float]] = {}
    memory: dict[str, Any] = {t: {"idle_rss_mb": procs[t].rss_bytes() / MB} for t in TARGETS}
    largest = cfg.sizes[-1]
    plan = [(s, r, c) for s in cfg.sizes for r in RPCS for c in cfg.concurrency]
    channels = {t: grpc.aio.insecure_channel(procs[t].address) for t in TARGETS}
    try:
        warmed: set[tuple[str, str]] = set()
        for size, rpc, conc in ctx.progress(plan, desc="service cells", total=len(plan)):
            if (size, rpc) not in warmed:
                for t in TARGETS:
                    await _warm_up(channels[t], rpc, workloads[size])
                warmed.add((size, rpc))
            if size == largest and "peak_rss_mb_before" not in memory["promptpress"]:
                for t in TARGETS:
                    memory[t]["peak_rss_mb_before"] = procs[t].peak_rss_bytes() / MB
            row: dict[str, Any] = {"rpc": rpc, "size": size, "concurrency": conc}
            results, shares = await _alternating_rounds(cfg, conc, rpc, workloads[size], channels)
            for t, result in results.items():
                row[t] = result.summary()
                latencies[(t, rpc, size, conc)] = result.latencies_s
            # The median of the rounds' shares: one round hit by a neighbour's burst
            # moves it less than it moves the pooled ratio (also kept).
            row["share_of_ceiling"] = statistics.median(shares) if shares else None
            row["share_of_ceiling_rounds"] = shares
            row["share_of_ceiling_pooled"] = ratio(row["promptpress"]["rps"], row["echo"]["rps"])
            for q in ("p50", "p99"):
                row[f"{q}_vs_ceiling"] = ratio(
                    row["promptpress"][f"{q}_ms"], row["echo"][f"{q}_ms"]
                )
            cells.append(row)
    finally:
        for channel in channels.values():
            await channel.close()
    for t in TARGETS:
        memory[t]["peak_rss_mb"] = procs[t].peak_rss_bytes() / MB
    memory["under_size"] = largest
    memory["peak_rss_vs_echo"] = ratio(
        memory["promptpress"]["peak_rss_mb"], memory["echo"]["peak_rss_mb"]
    )
    return cells, latencies, memory


def run(ctx: SuiteContext) -> SuiteResult:
    cfg = settings(ctx)
    conversations, sharegpt_info = datasets.sharegpt_conversations(cfg.conversations)
    articles, squad_info = datasets.squad_v2_dev()
    uses_documents = any(s == "large" for s in cfg.sizes)
    workloads = build_workloads(
        list(cfg.sizes),
        variants=cfg.variants,
        conversations=conversations,
        articles=articles,
        counter=counter_for(COUNT_MODEL),
        rng=ctx.rng("service-workloads"),
    )
    with (
        tempfile.TemporaryDirectory(prefix="promptpress-bench-") as tmp,
        servers.running("promptpress", servers.promptpress_argv(), env=_child_env()) as pp,
    ):
        try:
            sizes, response_bytes = asyncio.run(probe_response_sizes(pp.address, workloads))
        except Exception as exc:
            raise RuntimeError(f"promptpress probe failed: {exc}\n{pp.log_tail()}") from exc
        responses = Path(tmp) / "responses.json"
        responses.write_text(json.dumps(sizes), encoding="utf-8")
        with servers.running("echo", servers.echo_argv(responses), env=_child_env()) as echo:
            procs = {"promptpress": pp, "echo": echo}
            cells, latencies, memory = asyncio.run(measure(ctx, cfg, workloads, procs))
        size = "medium" if "medium" in cfg.sizes else cfg.sizes[0]
        capacity = max(
            (
                c["promptpress"]["rps"]
                for c in cells
                if c["rpc"] == "Preprocess" and c["size"] == size
            ),
            default=None,
        )
        variants = workloads[size].variants
        # Its own server with small admission limits, so the one-process load
        # generator can offer more than the server admits (with the defaults,
        # 64 + 128, the client process saturates first).
        limits = {"max_in_flight": 16, "max_queued": 32}
        config = Path(tmp) / "overload.toml"
        config.write_text("".join(f"{k} = {v}\n" for k, v in limits.items()), encoding="utf-8")
        with servers.running(
            "promptpress", servers.promptpress_argv(config), env=_child_env()
        ) as tight:
            overload = asyncio.run(
                measure_overload(
                    tight.address,
                    "Preprocess",
                    [v.preprocess for v in variants],
                    cfg.overload,
                    tight,
                    capacity,
                )
            )
        overload.update(size=size, **limits)
    figures = {
        "settings": {
            "sizes": list(cfg.sizes),
            "concurrency": list(cfg.concurrency),
            "duration_s": cfg.duration_s,
            "rounds": cfg.rounds,
            "grace_s": cfg.grace_s,
            "max_requests": cfg.max_requests,
            "variants_per_size": cfg.variants,
            "count_model": COUNT_MODEL,
        },
        "workloads": _workload_figures(workloads, response_bytes),
        "cells": cells,
        "memory": memory,
        "overload": overload,
        "summary": _summary(cells),
    }
    plot_paths = _plots(ctx, cfg, latencies, cells)
    return SuiteResult(
        suite=NAME,
        datasets=[sharegpt_info, *([squad_info] if uses_documents else [])],
        figures=figures,
        table_md=_tables(figures),
        plots=plot_paths,
    )


def _workload_figures(
    workloads: dict[str, Workload], response_bytes: dict[str, dict[str, float]]
) -> dict[str, Any]:
    return {
        name: {
            "messages": w.size.messages,
            "documents": w.size.documents,
            "tokens_mean": w.mean_tokens,
            "request_bytes_mean": {rpc: w.mean_bytes(rpc) for rpc in RPCS},
            "response_bytes_mean": response_bytes[name],
        }
        for name, w in workloads.items()
    }


def _summary(cells: list[dict[str, Any]]) -> dict[str, Any]:
    shares = [c["share_of_ceiling"] for c in cells if c["share_of_ceiling"] is not None]
    return {
        "share_of_ceiling_min": min(shares) if shares else None,
        "share_of_ceiling_median": statistics.median(shares) if shares else None,
        "share_of_ceiling_max": max(shares) if shares else None,
        "errors": sum(c[t]["errors"] for c in cells for t in TARGETS),
        "unfinished": sum(c[t]["unfinished"] for c in cells for t in TARGETS),
    }


def _tables(figures: dict[str, Any]) -> str:
    load_rows = [
        [
            c["rpc"],
            c["size"],
            c["concurrency"],
            c["promptpress"]["rps"],
            c["promptpress"]["p50_ms"],
            c["promptpress"]["p95_ms"],
            c["promptpress"]["p99_ms"],
            c["echo"]["rps"],
            c["echo"]["p50_ms"],
            c["share_of_ceiling"],
            f"{c['promptpress']['errors']}/{c['promptpress']['unfinished']}",
        ]
        for c in figures["cells"]
    ]
    load = markdown_table(
        [
            "RPC",
            "size",
            "clients",
            "rps",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "echo rps",
            "echo p50 ms",
            "share of ceiling",
            "errors/unfinished",
        ],
        load_rows,
    )
    sizes = markdown_table(
        [
            "size",
            "messages",
            "documents",
            "tokens",
            "CountTokens request / response",
            "Preprocess request / response",
        ],
        [
            [name, w["messages"], w["documents"], round(w["tokens_mean"])]
            + [
                f"{_size(w['request_bytes_mean'][rpc])} / {_size(w['response_bytes_mean'][rpc])}"
                for rpc in RPCS
            ]
            for name, w in figures["workloads"].items()
        ],
    )
    mem = figures["memory"]
    memory = markdown_table(
        ["server", "idle RSS MiB", f"peak RSS MiB (through {mem['under_size']})"],
        [[t, mem[t]["idle_rss_mb"], mem[t]["peak_rss_mb"]] for t in ("promptpress", "echo")]
        + [["promptpress / echo", None, mem["peak_rss_vs_echo"]]],
    )
    o = figures["overload"]
    overload = markdown_table(["size", *OVERLOAD_HEADER], [[o["size"], *table_row(o)]])
    return (
        f"{load}\n\nRequest sizes:\n\n{sizes}\n\nMemory:\n\n{memory}\n\n"
        f"Overload ({o['clients']} clients, {o['deadline_s']:.0f} s deadlines, "
        f"{o['duration_s']:.0f} s, against a server with max_in_flight {o['max_in_flight']} "
        f"and max_queued {o['max_queued']}; after-load RSS {o['settle_s']:.0f} s later):"
        f"\n\n{overload}\n"
    )


def _size(n: float) -> str:
    return f"{n:.0f} B" if n < 1024 else f"{n / 1024:.1f} KiB"


def _plots(
    ctx: SuiteContext,
    cfg: Settings,
    latencies: dict[plots.LatencyKey, list[float]],
    cells: list[dict[str, Any]],
) -> list[Path]:
    latency = plots.latency_ecdf_grid(
        latencies,
        rpcs=list(RPCS),
        sizes=list(cfg.sizes),
        concurrencies=list(cfg.concurrency),
        path=ctx.out_dir / "service_latency.png",
        title=f"Latency: promptpress (solid) vs bare grpc.aio echo (dashed), {ctx.profile} profile",
    )
    share = plots.grouped_bars(
        [f"{c['rpc']} {c['size']} x{c['concurrency']}" for c in cells],
        {"promptpress rps / echo rps": [c["share_of_ceiling"] for c in cells]},
        path=ctx.out_dir / "service_share_of_ceiling.png",
        title="promptpress throughput as a share of the Python gRPC ceiling",
        ylabel="share of ceiling",
        hline=1.0,
    )
    return [latency, share]
