"""Preprocessing settings for HTTP callers: per-tenant defaults, per-request overrides.

The OpenAI and Anthropic request formats have no place for promptpress's budget
or compression settings, so they come from three layers, the later winning:

1. the server config, for every tenant and per tenant::

       [http.defaults]
       compression_rate = 0.5
       max_history_tokens = 4000

       [http.tenants.acme]
       max_prompt_tokens = 16000

2. request headers, one per setting: ``x-promptpress-compression-rate: 0.3``
   (the setting's name with ``-`` for ``_``);
3. an extra body field the SDKs pass through untouched:
   ``"promptpress": {"compression_rate": 0.3, "skip_cache": true}``
   (``extra_body=`` in both Python SDKs).

Every value is checked here, with the header or body path in the error.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from promptpress.server.convert import Violations
from promptpress.types import CompressionMethod, Placement

HEADER_PREFIX = "x-promptpress-"
BODY_FIELD = "promptpress"


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """What an HTTP caller may set; 0 / empty mean "no limit" / "server default"."""

    max_prompt_tokens: int = 0
    max_history_tokens: int = 0
    max_context_tokens: int = 0
    compression_rate: float = 0.0  # 0: no compression
    compression_method: str = ""  # llmlingua | longllmlingua | llmlingua2; "": auto
    placement: str = ""  # edges | score | source; "": edges
    document_ids: tuple[str, ...] = ()  # stored documents to retrieve context from
    query: str = ""  # the retrieval query; "": the last user message
    skip_cache: bool = False  # neither read nor write the semantic answer cache
    conversation_id: str = ""  # keeps a conversation in one experiment arm (per request)


FIELDS = tuple(f.name for f in dataclasses.fields(HttpOptions))


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be an integer")
    number = int(value)
    if number < 0:
        raise ValueError("must not be negative (0 means no limit)")
    return number


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a number")
    rate = float(value)
    if math.isnan(rate) or not 0 <= rate <= 1:
        raise ValueError("must be in (0, 1] (0 means no compression)")
    return rate


def _choice(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text and text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text

    return parse


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


def _ids(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError("must be a list of document ids (a header: comma-separated)")
    return tuple(i.strip() for i in items if i.strip())


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "max_prompt_tokens": _int,
    "max_history_tokens": _int,
    "max_context_tokens": _int,
    "compression_rate": _rate,
    "compression_method": _choice(tuple(m.value for m in CompressionMethod)),
    "placement": _choice(tuple(p.value for p in Placement)),
    "document_ids": _ids,
    "query": _text,
    "skip_cache": _bool,
    "conversation_id": _text,
}


def parse_settings(values: Mapping[str, Any], path: Callable[[str], str], v: Violations) -> dict:
    """The recognised settings in `values`, checked; unknown names are violations."""
    out: dict[str, Any] = {}
    for name, raw in values.items():
        parser = _PARSERS.get(name)
        if parser is None:
            v.add(path(name), f"unknown setting (known: {', '.join(FIELDS)})")
            continue
        try:
            out[name] = parser(raw)
        except ValueError as exc:
            v.add(path(name), str(exc))
    return out


def _prefixed(prefix: str) -> Callable[[str], str]:
    return lambda name: prefix + name


@dataclass(frozen=True)
class OptionDefaults:
    """The config's [http.defaults] and [http.tenants.NAME] tables, parsed at start-up."""

    base: HttpOptions = HttpOptions()
    tenants: Mapping[str, HttpOptions] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_config(cls, extra: Mapping[str, Any]) -> OptionDefaults:
        table = extra.get("http", {})
        v = Violations()
        unknown = set(table) - {"defaults", "tenants"}
        for name in sorted(unknown):
            v.add(f"http.{name}", "unknown table (expected [http.defaults] or [http.tenants.NAME])")
        base = HttpOptions(
            **parse_settings(table.get("defaults", {}), _prefixed("http.defaults."), v)
        )
        tenants = {}
        for tenant, values in table.get("tenants", {}).items():
            settings = parse_settings(values, _prefixed(f"http.tenants.{tenant}."), v)
            tenants[tenant] = dataclasses.replace(base, **settings)
        v.raise_if_any()
        return cls(base, tenants)

    def for_tenant(self, tenant: str) -> HttpOptions:
        return self.tenants.get(tenant, self.base)


def request_options(
    defaults: HttpOptions, headers: Mapping[str, str], body: Mapping[str, Any]
) -> HttpOptions:
    """`defaults` overridden by x-promptpress-* headers, then by the body's `promptpress`."""
    v = Violations()
    from_headers = {
        key.lower()[len(HEADER_PREFIX) :].replace("-", "_"): value
        for key, value in headers.items()
        if key.lower().startswith(HEADER_PREFIX)
    }
    settings = parse_settings(from_headers, lambda n: HEADER_PREFIX + n.replace("_", "-"), v)
    extra = body.get(BODY_FIELD, {})
    if not isinstance(extra, Mapping):
        v.add(BODY_FIELD, "must be an object of promptpress settings")
    else:
        settings.update(parse_settings(extra, _prefixed(f"{BODY_FIELD}."), v))
    v.raise_if_any()
    return dataclasses.replace(defaults, **settings)
