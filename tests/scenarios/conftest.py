"""Shared scenario fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.backends import BackendRegistry
from tests.fakes.backends import FakeBackend


@pytest.fixture
def fake_backend(backend_registry: BackendRegistry) -> Iterator[FakeBackend]:
    """The scripted model backend, registered as ``fake`` for the catalogs scenarios build."""
    backend = FakeBackend()
    backend_registry.register("fake", backend)
    yield backend
