"""The benchmark frame: what a suite receives, what it returns, and how results are written.

A suite is a module with ``NAME = "<name>"`` and ``def run(ctx: SuiteContext) -> SuiteResult``.
The frame owns everything around the numbers: the profile (how big a run is), the seed,
progress bars, and the result files (``<suite>.json`` with the provenance needed to
trust a number later, and ``<suite>.md`` with the table and plots).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import random
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, TypeVar

from tqdm.auto import tqdm

Profile = Literal["tiny", "quick", "full"]


def data_dir() -> Path:
    """Where the service keeps its prepared models: $PROMPTPRESS_DATA_DIR or its default."""
    from promptpress.server.config import default_data_dir

    return Path(os.environ.get("PROMPTPRESS_DATA_DIR") or default_data_dir())


PROFILES: tuple[Profile, ...] = ("tiny", "quick", "full")
RESULT_SCHEMA_VERSION = 1

# Distributions whose versions explain a number: the runtime, the transport and the models.
REPORTED_PACKAGES = (
    "promptpress",
    "grpcio",
    "protobuf",
    "numpy",
    "torch",
    "transformers",
    "tiktoken",
    "llmlingua",
    "sentence-transformers",
    "rank-bm25",
    "lmdb",
    "psutil",
    "matplotlib",
)

T = TypeVar("T")


@dataclass(frozen=True)
class DatasetInfo:
    """Where the data behind a figure came from; recorded beside every result."""

    name: str
    version: str
    licence: str
    source: str


@dataclass
class SuiteResult:
    """What a suite hands back: raw figures, a Markdown table and the plots it wrote."""

    suite: str
    datasets: list[DatasetInfo] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    table_md: str = ""
    plots: list[Path] = field(default_factory=list)
    notes: str = ""


@dataclass
class SuiteContext:
    """Run-wide settings a suite reads; one per suite run."""

    profile: Profile
    seed: int
    out_dir: Path
    show_progress: bool = True

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        self.out_dir = Path(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def progress(
        self, iterable: Iterable[T], *, desc: str | None = None, total: int | None = None
    ) -> Iterator[T]:
        """Wraps tqdm so every long loop shows progress (on stderr) unless disabled."""
        return iter(
            tqdm(iterable, desc=desc, total=total, disable=not self.show_progress, leave=False)
        )

    def sample_size(self, *, tiny: int, quick: int, full: int) -> int:
        """The fixed sample size for this profile."""
        return int(self.by_profile(tiny=tiny, quick=quick, full=full))

    def by_profile(self, *, tiny: T, quick: T, full: T) -> T:
        """Any per-profile setting (durations, concurrency lists, ...)."""
        return {"tiny": tiny, "quick": quick, "full": full}[self.profile]

    def rng(self, salt: str = "") -> random.Random:
        """A private, reproducible random stream: the seed plus a per-use salt."""
        return random.Random(f"{self.seed}:{salt}")


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to `n` while the block runs, restored after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def ratio(value: float, baseline: float) -> float | None:
    """value / baseline as a float, or None when the baseline is zero or missing."""
    if baseline is None or value is None or baseline == 0 or math.isnan(baseline):
        return None
    return float(value) / float(baseline)


def markdown_table(headers: list[str], rows: list[list[Any]], *, digits: int = 3) -> str:
    """A GitHub Markdown table; floats are rounded to `digits` significant places."""

    def cell(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.{digits}g}" if abs(v) < 10**digits else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# --- environment ---------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(names: Iterable[str] = REPORTED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def source_revision() -> str | None:
    """The git commit of the promptpress checkout being measured, suffixed "-dirty" when
    the working tree has uncommitted changes (None when installed from a wheel or git is
    unavailable): the version number alone does not say which code ran."""
    import promptpress

    try:
        out = subprocess.run(
            [
                "git",
                "-C",
                str(Path(promptpress.__file__).parent),
                "describe",
                "--always",
                "--dirty",
                "--abbrev=40",
            ],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable,
        "packages": package_versions(),
        "source_revision": source_revision(),
    }


# --- running and writing -------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """json.dump fallback: numpy scalars/arrays, paths, dataclasses, sets."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        return _finite(value.item())
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"figure value of type {type(value).__name__} is not JSON-serialisable")


def _finite(value: Any) -> Any:
    """Non-finite floats become null: JSON has no NaN, and a missing figure is not zero."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _plot_names(result: SuiteResult, out_dir: Path) -> list[str]:
    names = []
    for plot in result.plots:
        path = Path(plot)
        try:
            names.append(str(path.resolve().relative_to(out_dir.resolve())))
        except ValueError:
            names.append(str(path))
    return names


def load_average() -> list[float] | None:
    """1/5/15-minute load averages: how busy a shared machine was around a run."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def result_document(
    ctx: SuiteContext,
    result: SuiteResult,
    *,
    duration_s: float,
    started_at: str,
    load_at_start: list[float] | None = None,
) -> dict[str, Any]:
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "suite": result.suite,
        "profile": ctx.profile,
        "seed": ctx.seed,
        "date": started_at,
        "duration_s": round(duration_s, 3),
        "datasets": [dataclasses.asdict(d) for d in result.datasets],
        "environment": environment(),
        "load_average": {"start": load_at_start, "end": load_average()},
        "figures": _finite(result.figures),
        "plots": _plot_names(result, ctx.out_dir),
        "notes": result.notes,
    }


def render_markdown(doc: dict[str, Any], table_md: str) -> str:
    """The per-suite Markdown file: the table, then the provenance under it."""
    env = doc["environment"]
    lines = [f"### `{doc['suite']}` ({doc['profile']} profile)", "", table_md.strip(), ""]
    if doc.get("notes"):
        lines += [doc["notes"].strip(), ""]
    lines += [f"![{Path(p).stem}]({p})" for p in doc["plots"]]
    if doc["plots"]:
        lines.append("")
    for d in doc["datasets"]:
        lines.append(
            f"- Dataset: {d['name']}, version {d['version']}, licence {d['licence']}; {d['source']}"
        )
    lines.append(
        f"- Run: {doc['date']}, seed {doc['seed']}, {doc['duration_s']:.0f} s on "
        f"{env['cpu_model']} ({env['cpu_cores_usable'] or env['cpu_cores']} usable cores), "
        f"Python {env['python']}, promptpress {env['packages'].get('promptpress')}, "
        f"grpcio {env['packages'].get('grpcio')}"
        + _revision_note(env.get("source_revision"))
        + _load_note(doc.get("load_average"))
    )
    return "\n".join(lines) + "\n"


def _revision_note(revision: str | None) -> str:
    if not revision:
        return ""
    dirty = "-dirty" if revision.endswith("-dirty") else ""
    return f", commit {revision[:10]}{dirty}"


def _load_note(load: dict[str, Any] | None) -> str:
    if not load or not load.get("start") or not load.get("end"):
        return ""
    return f"; 1-min load average {load['start'][0]:g} at start, {load['end'][0]:g} at end"


def write_result(
    ctx: SuiteContext,
    result: SuiteResult,
    *,
    duration_s: float,
    started_at: str,
    load_at_start: list[float] | None = None,
) -> tuple[Path, Path]:
    """Writes <suite>.json and <suite>.md into ctx.out_dir; returns both paths."""
    doc = result_document(
        ctx, result, duration_s=duration_s, started_at=started_at, load_at_start=load_at_start
    )
    # Serialise before touching the files so a bad figure never leaves half a result.
    text = json.dumps(doc, indent=2, sort_keys=False, default=_jsonable, allow_nan=False)
    json_path = ctx.out_dir / f"{result.suite}.json"
    md_path = ctx.out_dir / f"{result.suite}.md"
    _atomic_write(json_path, text + "\n")
    _atomic_write(md_path, render_markdown(doc, result.table_md))
    return json_path, md_path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_suite(name: str, run: Callable[[SuiteContext], SuiteResult], ctx: SuiteContext) -> Path:
    """Runs one suite, checks what it returned, writes its files; returns the JSON path."""
    started_at = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    load_at_start = load_average()
    t0 = time.perf_counter()
    result = run(ctx)
    duration = time.perf_counter() - t0
    if not isinstance(result, SuiteResult):
        raise TypeError(f"suite {name!r} returned {type(result).__name__}, not SuiteResult")
    if result.suite != name:
        raise ValueError(f"suite {name!r} returned a result labelled {result.suite!r}")
    json_path, _ = write_result(
        ctx, result, duration_s=duration, started_at=started_at, load_at_start=load_at_start
    )
    return json_path
