"""What every ``JobStore`` must do (memory, SQLite, Postgres): the job, owner and usage tables.

Any difference between the databases that this suite finds is a bug in one of them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from orchestrator.errors import JobRefused, StorageError
from orchestrator.jobtypes import JobState, UsageRecord
from orchestrator.quota import Quota
from orchestrator.store import JobStore, OwnerRecord, Store
from orchestrator.types import ConversationKey

SLACK = ConversationKey("slack", "T1", "C1", "1700000000.000100")
OTHER_THREAD = ConversationKey("slack", "T1", "C1", "1700000000.000200")
DISCORD = ConversationKey("discord", "G1", "C9", "999")
DEAD, ME = "deadhost:1:gone", "here:2:me"


@pytest.fixture
def jobs(store: Store) -> JobStore:
    return cast(JobStore, store)  # every Store hgbot ships keeps jobs too (mypy checks each in its module)


async def add(jobs: JobStore, key: ConversationKey = SLACK, owner: str = ME, **kw: Any) -> int:
    job_id = await jobs.add_job(key, user=kw.pop("user", "U1"), text=kw.pop("text", "hi"),
                                payload=kw.pop("payload", {}), owner=owner, **kw)
    assert job_id is not None
    return job_id


async def test_a_job_claims_its_delivery_once_in_the_same_write(jobs: JobStore, store: Store) -> None:
    first = await jobs.add_job(SLACK, user="U1", text="a", payload={}, owner=ME, delivery_id="slack:Ev1")
    assert first is not None
    assert await jobs.add_job(SLACK, user="U1", text="a", payload={}, owner=ME, delivery_id="slack:Ev1") is None
    assert await jobs.delivery_seen("slack:Ev1") and not await store.claim_delivery("slack:Ev1")
    assert await store.claim_delivery("slack:Ev2")  # claimed by a message that ended without a job
    assert await jobs.add_job(SLACK, user="U1", text="b", payload={}, owner=ME, delivery_id="slack:Ev2") is None
    assert await jobs.job_counts() == {"queued": 1}


async def test_a_job_reads_back_as_it_was_written(jobs: JobStore) -> None:
    payload: dict[str, Any] = {"files": [{"name": "cat.png", "size": 3}], "assistant": True, "note": "héllo"}
    before = time.time()
    job_id = await add(jobs, user="U7", text="draw a cat", payload=payload)
    payload["files"].clear()  # the caller's dict is not the row
    job = await jobs.get_job(job_id)
    assert job is not None
    assert (job.id, job.key, job.user, job.text, job.state, job.owner) == (
        job_id, SLACK, "U7", "draw a cat", JobState.QUEUED, ME)
    assert job.payload == {"files": [{"name": "cat.png", "size": 3}], "assistant": True, "note": "héllo"}
    assert before - 1 <= job.created <= time.time() + 1 and job.started is None and job.finished is None
    assert job.error is None
    assert await jobs.get_job(job_id + 1000) is None


async def test_a_job_starts_once_for_its_owner_and_ends_once(jobs: JobStore) -> None:
    job_id = await add(jobs)
    assert not await jobs.start_job(job_id, "someone-else")
    assert await jobs.start_job(job_id, ME)
    assert not await jobs.start_job(job_id, ME)  # claimed once
    with pytest.raises(ValueError):
        await jobs.end_job(job_id, JobState.RUNNING)
    assert await jobs.end_job(job_id, JobState.FAILED, "boom")
    assert not await jobs.end_job(job_id, JobState.DONE)  # one winner: a cancel racing the end loses
    job = await jobs.get_job(job_id)
    assert job is not None and job.state is JobState.FAILED and job.error == "boom"
    assert job.started is not None and job.finished is not None and job.started <= job.finished
    assert not await jobs.end_job(job_id + 1000, JobState.DONE)
    queued = await add(jobs)
    assert await jobs.end_job(queued, JobState.CANCELLED)  # a queued job can end without starting
    assert not await jobs.start_job(queued, ME)
    assert await jobs.job_counts() == {"failed": 1, "cancelled": 1}


async def test_a_job_that_stops_early_closes_the_runs_it_left_running(jobs: JobStore, store: Store) -> None:
    conv = await store.conversation(SLACK)
    earlier = await store.start_run(conv, "an earlier turn, still open")
    await asyncio.sleep(0.01)
    cancelled, done = await add(jobs), await add(jobs)
    assert await jobs.start_job(cancelled, ME)
    mine = await store.start_run(conv, "this job's turn")
    assert await jobs.end_job(cancelled, JobState.CANCELLED)
    runs = {r.id: r.status for r in await store.recent_runs(conv)}
    assert runs == {earlier: "running", mine: "cancelled"}  # runs before the job started are not its own
    assert await jobs.start_job(done, ME)
    later = await store.start_run(conv, "a turn the pipeline finishes itself")
    assert await jobs.end_job(done, JobState.DONE)
    assert {r.id: r.status for r in await store.recent_runs(conv)}[later] == "running"


async def test_owners_heartbeat_and_owners_only_named_by_jobs_are_listed(jobs: JobStore) -> None:
    await jobs.register_owner(ME, "here", 2)
    [me] = await jobs.job_owners()
    assert (me.id, me.host, me.pid) == (ME, "here", 2) and abs(me.heartbeat - time.time()) < 5
    await asyncio.sleep(0.02)
    await jobs.heartbeat(ME)
    await jobs.heartbeat("never-registered")  # nothing to update, nothing created
    [beat] = await jobs.job_owners()
    assert beat.heartbeat > me.heartbeat
    await add(jobs, owner="ghost")  # its owner row was removed as dead, but a job still names it
    assert sorted(await jobs.job_owners(), key=lambda o: o.id) == [OwnerRecord("ghost", "", 0, 0.0), beat]
    await jobs.register_owner(ME, "elsewhere", 3)  # a re-registration replaces the row
    assert {(o.id, o.host, o.pid) for o in await jobs.job_owners()} == {("ghost", "", 0), (ME, "elsewhere", 3)}


async def test_adopting_a_dead_owners_jobs_interrupts_running_ones_and_moves_queued_ones(jobs: JobStore) -> None:
    await jobs.register_owner(DEAD, "deadhost", 1)
    running = await add(jobs, owner=DEAD, text="was running")
    running_discord = await add(jobs, DISCORD, owner=DEAD)
    queued = await add(jobs, owner=DEAD, text="was waiting")
    queued_discord = await add(jobs, DISCORD, owner=DEAD)
    finished = await add(jobs, owner=DEAD)
    alive = await add(jobs, owner="alive:3:x")
    for job_id in (running, running_discord, finished):
        assert await jobs.start_job(job_id, DEAD)
    assert await jobs.end_job(finished, JobState.DONE)
    assert await jobs.adopt_jobs([], ME, ["slack"]) == ([], [])

    interrupted, adopted = await jobs.adopt_jobs([DEAD], ME, ["slack"])
    # running jobs of every platform (no row stays running without a live owner); queued ones of this one
    assert [j.id for j in interrupted] == [running, running_discord]
    assert all(j.state is JobState.INTERRUPTED and j.error == "interrupted" and j.finished for j in interrupted)
    assert [(j.id, j.owner, j.state) for j in adopted] == [(queued, ME, JobState.QUEUED)]
    assert [j.text for j in adopted] == ["was waiting"]
    assert (await jobs.get_job(queued_discord)).owner == DEAD  # type: ignore[union-attr]
    assert (await jobs.get_job(alive)).owner == "alive:3:x"  # type: ignore[union-attr]
    assert (await jobs.get_job(finished)).state is JobState.DONE  # type: ignore[union-attr]
    assert DEAD in {o.id for o in await jobs.job_owners()}  # kept: a Discord job still waits under it

    assert await jobs.adopt_jobs([DEAD], "third:4:y", ["slack"]) == ([], [])  # taken over once
    _, discord = await jobs.adopt_jobs([DEAD], ME, ["discord"])
    assert [j.id for j in discord] == [queued_discord]
    assert DEAD not in {o.id for o in await jobs.job_owners()}
    assert await jobs.start_job(queued, ME)  # the adopter runs it


async def test_two_adopters_at_once_take_each_job_once(jobs: JobStore) -> None:
    ids = [await add(jobs, owner=DEAD) for _ in range(6)]
    for job_id in ids[:3]:
        assert await jobs.start_job(job_id, DEAD)
    results = await asyncio.gather(*(jobs.adopt_jobs([DEAD], f"r{i}", ["slack"]) for i in range(4)))
    interrupted = [j.id for i, _ in results for j in i]
    adopted = [j.id for _, a in results for j in a]
    assert sorted(interrupted) == ids[:3] and sorted(adopted) == ids[3:]


async def test_interrupted_jobs_are_listed_until_their_thread_is_told(jobs: JobStore) -> None:
    slack, discord = await add(jobs, owner=DEAD), await add(jobs, DISCORD, owner=DEAD)
    for job_id in (slack, discord):
        assert await jobs.start_job(job_id, DEAD)
    await jobs.adopt_jobs([DEAD], ME, ["slack"])
    assert [j.id for j in await jobs.unnotified_jobs(["slack"])] == [slack]
    assert [j.id for j in await jobs.unnotified_jobs(["slack", "discord"])] == [slack, discord]
    assert await jobs.unnotified_jobs([]) == []
    await jobs.mark_notified(slack)
    assert [j.id for j in await jobs.unnotified_jobs(["slack", "discord"])] == [discord]


async def test_latest_and_active_job_of_a_thread(jobs: JobStore) -> None:
    assert await jobs.latest_job(SLACK) is None and await jobs.active_job(SLACK) is None
    ended, running, waiting = await add(jobs), await add(jobs), await add(jobs)
    elsewhere = await add(jobs, OTHER_THREAD)
    assert await jobs.end_job(ended, JobState.DONE)
    assert await jobs.start_job(running, ME)
    assert (await jobs.active_job(SLACK)).id == waiting  # type: ignore[union-attr]
    assert await jobs.end_job(waiting, JobState.CANCELLED)
    assert (await jobs.active_job(SLACK)).id == running  # type: ignore[union-attr]
    assert (await jobs.latest_job(SLACK)).id == waiting  # type: ignore[union-attr]
    assert await jobs.end_job(running, JobState.DONE)
    assert await jobs.active_job(SLACK) is None
    assert (await jobs.active_job(OTHER_THREAD)).id == elsewhere  # type: ignore[union-attr]


async def test_a_users_active_job_in_a_channel_is_their_newest_in_flight_in_any_thread(jobs: JobStore) -> None:
    assert await jobs.active_job_of("U1", "C1") is None
    first, second = await add(jobs, SLACK), await add(jobs, OTHER_THREAD)
    await add(jobs, SLACK, user="U2")  # someone else's
    await add(jobs, DISCORD)  # another channel
    assert (await jobs.active_job_of("U1", "C1")).id == second  # type: ignore[union-attr]
    assert await jobs.end_job(second, JobState.DONE)
    assert (await jobs.active_job_of("U1", "C1")).id == first  # type: ignore[union-attr]
    assert await jobs.end_job(first, JobState.CANCELLED)
    assert await jobs.active_job_of("U1", "C1") is None


async def test_a_slash_commands_thread_is_recorded_once_known(jobs: JobStore) -> None:
    channel_key = ConversationKey("slack", "T1", "C1", "")
    job_id = await add(jobs, channel_key)
    await jobs.set_job_thread(job_id, "1700000000.000900")
    job = await jobs.get_job(job_id)
    assert job is not None and job.key == ConversationKey("slack", "T1", "C1", "1700000000.000900")
    assert (await jobs.latest_job(job.key)).id == job_id  # type: ignore[union-attr]
    assert await jobs.latest_job(channel_key) is None


async def test_a_cancel_request_reaches_the_jobs_owner_until_the_job_ends(jobs: JobStore) -> None:
    queued, running, other = await add(jobs), await add(jobs), await add(jobs, owner="peer:5:z")
    assert await jobs.start_job(running, ME)
    assert await jobs.cancel_requests(ME) == {}
    assert await jobs.request_cancel(queued, "U1") and await jobs.request_cancel(running, "UADMIN")
    assert await jobs.request_cancel(other, "U1")
    assert await jobs.cancel_requests(ME) == {queued: "U1", running: "UADMIN"}
    assert await jobs.cancel_requests("peer:5:z") == {other: "U1"}
    assert await jobs.end_job(running, JobState.CANCELLED)
    assert await jobs.cancel_requests(ME) == {queued: "U1"}
    assert not await jobs.request_cancel(running, "U1")  # ended: nothing to cancel
    assert not await jobs.request_cancel(running + 1000, "U1")
    # the owner dies before acting on it: whoever adopts the job gets the request with it
    _, adopted = await jobs.adopt_jobs(["peer:5:z"], ME, ["slack"])
    assert [j.id for j in adopted] == [other]
    assert await jobs.cancel_requests(ME) == {queued: "U1", other: "U1"}


async def test_usage_is_summed_per_user_channel_and_model(jobs: JobStore) -> None:
    def use(job: int | None, user: str, channel: str, model: str, device: str, seconds: float,
            load: float = 0.0) -> UsageRecord:
        return UsageRecord(job_id=job, platform="slack", user=user, channel=channel, task="t", model=model,
                           device=device, seconds=seconds, load_seconds=load)

    before = time.time() - 1
    for record in (use(1, "U1", "C1", "m-big", "cuda", 10.0, 2.0), use(1, "U1", "C1", "m-small", "cpu", 1.25),
                   use(2, "U2", "C1", "m-big", "cpu", 4.0, 0.5), use(None, "U2", "C2", "m-small", "cpu", 0.5)):
        await jobs.add_usage(record)
    assert await jobs.usage_seconds(before) == pytest.approx(15.75)
    assert await jobs.usage_seconds(before, user="U1") == pytest.approx(11.25)
    assert await jobs.usage_seconds(before, channel="C1") == pytest.approx(15.25)
    assert await jobs.usage_seconds(before, user="U2", channel="C2") == pytest.approx(0.5)
    assert await jobs.usage_seconds(before, user="nobody") == 0.0
    assert await jobs.usage_seconds(time.time() + 60) == 0.0

    by_model = await jobs.usage_table(before, "model")
    assert [(t.group, t.steps, t.jobs, t.seconds, t.load_seconds, t.devices) for t in by_model] == [
        ("m-big", 2, 2, 14.0, 2.5, ("cpu", "cuda")), ("m-small", 2, 1, 1.75, 0.0, ("cpu",))]
    assert [(t.group, t.seconds) for t in await jobs.usage_table(before, "user")] == [("U1", 11.25), ("U2", 4.5)]
    assert [(t.group, t.jobs) for t in await jobs.usage_table(before, "channel")] == [("C1", 2), ("C2", 0)]
    assert by_model[0].as_dict("model") == {"model": "m-big", "steps": 2, "jobs": 2, "seconds": 14.0,
                                            "load_seconds": 2.5, "devices": "cpu,cuda"}
    assert await jobs.usage_table(time.time() + 60, "user") == []
    with pytest.raises(ValueError):
        await jobs.usage_table(before, "task; DROP TABLE usage")


async def test_a_daily_quota_counts_todays_usage_of_the_user_and_the_channel(jobs: JobStore) -> None:
    now = time.time()
    await jobs.add_usage(UsageRecord(job_id=1, platform="slack", user="U1", channel="C1", task="t", model="m",
                                     device="cpu", seconds=12.0))
    with pytest.raises(JobRefused) as refused:
        await Quota(jobs, user_seconds=10, clock=lambda: now).check("U1", "C2")
    assert refused.value.resets_at is not None and refused.value.resets_at > now
    await Quota(jobs, user_seconds=10, clock=lambda: now).check("U2", "C1")  # someone else
    with pytest.raises(JobRefused):
        await Quota(jobs, channel_seconds=10, clock=lambda: now).check("U2", "C1")  # ...but the same channel
    await Quota(jobs, user_seconds=10, clock=lambda: now + 86400).check("U1", "C1")  # a new day


async def test_a_closed_store_refuses_job_calls(jobs: JobStore, store: Store) -> None:
    await store.close()
    with pytest.raises(StorageError):
        await add(jobs)
