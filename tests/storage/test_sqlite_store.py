from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from orchestrator.errors import ArtifactNotFound, InputError, StorageError
from orchestrator.types import ConversationKey, Message
from storage import SCHEMA_VERSION, SqliteStore

SLACK_A = ConversationKey("slack", "T1", "C1", "1700000000.000100")
SLACK_B = ConversationKey("slack", "T1", "C1", "1700000000.000200")


async def test_open_sets_wal_and_creates_directories(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "er" / "hgbot.sqlite3"
    store = await SqliteStore.open(db, tmp_path / "blobs" / "x")
    await store.close()
    assert (tmp_path / "blobs" / "x").is_dir()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_conversation_is_created_once_per_key(store: SqliteStore) -> None:
    a = await store.conversation(SLACK_A)
    assert await store.conversation(SLACK_A) == a
    assert await store.conversation(SLACK_B) != a
    # The thread is part of the key: the channel itself is yet another conversation.
    assert await store.conversation(ConversationKey("slack", "T1", "C1")) not in (a,)


async def test_concurrent_first_use_of_a_key_yields_one_id(store: SqliteStore) -> None:
    ids = await asyncio.gather(*(store.conversation(SLACK_A) for _ in range(20)))
    assert len(set(ids)) == 1
    assert (await store.stats())["conversations"] == 1


async def test_history_returns_the_latest_messages_oldest_first(store: SqliteStore) -> None:
    conv = await store.conversation(SLACK_A)
    other = await store.conversation(SLACK_B)
    for i in range(6):
        await store.add_message(conv, "user" if i % 2 == 0 else "assistant", f"m{i}")
    await store.add_message(other, "user", "elsewhere")
    assert await store.history(conv, limit=3) == [
        Message("assistant", "m3"), Message("user", "m4"), Message("assistant", "m5"),
    ]
    assert [m.text for m in await store.history(conv)] == [f"m{i}" for i in range(6)]
    assert await store.history(conv, limit=0) == []
    assert await store.history(other) == [Message("user", "elsewhere")]


async def test_add_message_rejects_unknown_roles_and_conversations(store: SqliteStore) -> None:
    conv = await store.conversation(SLACK_A)
    with pytest.raises(ValueError):
        await store.add_message(conv, "system", "x")
    with pytest.raises(StorageError, match="does not exist"):
        await store.add_message(conv + 999, "user", "x")
    # The failed write was rolled back; the connection is usable.
    await store.add_message(conv, "user", "still works")
    assert [m.text for m in await store.history(conv)] == ["still works"]


async def test_put_artifact_stores_content_addressed_blob(store: SqliteStore) -> None:
    conv = await store.conversation(SLACK_A)
    data = b"\x89PNG fake bytes"
    art = await store.put_artifact(conv, data, kind="image", mime="image/png", suffix=".png",
                                   description="a cat", task="text-to-image", model="m/x", filename="cat.png")
    sha = hashlib.sha256(data).hexdigest()
    assert art.path == store.artifacts_dir / sha[:2] / f"{sha}.png"
    assert art.path.is_absolute() and art.path.read_bytes() == data
    assert art.size == len(data) and art.id != sha and art.handle == f"artifact:{art.id}"
    assert await store.get_artifact(conv, art.id) == art
    assert await store.get_artifact(conv, art.handle) == art
    # No temp files are left beside the blob.
    assert [p.name for p in art.path.parent.iterdir()] == [art.path.name]


async def test_same_bytes_in_two_conversations_share_a_blob_not_an_id(store: SqliteStore) -> None:
    a = await store.conversation(SLACK_A)
    b = await store.conversation(SLACK_B)
    art_a = await store.put_artifact(a, b"same", kind="text", mime="text/plain", suffix=".txt")
    art_b = await store.put_artifact(b, b"same", kind="text", mime="text/plain", suffix=".txt")
    again = await store.put_artifact(a, b"same", kind="text", mime="text/plain", suffix=".txt")
    assert len({art_a.id, art_b.id, again.id}) == 3
    assert art_a.path == art_b.path == again.path
    assert len([p for p in store.artifacts_dir.rglob("*") if p.is_file()]) == 1


async def test_artifact_of_another_conversation_is_indistinguishable_from_unknown(store: SqliteStore) -> None:
    a = await store.conversation(SLACK_A)
    b = await store.conversation(SLACK_B)
    art = await store.put_artifact(a, b"x", kind="text", mime="text/plain", suffix=".txt")
    with pytest.raises(ArtifactNotFound) as foreign:
        await store.get_artifact(b, art.id)
    with pytest.raises(ArtifactNotFound) as unknown:
        await store.get_artifact(b, "zzzzzzzzzz")
    assert str(foreign.value) == str(unknown.value).replace("zzzzzzzzzz", art.id)
    assert art.id in str(foreign.value)
    assert isinstance(foreign.value, InputError)  # adapters show it to the user


async def test_missing_blob_file_is_a_storage_error(store: SqliteStore) -> None:
    conv = await store.conversation(SLACK_A)
    art = await store.put_artifact(conv, b"gone", kind="text", mime="text/plain", suffix=".txt")
    art.path.unlink()
    with pytest.raises(StorageError, match="missing"):
        await store.get_artifact(conv, art.id)


async def test_artifacts_are_listed_newest_first(store: SqliteStore) -> None:
    conv = await store.conversation(SLACK_A)
    other = await store.conversation(SLACK_B)
    made = [await store.put_artifact(conv, bytes([i]), kind="image", mime="image/png", suffix=".png")
            for i in range(5)]
    await store.put_artifact(other, b"o", kind="audio", mime="audio/wav", suffix=".wav")
    assert [a.id for a in await store.artifacts(conv)] == [a.id for a in reversed(made)]


async def test_put_artifact_refuses_path_like_suffix_and_unknown_kind(store: SqliteStore) -> None:
    conv = await store.conversation(SLACK_A)
    with pytest.raises(ValueError):
        await store.put_artifact(conv, b"x", kind="image", mime="image/png", suffix="/../../etc")
    with pytest.raises(ValueError):
        await store.put_artifact(conv, b"x", kind="pdf",  # type: ignore[arg-type]
                                 mime="application/pdf", suffix=".pdf")


async def test_runs_are_recorded_and_listed(store: SqliteStore) -> None:
    conv = await store.conversation(SLACK_A)
    r1 = await store.start_run(conv, "draw a cat")
    r2 = await store.start_run(conv, "describe it")
    plan = [{"id": 1, "task": "text-to-image", "deps": [], "args": {"text": "a cat"}}]
    tasks = [{"id": 1, "task": "text-to-image", "status": "ok", "outputs": ["artifact:abc"]}]
    await store.finish_run(r1, status="ok", plan=plan, tasks=tasks, error=None, seconds=1.5, llm_calls=2)
    runs = await store.recent_runs(conv)
    assert [r["id"] for r in runs] == [r2, r1]
    assert runs[0]["status"] == "running" and runs[0]["finished"] is None and runs[0]["plan"] is None
    assert runs[1]["plan"] == plan and runs[1]["tasks"] == tasks
    assert runs[1]["seconds"] == 1.5 and runs[1]["llm_calls"] == 2 and runs[1]["finished"] >= runs[1]["created"]
    assert [r["id"] for r in await store.recent_runs(None, limit=1)] == [r2]
    with pytest.raises(StorageError, match="no such run"):
        await store.finish_run(9999, status="failed", plan=None, tasks=[], error="x", seconds=0, llm_calls=0)


async def test_claim_delivery_is_true_exactly_once(store: SqliteStore) -> None:
    results = await asyncio.gather(*(store.claim_delivery("Ev123") for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]
    assert await store.claim_delivery("Ev124") is True


async def test_stats_counts_rows(store: SqliteStore) -> None:
    conv = await store.conversation(SLACK_A)
    await store.add_message(conv, "user", "hi")
    await store.put_artifact(conv, b"abc", kind="text", mime="text/plain", suffix=".txt")
    await store.put_artifact(conv, b"abc", kind="text", mime="text/plain", suffix=".txt")
    run = await store.start_run(conv, "hi")
    await store.finish_run(run, status="failed", plan=None, tasks=[], error="boom", seconds=0.1, llm_calls=1)
    await store.claim_delivery("d1")
    assert await store.stats() == {
        "conversations": 1, "messages": 1, "runs": 1, "runs_failed": 1, "artifacts": 2,
        "blob_bytes": 3, "deliveries": 1, "schema_version": SCHEMA_VERSION,
    }


async def test_cancelled_write_rolls_back_and_frees_the_connection(store: SqliteStore) -> None:
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


async def test_closed_store_raises_storage_error(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "h.sqlite3", tmp_path / "a")
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StorageError, match="closed"):
        await store.history(1)


async def test_unopenable_database_is_a_storage_error(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-db.sqlite3"
    bogus.write_bytes(b"this is not a database file at all" * 100)
    with pytest.raises(StorageError, match="Cannot open the database"):
        await SqliteStore.open(bogus, tmp_path / "a")


async def test_find_conversation_never_creates(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db.sqlite3", tmp_path / "blobs")
    key = ConversationKey("slack", "T1", "C1", "171.2")
    assert await store.find_conversation(key) is None
    assert await store.find_conversation(key) is None  # still not created
    cid = await store.conversation(key)
    assert await store.find_conversation(key) == cid
    await store.close()
