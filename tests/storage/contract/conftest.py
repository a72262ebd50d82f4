"""The contract suite's implementations: every ``Store`` and every ``BlobStore`` hgbot ships.

A test here takes ``store`` (or ``blobs``) and runs once per implementation. Stores are built on
a ``MemoryBlobStore`` so a test can lose a blob on purpose; blob stores have their own suite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.blobs import BlobStore
from orchestrator.store import Store
from storage import LocalBlobStore, MemoryBlobStore, MemoryStore

STORES = ["memory", "sqlite", "postgres"]
BLOB_STORES = ["memory", "local", "s3"]


@pytest.fixture
def store_blobs() -> MemoryBlobStore:
    return MemoryBlobStore()


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest, tmp_path: Path, store_blobs: MemoryBlobStore) -> AsyncIterator[Store]:
    s: Store
    if request.param == "memory":
        s = MemoryStore(store_blobs)
    elif request.param == "sqlite":
        s = await request.getfixturevalue("open_sqlite")(tmp_path / "hgbot.sqlite3", tmp_path / "a", store_blobs)
    else:
        s = await request.getfixturevalue("open_postgres")(store_blobs)
    yield s
    await s.close()


@pytest.fixture(params=BLOB_STORES)
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    b: BlobStore
    if request.param == "memory":
        b = MemoryBlobStore()
    elif request.param == "local":
        b = LocalBlobStore(tmp_path / "blobs")
    else:
        b = await request.getfixturevalue("open_s3")()
    yield b
    await b.close()
