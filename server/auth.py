"""API keys -> tenants.

A keys file holds `KEY TENANT` lines (blank lines and `#` comments ignored).
Clients send `authorization: Bearer KEY`. With no keys file every caller is the
tenant `default` (local development).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TENANT = "default"
_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Unauthenticated(Exception):
    """Missing or unknown API key."""


@dataclass(frozen=True)
class KeyRing:
    keys: Mapping[str, str]  # key -> tenant
    required: bool

    @classmethod
    def open(cls) -> KeyRing:
        return cls({}, required=False)

    @classmethod
    def from_file(cls, path: str | Path) -> KeyRing:
        keys: dict[str, str] = {}
        for lineno, raw in enumerate(Path(path).read_text().splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or not _TENANT_RE.match(parts[1]):
                raise ValueError(f"{path}:{lineno}: expected `KEY TENANT`")
            keys[parts[0]] = parts[1]
        return cls(keys, required=True)

    def tenant_for(self, metadata: Iterable[tuple[str, str | bytes]]) -> str:
        if not self.required:
            return DEFAULT_TENANT
        token = ""
        seen = 0
        for key, value in metadata:
            if key.lower() == "authorization":
                seen += 1
                text = value.decode() if isinstance(value, bytes) else value
                scheme, _, rest = text.partition(" ")
                if scheme.lower() == "bearer":
                    token = rest.strip()
        if seen > 1:
            # A proxy that appends its own header must not move a call to another tenant
            # by whichever copy happens to come last: ambiguity is refused.
            raise Unauthenticated("more than one `authorization` header")
        if not token:
            raise Unauthenticated("missing `authorization: Bearer KEY` metadata")
        # Compare against every key in constant time so timing does not leak keys.
        tenant = None
        for key, name in self.keys.items():
            if hmac.compare_digest(key.encode(), token.encode()):
                tenant = name
        if tenant is None:
            raise Unauthenticated("unknown API key")
        return tenant
