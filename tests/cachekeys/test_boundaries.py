"""cachekeys stays a core stage: no protobuf, no server, no retrieval imports."""

from __future__ import annotations

import subprocess
import sys


def test_cachekeys_imports_neither_protobuf_nor_other_stages() -> None:
    code = (
        "import sys, promptpress.cachekeys\n"
        "bad = [m for m in sys.modules if m.startswith(('google.protobuf', 'grpc', "
        "'promptpress.retrieval', 'promptpress.server', 'promptpress.v1', 'torch'))]\n"
        "print(','.join(sorted(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
