"""The registry of benchmark suites: a lookup table of suite name -> module path.

Modules are imported only when a suite is asked for, so a suite whose module is
broken (or whose heavy dependencies are missing) cannot stop the others from running.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

# Order is the order `--all` runs them: cheapest and most fundamental first.
SUITES: dict[str, str] = {
    "service": "promptpress.bench.suites.service",
    "service_batching": "promptpress.bench.suites.service_batching",
    "retrieval": "promptpress.bench.suites.retrieval",
    "compression": "promptpress.bench.suites.compression",
    "distilled": "promptpress.bench.suites.compression_distilled",
    "caching": "promptpress.bench.suites.caching",
    "semantic_cache": "promptpress.bench.suites.semantic_cache",
    "store": "promptpress.bench.suites.store",
    "routing": "promptpress.bench.suites.routing",
    "experiments": "promptpress.bench.suites.experiments",
    "replicas": "promptpress.bench.suites.replicas",
}


class SuiteNotFound(LookupError):
    """The name is not registered, or its module is not present in this install."""


def names() -> list[str]:
    """Every registered suite name, in run order."""
    return list(SUITES)


def is_present(name: str, table: dict[str, str] | None = None) -> bool:
    """True when the suite's module file exists (without importing it)."""
    path = (table or SUITES).get(name)
    if path is None:
        return False
    try:
        return importlib.util.find_spec(path) is not None
    except ModuleNotFoundError:
        return False


def load(name: str, table: dict[str, str] | None = None) -> ModuleType:
    """Imports a suite module and checks it honours the contract (NAME and run)."""
    table = table or SUITES
    if name not in table:
        raise SuiteNotFound(f"unknown suite {name!r}; registered: {', '.join(table)}")
    if not is_present(name, table):
        raise SuiteNotFound(f"suite {name!r} is registered but {table[name]} is not installed")
    module = importlib.import_module(table[name])
    if getattr(module, "NAME", None) != name or not callable(getattr(module, "run", None)):
        raise TypeError(f"{table[name]} must define NAME = {name!r} and run(ctx) -> SuiteResult")
    return module
