"""Regenerates the tables in bench/README.md from the result files.

Each suite's section in the README holds a pair of markers:

    <!-- bench:results:service:start -->
    ...generated from bench/results/service.md, never edited by hand...
    <!-- bench:results:service:end -->

Run `python -m promptpress.bench.report [--readme bench/README.md] [--results bench/results]`;
`promptpress-bench` also calls it after every run.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

_MARKER = re.compile(
    r"(<!-- bench:results:(?P<suite>[a-z0-9_]+):start -->\n)(?P<body>.*?)"
    r"(<!-- bench:results:(?P=suite):end -->)",
    re.DOTALL,
)
_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<path>[^)]+)\)")


def has_markers(readme: Path) -> bool:
    return readme.is_file() and bool(_MARKER.search(readme.read_text(encoding="utf-8")))


def _relink_images(markdown: str, prefix: str) -> str:
    """Plot links in <suite>.md are relative to the results folder; make them relative
    to the README instead."""

    def fix(m: re.Match[str]) -> str:
        path = m.group("path")
        if "://" in path or path.startswith("/"):
            return m.group(0)
        return f"![{m.group('alt')}]({prefix}/{path})"

    return _IMAGE.sub(fix, markdown)


def section_for(suite: str, results_dir: Path, readme_dir: Path) -> str:
    md = results_dir / f"{suite}.md"
    if not md.is_file():
        return f"_No results yet: run `promptpress-bench --suite {suite}`._\n"
    prefix = Path(os.path.relpath(results_dir.resolve(), readme_dir.resolve())).as_posix()
    return _relink_images(md.read_text(encoding="utf-8"), prefix).rstrip("\n") + "\n"


def render(readme_text: str, results_dir: Path, readme_dir: Path) -> str:
    """The README text with every marked section replaced by its suite's current table."""

    def fill(m: re.Match[str]) -> str:
        body = section_for(m.group("suite"), results_dir, readme_dir)
        return f"{m.group(1)}{body}{m.group(4)}"

    return _MARKER.sub(fill, readme_text)


def update_readme(readme: Path, results_dir: Path) -> bool:
    """Rewrites the README in place; returns True when anything changed."""
    old = readme.read_text(encoding="utf-8")
    new = render(old, results_dir, readme.parent)
    if new != old:
        readme.write_text(new, encoding="utf-8")
    return new != old


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Regenerate bench/README.md tables from results.")
    p.add_argument("--readme", type=Path, default=Path("bench/README.md"))
    p.add_argument("--results", type=Path, default=Path("bench/results"))
    args = p.parse_args(argv)
    if not has_markers(args.readme):
        print(f"{args.readme}: no bench:results markers found", file=sys.stderr)
        return 1
    changed = update_readme(args.readme, args.results)
    print(f"{args.readme}: {'updated' if changed else 'already current'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
