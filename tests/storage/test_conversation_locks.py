"""Conversation locks across processes and store instances (what the contract suite, one store
at a time, cannot show): SQLite's flock and Postgres's advisory lock hold off another process,
and vanish with a holder that is killed; Postgres lock waiters never starve the holder's queries."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.store import Store
from orchestrator.types import ConversationKey
from storage import MemoryBlobStore

ROOT = Path(__file__).resolve().parents[2]
KEY = ConversationKey("slack", "T1", "C1", "1700000000.000100")

_HOLDER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from orchestrator.types import ConversationKey

    async def main() -> None:
        kind, where = sys.argv[1], sys.argv[2]
        if kind == "sqlite":
            from storage import SqliteStore
            store = await SqliteStore.open(Path(where), Path(where).parent / "artifacts")
        else:
            from storage import MemoryBlobStore
            from storage.postgres import PostgresStore
            store = await PostgresStore.open(where, MemoryBlobStore())
        async with store.conversation_lock(ConversationKey("slack", "T1", "C1", "1700000000.000100")):
            print("held", flush=True)
            await asyncio.sleep(600)

    asyncio.run(main())
""")


async def _killed_holder_releases(store: Store, kind: str, where: str) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", _HOLDER, kind, where, cwd=str(ROOT),
                                                env={**os.environ, "PYTHONPATH": str(ROOT)},
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 60) == b"held\n"
        with pytest.raises(TimeoutError):  # the other process holds the conversation
            async with asyncio.timeout(0.5), store.conversation_lock(KEY):
                pass
        proc.send_signal(signal.SIGKILL)  # a replica dies mid-turn: no finally, no unlock
        await proc.wait()
        async with asyncio.timeout(10), store.conversation_lock(KEY):
            pass
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sqlite_lock_holds_off_another_process_and_dies_with_it(tmp_path: Path, open_sqlite: Any) -> None:
    db = tmp_path / "hgbot.sqlite3"
    store = await open_sqlite(db, tmp_path / "artifacts")
    try:
        await _killed_holder_releases(store, "sqlite", str(db))
    finally:
        await store.close()


async def test_postgres_lock_holds_off_another_replica_and_dies_with_it(
        postgres_db: str, open_postgres: Callable[..., Awaitable[Any]]) -> None:
    store = await open_postgres(MemoryBlobStore())
    try:
        await _killed_holder_releases(store, "postgres", postgres_db)
    finally:
        await store.close()


async def test_two_sqlite_stores_on_one_file_take_turns(tmp_path: Path, open_sqlite: Any) -> None:
    one = await open_sqlite(tmp_path / "hgbot.sqlite3", tmp_path / "a")
    two = await open_sqlite(tmp_path / "hgbot.sqlite3", tmp_path / "a")
    try:
        async with one.conversation_lock(KEY):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3), two.conversation_lock(KEY):
                    pass
        async with asyncio.timeout(5), two.conversation_lock(KEY):
            pass
    finally:
        await one.close()
        await two.close()


async def test_postgres_lock_waiters_do_not_take_the_holders_connections(postgres_db: str) -> None:
    """Ten turns wait for a conversation on a replica whose query pool has two connections: the
    turn holding it still gets its queries through (waiters wait on lock connections of their own)."""
    from storage.postgres import PostgresStore

    store = await PostgresStore.open(postgres_db, MemoryBlobStore(), pool_size=2)
    order: list[int] = []

    async def turn(i: int) -> None:
        async with store.conversation_lock(KEY):
            if i == 0:
                await asyncio.sleep(0.5)  # the other turns queue up meanwhile
            conv = await store.conversation(KEY)
            await store.add_message(conv, "user", f"q{i}")
            await store.history(conv)
            order.append(i)

    try:
        first = asyncio.create_task(turn(0))
        await asyncio.sleep(0.05)
        waiters = []
        for i in range(1, 11):
            waiters.append(asyncio.create_task(turn(i)))
            await asyncio.sleep(0.02)
        await asyncio.wait_for(asyncio.gather(first, *waiters), 10)
        assert sorted(order) == list(range(11))
        conv = await store.conversation(KEY)
        assert [m.text for m in await store.history(conv)] == [f"q{i}" for i in order]
    finally:
        await store.close()
