"""An API keys file that reloads itself, so a key reaches every replica without a restart.

Two triggers, both off the request path:
- SIGHUP: `promptpress serve` re-reads the file at once (the handler runs the
  read in a worker thread);
- a change on disk: a background task stats the file every
  `api_keys_reload_s` seconds (default 2; 0 turns it off) and re-reads it when
  its inode, mtime or size changed. A stat is a few microseconds; the file is
  only read when it changed.

Requests read the current KeyRing through one attribute load and never wait
for a reload. A file that fails to parse (or vanishes) keeps the previous keys
and logs an error naming the line; the next change is tried again. Replace the
file atomically (write a temporary file, then rename it over the old one), as
config-management tools and Kubernetes secret volumes do, so a reader never
sees half a file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from promptpress.server.auth import KeyRing
from promptpress.server.logs import log_event

log = logging.getLogger("promptpress.server")

_Stamp = tuple[int, int, int, int]  # device, inode, mtime_ns, size


def _stamp(path: Path) -> _Stamp:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class KeyFile:
    """The keys file at `path`, parsed; `tenant_for` answers from the latest good version."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # one reload at a time (SIGHUP and the watcher)
        self._stamp = _stamp(self.path)
        # A malformed file at start-up is a configuration error: fail loudly.
        self.ring = KeyRing.from_file(self.path)
        self.reloads = 0

    @property
    def required(self) -> bool:
        return self.ring.required

    def tenant_for(self, metadata: Iterable[tuple[str, str | bytes]]) -> str:
        return self.ring.tenant_for(metadata)

    def reload(self, *, force: bool = False) -> bool:
        """Re-read the file if it changed (or always with `force`); True when new keys apply.

        Blocking (stat + read): call it from a thread, not the event loop.
        """
        with self._lock:
            try:
                stamp = _stamp(self.path)
            except OSError as exc:
                log_event(
                    log,
                    "api keys file unreadable; keeping the previous keys",
                    logging.ERROR,
                    path=str(self.path),
                    error=str(exc),
                )
                return False
            if stamp == self._stamp and not force:
                return False
            # Remember the stamp even if parsing fails: the error is logged once per
            # change, and the next change is tried again.
            self._stamp = stamp
            try:
                ring = KeyRing.from_file(self.path)
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                log_event(
                    log,
                    "api keys file rejected; keeping the previous keys",
                    logging.ERROR,
                    path=str(self.path),
                    error=str(exc),
                )
                return False
            self.ring = ring
            self.reloads += 1
            log_event(
                log,
                "api keys reloaded",
                path=str(self.path),
                keys=len(ring.keys),
                tenants=len(set(ring.keys.values())),
            )
            return True

    async def watch(self, interval_s: float) -> None:
        """Check for a change every `interval_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(self.reload)
            except Exception:  # never let the watcher die silently
                log.exception("api keys reload failed")
