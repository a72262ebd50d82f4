"""What only ``SqliteStore`` does (WAL, its blob directory, its one connection); the behaviour every
store shares is in ``tests/storage/contract``."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import StorageError
from orchestrator.types import ConversationKey
from storage import SCHEMA_VERSION

OpenSqlite = Callable[..., Awaitable[Any]]  # the conftest fixture: SqliteStore.open

SLACK_A = ConversationKey("slack", "T1", "C1", "1700000000.000100")
SLACK_B = ConversationKey("slack", "T1", "C1", "1700000000.000200")


async def test_open_sets_wal_and_creates_directories(tmp_path: Path, open_sqlite: OpenSqlite) -> None:
    db = tmp_path / "deep" / "er" / "hgbot.sqlite3"
    store = await open_sqlite(db, tmp_path / "blobs" / "x")
    assert (await store.stats()).schema_version == SCHEMA_VERSION
    await store.close()
    assert (tmp_path / "blobs" / "x").is_dir()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_artifacts_live_in_the_local_blob_directory(sqlite_store: Any) -> None:
    store = sqlite_store
    a = await store.conversation(SLACK_A)
    b = await store.conversation(SLACK_B)
    data = b"\x89PNG fake bytes"
    art = await store.put_artifact(a, data, kind="image", mime="image/png", suffix=".png")
    sha = hashlib.sha256(data).hexdigest()
    assert art.path == store.artifacts_dir / sha[:2] / f"{sha}.png"  # the path convenience of a local store
    assert art.path.is_absolute() and art.path.read_bytes() == data
    again = await store.put_artifact(b, data, kind="image", mime="image/png", suffix=".png")
    assert again.path == art.path
    # one file, no temp files beside it
    assert [p.name for p in store.artifacts_dir.rglob("*") if p.is_file()] == [art.path.name]
    art.path.unlink()
    with pytest.raises(StorageError, match="missing"):
        await store.get_artifact(a, art.id)


async def test_cancelled_write_rolls_back_and_frees_the_connection(sqlite_store: Any) -> None:
    store = sqlite_store
    conv = await store.conversation(SLACK_A)
    started = asyncio.Event()

    async def slow_write() -> None:
        async with store._write("test") as db:
            await db.execute(
                "INSERT INTO messages (conversation_id, role, text, created) VALUES (?, 'user', 'lost', 0)", (conv,)
            )
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow_write())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.add_message(conv, "user", "kept")
    assert [m.text for m in await store.history(conv)] == ["kept"]


async def test_unopenable_database_is_a_storage_error(tmp_path: Path, open_sqlite: OpenSqlite) -> None:
    bogus = tmp_path / "not-a-db.sqlite3"
    bogus.write_bytes(b"this is not a database file at all" * 100)
    with pytest.raises(StorageError, match="Cannot open the database"):
        await open_sqlite(bogus, tmp_path / "a")
