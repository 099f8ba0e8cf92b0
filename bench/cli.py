"""`promptpress-bench`: run one suite, several, or all of them.

    promptpress-bench --suite service --profile quick
    promptpress-bench --all --profile quick        # what `make bench` runs
    promptpress-bench --list

`--all` keeps going after a suite fails and exits non-zero at the end if any did.
After a run, the tables in bench/README.md (next to the results folder) are
regenerated from the result files, so the README never carries hand-typed numbers.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from pathlib import Path

from promptpress.bench import report, suites
from promptpress.bench.frame import PROFILES, SuiteContext, run_suite

DEFAULT_OUT = Path("bench/results")
log = logging.getLogger("promptpress.bench")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="promptpress-bench", description=__doc__.split("\n")[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--suite", action="append", metavar="NAME", help="suite to run (repeatable)")
    which.add_argument("--all", action="store_true", help="run every registered suite")
    which.add_argument("--list", action="store_true", help="list registered suites and exit")
    p.add_argument("--profile", choices=PROFILES, default="quick")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="README whose tables to regenerate (default: <out>/../README.md if it has markers)",
    )
    return p


def run_named(name: str, args: argparse.Namespace) -> str:
    """Runs one suite; returns "ok", "skipped" or "failed" (never raises)."""
    if not suites.is_present(name):
        print(f"[bench] {name}: skipped (its module is not present)", file=sys.stderr)
        return "skipped"
    t0 = time.perf_counter()
    print(f"[bench] {name}: running ({args.profile} profile, seed {args.seed})", file=sys.stderr)
    try:
        module = suites.load(name)
        ctx = SuiteContext(
            profile=args.profile,
            seed=args.seed,
            out_dir=args.out,
            show_progress=not args.no_progress,
        )
        path = run_suite(name, module.run, ctx)
    except Exception:
        traceback.print_exc()
        print(f"[bench] {name}: FAILED after {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return "failed"
    print(f"[bench] {name}: wrote {path} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return "ok"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.list:
        for name in suites.names():
            state = "" if suites.is_present(name) else "  (module not present)"
            print(f"{name}{state}")
        return 0
    if args.suite:
        unknown = [n for n in args.suite if n not in suites.SUITES]
        if unknown:
            print(f"unknown suite(s): {', '.join(unknown)}; see --list", file=sys.stderr)
            return 2
    names = suites.names() if args.all else args.suite
    outcomes = {name: run_named(name, args) for name in names}
    readme = args.readme or args.out.resolve().parent / "README.md"
    if report.has_markers(readme):
        report.update_readme(readme, args.out)
        print(f"[bench] tables regenerated in {readme}", file=sys.stderr)
    summary = ", ".join(f"{n}: {o}" for n, o in outcomes.items())
    print(f"[bench] {summary}", file=sys.stderr)
    return 1 if "failed" in outcomes.values() else 0


if __name__ == "__main__":
    sys.exit(main())
