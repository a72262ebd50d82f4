"""Store fixtures. This is the one place tests/storage builds a ``SqliteStore``: every other test
reaches it through ``open_sqlite`` or the contract suite's parametrised ``store``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from orchestrator.blobs import BlobStore
from storage import SqliteStore

OpenSqlite = Callable[..., Awaitable[SqliteStore]]


@pytest.fixture
def open_sqlite() -> OpenSqlite:
    """``await open_sqlite(db_path, artifacts_dir, blobs=None)``: ``SqliteStore.open`` by another name."""

    async def open_(db_path: Path | str, artifacts_dir: Path | str, blobs: BlobStore | None = None) -> SqliteStore:
        return await SqliteStore.open(Path(db_path), Path(artifacts_dir), blobs)

    return open_


@pytest.fixture
async def sqlite_store(tmp_path: Path, open_sqlite: OpenSqlite) -> AsyncIterator[SqliteStore]:
    s = await open_sqlite(tmp_path / "db" / "hgbot.sqlite3", tmp_path / "artifacts")
    yield s
    await s.close()
