"""Plot helpers shared by suites (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (benchmarks run headless)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


# (target, rpc, size, concurrency) -> latencies in seconds
LatencyKey = tuple[str, str, str, int]


def latency_ecdf_grid(
    latencies: Mapping[LatencyKey, Sequence[float]],
    *,
    rpcs: Sequence[str],
    sizes: Sequence[str],
    concurrencies: Sequence[int],
    path: Path,
    title: str,
) -> Path:
    """One panel per (rpc, size): the cumulative latency distribution of every
    concurrency level, promptpress solid and the echo ceiling dashed in the same colour."""
    plt = pyplot()
    from matplotlib.ticker import FuncFormatter, NullFormatter

    width = max(7.0, 4.2 * len(sizes))
    fig, axes = plt.subplots(len(rpcs), len(sizes), figsize=(width, 3.3 * len(rpcs)), squeeze=False)
    colours = plt.get_cmap("viridis")
    for r, rpc in enumerate(rpcs):
        for s, size in enumerate(sizes):
            ax = axes[r][s]
            for i, c in enumerate(concurrencies):
                colour = colours(i / max(1, len(concurrencies) - 1) * 0.85)
                for target, style in (("promptpress", "-"), ("echo", "--")):
                    values = sorted(latencies.get((target, rpc, size, c), ()))
                    if not values:
                        continue
                    ms = [v * 1000 for v in values]
                    frac = [(k + 1) / len(ms) for k in range(len(ms))]
                    label = f"{target}, {c} client{'s' if c > 1 else ''}"
                    ax.step(ms, frac, style, where="post", color=colour, label=label, lw=1.4)
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_title(f"{rpc}, {size}", fontsize=10)
            ax.set_xlabel("latency (ms, log)")
            ax.set_ylabel("fraction of requests")
            ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(concurrencies)), fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def grouped_bars(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    path: Path,
    title: str,
    ylabel: str,
    hline: float | None = None,
) -> Path:
    """Bars for several series over the same groups (None draws nothing)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(groups) * len(series)), 4.0))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, [v if v is not None else 0.0 for v in values], width, label=name)
    if hline is not None:
        ax.axhline(hline, color="grey", lw=1, ls=":")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
