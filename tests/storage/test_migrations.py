from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from orchestrator.errors import StorageError
from orchestrator.types import ConversationKey
from storage import SCHEMA_VERSION
from storage.migrations import MIGRATIONS, Migration, migrate, schema_version


async def _make_old_db(path: Path, up_to: int) -> None:
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await migrate(conn, MIGRATIONS[:up_to]) == up_to
        await conn.execute("INSERT INTO conversations (platform, workspace, channel, thread, created) "
                           "VALUES ('cli', '', 'local', '', 0)")


async def test_opening_a_version_1_database_migrates_it_and_keeps_data(
        tmp_path: Path, open_sqlite: Callable[..., Awaitable[Any]]) -> None:
    db = tmp_path / "old.sqlite3"
    await _make_old_db(db, up_to=1)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "deliveries" not in tables

    store = await open_sqlite(db, tmp_path / "a")
    try:
        assert (await store.stats()).schema_version == SCHEMA_VERSION
        assert await store.conversation(ConversationKey("cli", "", "local")) == 1  # the old row
        assert await store.claim_delivery("x") is True  # v2 table exists now
    finally:
        await store.close()


async def test_migrate_is_idempotent_and_only_runs_new_steps(tmp_path: Path) -> None:
    extra = Migration(SCHEMA_VERSION + 1, "test: add a column", (
        "ALTER TABLE conversations ADD COLUMN title TEXT NOT NULL DEFAULT ''",
    ))
    async with aiosqlite.connect(tmp_path / "m.sqlite3", isolation_level=None) as conn:
        assert await migrate(conn) == SCHEMA_VERSION
        assert await migrate(conn) == SCHEMA_VERSION  # would fail on CREATE TABLE if re-run
        assert await migrate(conn, (*MIGRATIONS, extra)) == SCHEMA_VERSION + 1
        async with conn.execute("SELECT title FROM conversations") as cur:
            assert await cur.fetchall() == []


async def test_a_failing_step_rolls_back_the_whole_migration(tmp_path: Path) -> None:
    broken = Migration(SCHEMA_VERSION + 1, "test: broken", (
        "CREATE TABLE extra (x)",
        "THIS IS NOT SQL",
    ))
    async with aiosqlite.connect(tmp_path / "m.sqlite3", isolation_level=None) as conn:
        await migrate(conn)
        with pytest.raises(sqlite3.OperationalError):
            await migrate(conn, (*MIGRATIONS, broken))
        assert await schema_version(conn) == SCHEMA_VERSION
        async with conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'") as cur:
            assert await cur.fetchone() is None


async def test_a_database_from_a_newer_hgbot_is_refused(tmp_path: Path, open_sqlite: Callable[..., Awaitable[Any]]) -> None:
    db = tmp_path / "new.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    with pytest.raises(StorageError, match="newer|knows only"):
        await open_sqlite(db, tmp_path / "a")


async def test_migrations_must_be_numbered_in_order(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "m.sqlite3", isolation_level=None) as conn:
        with pytest.raises(ValueError):
            await migrate(conn, (MIGRATIONS[1], MIGRATIONS[0]))
