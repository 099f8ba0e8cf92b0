"""promptpress: cut what LLM inference costs without cutting answer quality.

`promptpress.Client` and `promptpress.AsyncClient` talk to a promptpress server
over gRPC; they need only grpcio and protobuf. They are imported lazily so the
core types (`promptpress.types`) load without grpc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["AsyncClient", "Client", "PromptPressRpcError", "__version__"]

if TYPE_CHECKING:
    from promptpress.client import AsyncClient, Client, PromptPressRpcError


def __getattr__(name: str) -> Any:
    if name in ("Client", "AsyncClient", "PromptPressRpcError"):
        from promptpress import client

        return getattr(client, name)
    raise AttributeError(f"module 'promptpress' has no attribute {name!r}")
