"""What every ``Store`` must do, whatever its database (memory, SQLite, Postgres)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from orchestrator.errors import ArtifactNotFound, InputError, StorageError
from orchestrator.store import Store, TaskRecord
from orchestrator.types import ConversationKey, LiteralArg, Message, Plan, PlanTask, RunStatus, TaskRun
from storage import MemoryBlobStore

SLACK_A = ConversationKey("slack", "T1", "C1", "1700000000.000100")
SLACK_B = ConversationKey("slack", "T1", "C1", "1700000000.000200")


async def test_conversation_is_created_once_per_key(store: Store) -> None:
    a = await store.conversation(SLACK_A)
    assert await store.conversation(SLACK_A) == a
    assert await store.conversation(SLACK_B) != a
    # The thread is part of the key: the channel itself is yet another conversation.
    assert await store.conversation(ConversationKey("slack", "T1", "C1")) not in (a,)


async def test_concurrent_first_use_of_a_key_yields_one_id(store: Store) -> None:
    ids = await asyncio.gather(*(store.conversation(SLACK_A) for _ in range(20)))
    assert len(set(ids)) == 1
    assert (await store.stats()).conversations == 1


async def test_find_conversation_never_creates(store: Store) -> None:
    assert await store.find_conversation(SLACK_A) is None
    assert await store.find_conversation(SLACK_A) is None
    cid = await store.conversation(SLACK_A)
    assert await store.find_conversation(SLACK_A) == cid


async def test_history_returns_the_latest_messages_oldest_first(store: Store) -> None:
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


async def test_add_message_rejects_unknown_roles_and_conversations(store: Store) -> None:
    conv = await store.conversation(SLACK_A)
    with pytest.raises(ValueError):
        await store.add_message(conv, "system", "x")
    with pytest.raises(StorageError, match="does not exist"):
        await store.add_message(conv + 999, "user", "x")
    await store.add_message(conv, "user", "still works")  # the failed write left nothing behind
    assert [m.text for m in await store.history(conv)] == ["still works"]


async def test_put_artifact_stores_bytes_in_the_blob_store(store: Store, store_blobs: MemoryBlobStore) -> None:
    conv = await store.conversation(SLACK_A)
    data = b"\x89PNG fake bytes"
    art = await store.put_artifact(conv, data, kind="image", mime="image/png", suffix=".png",
                                   description="a cat", task="text-to-image", model="m/x", filename="cat.png")
    sha = hashlib.sha256(data).hexdigest()
    assert art.blob is not None and art.blob.sha256 == sha and art.blob.suffix == ".png"
    assert await store_blobs.read(art.blob) == data
    assert art.size == len(data) and art.id != sha and art.handle == f"artifact:{art.id}"
    assert (art.kind, art.mime, art.description, art.task, art.model, art.filename) == (
        "image", "image/png", "a cat", "text-to-image", "m/x", "cat.png")
    assert await store.get_artifact(conv, art.id) == art
    assert await store.get_artifact(conv, art.handle) == art


async def test_same_bytes_in_two_conversations_share_a_blob_not_an_id(store: Store) -> None:
    a = await store.conversation(SLACK_A)
    b = await store.conversation(SLACK_B)
    made = [await store.put_artifact(c, b"same", kind="text", mime="text/plain", suffix=".txt") for c in (a, b, a)]
    assert len({m.id for m in made}) == 3
    assert len({m.blob for m in made}) == 1
    assert (await store.stats()).blob_bytes == 4


async def test_artifact_of_another_conversation_is_indistinguishable_from_unknown(store: Store) -> None:
    a = await store.conversation(SLACK_A)
    b = await store.conversation(SLACK_B)
    art = await store.put_artifact(a, b"x", kind="text", mime="text/plain", suffix=".txt")
    with pytest.raises(ArtifactNotFound) as foreign:
        await store.get_artifact(b, art.id)
    with pytest.raises(ArtifactNotFound) as unknown:
        await store.get_artifact(b, "zzzzzzzzzz")
    assert str(foreign.value) == str(unknown.value).replace("zzzzzzzzzz", art.id)
    assert isinstance(foreign.value, InputError)  # adapters show it to the user


async def test_missing_blob_is_a_storage_error(store: Store, store_blobs: MemoryBlobStore) -> None:
    conv = await store.conversation(SLACK_A)
    art = await store.put_artifact(conv, b"gone", kind="text", mime="text/plain", suffix=".txt")
    assert art.blob is not None
    store_blobs.forget(art.blob)
    with pytest.raises(StorageError, match="missing"):
        await store.get_artifact(conv, art.id)


async def test_artifacts_are_listed_newest_first(store: Store) -> None:
    conv = await store.conversation(SLACK_A)
    other = await store.conversation(SLACK_B)
    made = [await store.put_artifact(conv, bytes([i]), kind="image", mime="image/png", suffix=".png")
            for i in range(5)]
    await store.put_artifact(other, b"o", kind="audio", mime="audio/wav", suffix=".wav")
    assert [a.id for a in await store.artifacts(conv)] == [a.id for a in reversed(made)]


async def test_put_artifact_refuses_path_like_suffix_and_unknown_kind(store: Store) -> None:
    conv = await store.conversation(SLACK_A)
    with pytest.raises(ValueError):
        await store.put_artifact(conv, b"x", kind="image", mime="image/png", suffix="/../../etc")
    with pytest.raises(ValueError):
        await store.put_artifact(conv, b"x", kind="pdf",  # type: ignore[arg-type]
                                 mime="application/pdf", suffix=".pdf")
    assert await store.artifacts(conv) == []


async def test_runs_are_recorded_and_listed_as_typed_records(store: Store) -> None:
    conv = await store.conversation(SLACK_A)
    r1 = await store.start_run(conv, "draw a cat")
    r2 = await store.start_run(conv, "describe it")
    plan = Plan((PlanTask(1, "text-to-image", args={"text": LiteralArg("a cat")}),))
    step = TaskRun(1, "text-to-image", model="m/x", status=RunStatus.OK, seconds=1.25, texts=["done"])
    await store.finish_run(r1, status="ok", plan=plan, tasks=[step], error=None, seconds=1.5, llm_calls=2)
    runs = await store.recent_runs(conv)
    assert [r.id for r in runs] == [r2, r1]
    assert runs[0].status == "running" and runs[0].finished is None and runs[0].plan is None
    assert runs[1].plan == tuple(plan.to_json())
    assert runs[1].tasks == (TaskRecord(1, "text-to-image", "m/x", "ok", 1.25, None, ("done",)),)
    assert runs[1].seconds == 1.5 and runs[1].llm_calls == 2
    assert runs[1].finished is not None and runs[1].finished >= runs[1].created > 0
    assert [r.id for r in await store.recent_runs(None, limit=1)] == [r2]
    with pytest.raises(StorageError, match="no such run"):
        await store.finish_run(9999, status="failed", plan=None, tasks=[], error="x", seconds=0, llm_calls=0)


async def test_claim_delivery_is_true_exactly_once(store: Store) -> None:
    assert await store.delivery_seen("Ev123") is False
    results = await asyncio.gather(*(store.claim_delivery("Ev123") for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]
    assert await store.delivery_seen("Ev123") is True
    assert await store.claim_delivery("Ev124") is True


async def test_stats_counts_rows(store: Store) -> None:
    conv = await store.conversation(SLACK_A)
    await store.add_message(conv, "user", "hi")
    await store.put_artifact(conv, b"abc", kind="text", mime="text/plain", suffix=".txt")
    await store.put_artifact(conv, b"abc", kind="text", mime="text/plain", suffix=".txt")
    run = await store.start_run(conv, "hi")
    await store.finish_run(run, status="failed", plan=None, tasks=[], error="boom", seconds=0.1, llm_calls=1)
    await store.claim_delivery("d1")
    stats = await store.stats()
    assert (stats.conversations, stats.messages, stats.runs, stats.runs_failed, stats.artifacts,
            stats.blob_bytes, stats.deliveries) == (1, 1, 1, 1, 2, 3, 1)


async def test_closed_store_raises_storage_error(store: Store) -> None:
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StorageError, match="closed"):
        await store.history(1)
