"""Regenerate the checked-in Python code for the v1 API.

Usage: python proto/generate.py [OUT_DIR]

OUT_DIR defaults to proto/ itself, so the generated modules land next to the
.proto files as promptpress/v1/*_pb2.py, *_pb2.pyi and *_pb2_grpc.py. The test
suite runs this into a temporary directory and fails on any difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
PROTO_FILES = sorted(
    p.relative_to(PROTO_ROOT) for p in (PROTO_ROOT / "promptpress").rglob("*.proto")
)


def generate(out_dir: Path) -> list[Path]:
    """Run protoc for every .proto under proto/promptpress; return the files it wrote."""
    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p) for p in PROTO_FILES],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    return sorted(p for p in out_dir.rglob("*_pb2*.py*"))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT
    for path in generate(target):
        print(path)
