"""The job layer: durable states, cancel (who may, what stops, what the thread is told), recovery, quotas."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import cancel
from orchestrator.errors import JobRefused
from orchestrator.jobs import JobContext, Jobs, queue_text
from orchestrator.jobtypes import JobState, UsageRecord
from orchestrator.queue import FairQueue
from orchestrator.quota import Quota
from orchestrator.types import ConversationKey
from storage import SqliteStore

KEY = ConversationKey("slack", "T", "C1", "111.1")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore.open(tmp_path / "db.sqlite3", tmp_path / "artifacts")
    yield s
    await s.close()


def state_of(tmp_path: Path, job_id: int) -> str:
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        return str(db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()[0])


async def test_a_job_is_queued_in_the_store_before_it_runs_then_done(store: SqliteStore, tmp_path: Path) -> None:
    jobs = Jobs(store)
    job = await jobs.accept(KEY, user="U1", text="hello", payload={"files": []})
    assert state_of(tmp_path, job.id) == "queued"  # written before the adapter acknowledges
    seen: list[str] = []

    async def work(ctx: JobContext) -> None:
        seen.append(state_of(tmp_path, job.id))

    assert await jobs.run(job, work) is JobState.DONE
    assert seen == ["running"] and state_of(tmp_path, job.id) == "done"
    await jobs.close()


async def test_only_the_requester_or_an_admin_can_cancel_and_pending_steps_never_start(store: SqliteStore,
                                                                                      tmp_path: Path) -> None:
    jobs = Jobs(store, admins=["UADMIN"])
    job = await jobs.accept(KEY, user="U1", text="two steps")
    started, steps_seen = asyncio.Event(), []
    told: list[str] = []

    async def work(ctx: JobContext) -> None:
        steps_seen.append("step 1")
        started.set()
        await asyncio.sleep(30)  # the running step
        if not cancel.requested():  # what the executor checks before a pending step
            steps_seen.append("step 2")

    async def on_cancel(text: str) -> None:
        told.append(text)

    task = asyncio.create_task(jobs.run(job, work, on_cancel=on_cancel))
    await started.wait()
    with pytest.raises(JobRefused, match="Only the person who asked"):
        jobs.cancel(job.id, "USOMEONE")
    assert jobs.live_job("U1", "C1") == job.id
    t0 = time.monotonic()
    jobs.cancel(job.id, "UADMIN")
    assert await task is JobState.CANCELLED
    assert time.monotonic() - t0 < 1
    assert steps_seen == ["step 1"] and state_of(tmp_path, job.id) == "cancelled"
    assert told and told[0].startswith("🛑 Cancelled after 0 s (done: nothing)")
    assert jobs.queue.running == 0  # the slot is free
    with pytest.raises(JobRefused):
        jobs.cancel(job.id, "U1")  # not in flight any more


async def test_cancel_abandons_a_step_running_in_a_worker_thread_frees_the_slot_and_accounts_it(
        store: SqliteStore, tmp_path: Path) -> None:
    import threading

    from orchestrator.types import EventType, ProgressEvent, RunStatus, TaskRun

    jobs = Jobs(store, FairQueue(capacity=1), device="cpu")
    first, second = await jobs.accept(KEY, user="U1", text="a"), await jobs.accept(KEY, user="U2", text="b")
    release, in_thread, told, ran = threading.Event(), asyncio.Event(), [], []
    loop = asyncio.get_running_loop()

    def blocking_step() -> None:  # model code in a worker thread: asyncio cannot stop it
        loop.call_soon_threadsafe(in_thread.set)
        release.wait(10)

    async def work(ctx: JobContext) -> None:
        progress: Any = ctx.progress()
        await progress(ProgressEvent(EventType.TASK, runs=(
            TaskRun(id=1, task="text-to-image", model="m-draw", status=RunStatus.RUNNING),)))
        await asyncio.to_thread(blocking_step)

    async def other(ctx: JobContext) -> None:
        ran.append(ctx.job.id)

    async def on_cancel(text: str) -> None:
        told.append(text)

    t1 = asyncio.create_task(jobs.run(first, work, on_cancel=on_cancel))
    t2 = asyncio.create_task(jobs.run(second, other))
    await asyncio.wait_for(in_thread.wait(), 5)
    await asyncio.sleep(0.2)  # some device time spent in the step
    jobs.cancel(first.id, "U1")
    assert await asyncio.wait_for(t1, 1) is JobState.CANCELLED
    assert await asyncio.wait_for(t2, 1) is JobState.DONE and ran == [second.id]  # the slot was freed at once
    assert not release.is_set()  # ...while the abandoned step is still running in its thread
    assert told == ["🛑 Cancelled after 0 s (done: nothing)."]
    rows = await store.usage_table(0, "model")
    assert [r.group for r in rows] == ["m-draw"] and rows[0].seconds >= 0.2  # accounted though abandoned
    release.set()
    await jobs.close()


async def test_a_queued_job_can_be_cancelled_before_it_starts(store: SqliteStore, tmp_path: Path) -> None:
    jobs = Jobs(store, FairQueue(capacity=1))
    first, second = (await jobs.accept(KEY, user="U1", text="a"), await jobs.accept(KEY, user="U2", text="b"))
    gate = asyncio.Event()
    ran: list[int] = []

    async def work(ctx: JobContext) -> None:
        ran.append(ctx.job.id)
        await gate.wait()

    places: list[str] = []

    async def on_move(position: int, eta: float | None) -> None:
        places.append(queue_text(position, eta))

    t1 = asyncio.create_task(jobs.run(first, work))
    t2 = asyncio.create_task(jobs.run(second, work, on_move=on_move))
    for _ in range(10):
        await asyncio.sleep(0)
    assert places == ["⏳ next in line"]
    jobs.cancel(second.id, "U2")
    assert await t2 is JobState.CANCELLED
    gate.set()
    assert await t1 is JobState.DONE
    assert ran == [first.id] and state_of(tmp_path, second.id) == "cancelled"


async def test_recovery_interrupts_running_jobs_of_dead_owners_and_adopts_queued_ones(store: SqliteStore,
                                                                                     tmp_path: Path) -> None:
    dead = "otherhost:4242:dead"
    await store.register_owner(dead, "otherhost", 4242)
    running = await store.add_job(KEY, user="U1", text="was running", payload={}, owner=dead)
    queued = await store.add_job(KEY, user="U1", text="was waiting", payload={}, owner=dead)
    assert await store.start_job(running, dead)
    conv = await store.conversation(KEY)
    run_id = await store.start_run(conv, "was running")  # the pipeline's row, never finished
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:  # the dead process's last heartbeat: long ago
        db.execute("UPDATE job_owners SET heartbeat = 0")
    jobs = Jobs(store, stale_s=5)
    interrupted, adopted = await jobs.recover(["slack"])
    assert [j.id for j in interrupted] == [running] and [j.id for j in adopted] == [queued]
    assert adopted[0].owner == jobs.owner and adopted[0].state is JobState.QUEUED
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0] == "interrupted"
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()[0] == 0
    await jobs.notified(running)
    assert (await jobs.recover(["slack"]))[0] == []  # told once
    await jobs.close()


async def test_a_live_owner_on_another_host_keeps_its_jobs(store: SqliteStore) -> None:
    await store.register_owner("otherhost:1:alive", "otherhost", 1)  # heartbeat now
    job = await store.add_job(KEY, user="U1", text="x", payload={}, owner="otherhost:1:alive")
    assert await store.start_job(job, "otherhost:1:alive")
    jobs = Jobs(store, stale_s=60)
    assert await jobs.recover(["slack"]) == ([], [])
    await jobs.close()


async def test_a_running_server_sweeps_up_a_replica_whose_heartbeat_went_stale(store: SqliteStore,
                                                                                tmp_path: Path) -> None:
    other = "otherhost:7:replica"
    await store.register_owner(other, "otherhost", 7)  # alive: heartbeat now
    running = await store.add_job(KEY, user="U1", text="was running", payload={}, owner=other)
    queued = await store.add_job(KEY, user="U1", text="was waiting", payload={}, owner=other)
    assert await store.start_job(running, other)
    jobs, peer = Jobs(store, stale_s=5, sweep_s=0.01), Jobs(store, stale_s=5)
    peer.host = "peerhost"  # a replica on a third host (in one process the pid check would call us dead)
    assert jobs.sweep_s == 1.0  # bounded: never a busy loop
    await jobs.start()
    assert await jobs.sweep(["slack"]) == ([], [])  # a live replica keeps its jobs
    found: list[tuple[list[int], list[int]]] = []
    seen = asyncio.Event()

    async def on_found(interrupted: list[Any], adopted: list[Any]) -> None:
        found.append(([j.id for j in interrupted], [j.id for j in adopted]))
        seen.set()

    sweeper = asyncio.create_task(jobs.sweep_forever(["slack"], on_found))
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:  # the replica dies: its heartbeat goes stale
        db.execute("UPDATE job_owners SET heartbeat = ? WHERE id = ?", (time.time() - 60, other))
    await asyncio.wait_for(seen.wait(), 5)
    assert found == [([running], [queued])]
    assert state_of(tmp_path, running) == "interrupted" and state_of(tmp_path, queued) == "queued"
    assert (await store.get_job(queued)).owner == jobs.owner  # type: ignore[union-attr]
    assert await peer.sweep(["slack"]) == ([], [])  # another replica sweeping too tells nobody twice
    sweeper.cancel()
    await jobs.close()


async def test_a_sweep_keeps_another_platforms_interrupted_jobs_for_that_platforms_sweep(store: SqliteStore,
                                                                                         tmp_path: Path) -> None:
    other = "otherhost:8:gone"
    await store.register_owner(other, "otherhost", 8)
    discord_key = ConversationKey("discord", "G", "C9", "999")
    ids = [await store.add_job(k, user="U1", text="x", payload={}, owner=other) for k in (KEY, discord_key)]
    for job_id in ids:
        assert await store.start_job(job_id, other)
    jobs = Jobs(store, stale_s=5)  # hgbot serve all: one job layer, a sweep per platform
    assert await jobs.sweep(["discord"]) == ([], [])  # the other host is alive: nothing to take
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:  # then it dies
        db.execute("UPDATE job_owners SET heartbeat = 0")
    slack_told, _ = await jobs.sweep(["slack"])  # this pass interrupts both platforms' jobs
    assert [j.id for j in slack_told] == [ids[0]] and state_of(tmp_path, ids[1]) == "interrupted"
    discord_told, _ = await jobs.sweep(["discord"])
    assert [j.id for j in discord_told] == [ids[1]]
    assert await jobs.sweep(["discord"]) == ([], [])  # told once
    await jobs.close()


async def test_over_budget_is_refused_with_the_reset_time_and_admins_are_exempt(store: SqliteStore) -> None:
    now = time.time()
    quota = Quota(store, user_seconds=10, admins=["UADMIN"], clock=lambda: now)
    jobs = Jobs(store, quota=quota)
    await store.add_usage(UsageRecord(1, "slack", "U1", "C1", "image-to-text", "m", "cpu", 12.0, 1.0))
    with pytest.raises(JobRefused, match="used 12 of 10 device-seconds today") as info:
        await jobs.accept(KEY, user="U1", text="more")
    assert info.value.resets_at == quota.day_bounds()[1] and "resets at 00:00 UTC" in str(info.value)
    await jobs.accept(KEY, user="U2", text="someone else")
    await jobs.accept(ConversationKey("slack", "T", "C1", "2"), user="UADMIN", text="admin")
    rows = await store.usage_table(0, "model")
    assert [r.as_dict("model") for r in rows] == [
        {"model": "m", "steps": 1, "jobs": 1, "seconds": 12.0, "load_seconds": 1.0, "devices": "cpu"}]


def test_queue_text() -> None:
    assert queue_text(3, 41.0) == "⏳ 3rd in line, about 40 s"
    assert queue_text(1, None) == "⏳ next in line"
    assert queue_text(12, 200) == "⏳ 12th in line, about 3 min"


async def test_usage_is_recorded_per_step(store: SqliteStore) -> None:
    from orchestrator.types import EventType, ProgressEvent, RunStatus, TaskRun

    jobs = Jobs(store, device="cuda")
    job = await jobs.accept(KEY, user="U1", text="x")

    async def work(ctx: JobContext) -> None:
        run = TaskRun(id=1, task="image-to-text", model="m1", status=RunStatus.OK, seconds=3.0,
                      started_at=10.0, finished_at=12.5)
        progress: Any = ctx.progress()
        await progress(ProgressEvent(EventType.TASK, runs=(run,)))
        await progress(ProgressEvent(EventType.TASK, runs=(run,)))  # the same step shown again: counted once

    await jobs.run(job, work)
    assert await store.usage_seconds(0, user="U1") == 3.0
    rows = await store.usage_table(0, "user")
    assert rows[0].load_seconds == 0.5 and rows[0].devices == ("cuda",) and rows[0].steps == 1


async def test_a_channel_budget_covers_everyone_in_it(store: SqliteStore) -> None:
    quota = Quota(store, channel_seconds=5)
    await store.add_usage(UsageRecord(1, "slack", "U1", "C1", "t", "m", "cpu", 6.0))
    with pytest.raises(JobRefused, match="This channel has used 6 of 5"):
        await Jobs(store, quota=quota).accept(KEY, user="U2", text="x")
    await Jobs(store, quota=quota).accept(ConversationKey("slack", "T", "C2", "1"), user="U2", text="elsewhere")


async def test_shutdown_sheds_waiting_jobs_but_keeps_them_queued_for_the_next_start(store: SqliteStore,
                                                                                   tmp_path: Path) -> None:
    jobs = Jobs(store, FairQueue(capacity=1))
    gate = asyncio.Event()

    async def work(ctx: JobContext) -> None:
        await gate.wait()

    first, second = await jobs.accept(KEY, user="U1", text="a"), await jobs.accept(KEY, user="U2", text="b")
    assert first is not None and second is not None
    running = asyncio.create_task(jobs.run(first, work))
    waiting = asyncio.create_task(jobs.run(second, work))
    for _ in range(5):
        await asyncio.sleep(0)
    assert jobs.shed_waiting() == 1
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.set()
    assert await running is JobState.DONE
    assert state_of(tmp_path, second.id) == "queued"  # the next start-up adopts and runs it


async def test_a_cancel_request_from_another_replica_spares_an_answer_being_posted() -> None:
    from storage import MemoryStore

    store = MemoryStore()
    jobs = Jobs(store)
    job = await jobs.accept(KEY, user="U1", text="hi")
    posting, release = asyncio.Event(), asyncio.Event()

    async def work(ctx: JobContext) -> None:
        ctx.deliver()  # the answer is being posted: from here a cancel is too late
        posting.set()
        await release.wait()

    task = asyncio.create_task(jobs.run(job, work))
    await posting.wait()
    assert await store.request_cancel(job.id, "U1")  # what the other replica writes
    assert await jobs.take_cancel_requests() == []
    release.set()
    assert await task is JobState.DONE
    assert await store.cancel_requests(jobs.owner) == {}  # ended: nothing left to act on


async def test_request_cancel_here_cancels_at_once_and_refuses_what_cancel_refuses() -> None:
    from storage import MemoryStore

    store = MemoryStore()
    jobs = Jobs(store)
    job = await jobs.accept(KEY, user="U1", text="hi")
    running = asyncio.Event()

    async def work(ctx: JobContext) -> None:
        running.set()
        await asyncio.sleep(30)

    task = asyncio.create_task(jobs.run(job, work))
    await running.wait()
    with pytest.raises(JobRefused, match="Only the person who asked"):
        await jobs.request_cancel(job.id, "U2")
    await jobs.request_cancel(job.id, "U1")  # in flight here: no store round trip, no poll
    assert await asyncio.wait_for(task, 1) is JobState.CANCELLED
    assert await store.cancel_requests(jobs.owner) == {}
    with pytest.raises(JobRefused, match="not running any more"):
        await jobs.request_cancel(job.id, "U1")
    with pytest.raises(JobRefused, match="not running any more"):
        await jobs.request_cancel(job.id + 100, "U1")
