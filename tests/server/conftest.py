"""Fixtures of the server tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from promptpress.server.app import App
from tests.routing.fake_upstream import FakeUpstream
from tests.server.routed import routed_app


@pytest.fixture
async def routed(
    tmp_path: Path, shared_embedder, shared_compressor
) -> AsyncIterator[tuple[App, FakeUpstream, FakeUpstream]]:  # type: ignore[no-untyped-def]
    """A real server whose "small" tier is OpenAI-compatible, "frontier" Anthropic."""
    async with routed_app(tmp_path, shared_embedder, shared_compressor) as served:
        yield served
