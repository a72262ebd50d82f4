"""Two replicas' job layers on one store (memory, one SQLite file, one Postgres database): a stop
that reaches the replica not running the job cancels it where it runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import JobRefused
from orchestrator.jobs import JobContext, Jobs
from orchestrator.jobtypes import JobState
from orchestrator.queue import FairQueue
from orchestrator.store import JobStore
from orchestrator.types import ConversationKey
from storage import MemoryBlobStore, MemoryStore
from tests.storage.contract.conftest import STORES

KEY = ConversationKey("slack", "T1", "C1", "1700000000.000100")


@pytest.fixture(params=STORES)
async def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Jobs, Jobs]]:
    """Replica A's and replica B's job layers, each with its own handle on one store."""
    blobs = MemoryBlobStore()
    stores: list[Any]
    if request.param == "memory":
        shared = MemoryStore(blobs)
        stores = [shared, shared]
    elif request.param == "sqlite":
        open_ = request.getfixturevalue("open_sqlite")
        stores = [await open_(tmp_path / "hgbot.sqlite3", tmp_path / "a", blobs) for _ in range(2)]
    else:
        open_ = request.getfixturevalue("open_postgres")
        stores = [await open_(blobs) for _ in range(2)]
    a, b = Jobs(stores[0], FairQueue(capacity=1), admins=["UADMIN"]), Jobs(stores[1], admins=["UADMIN"])
    a.host, b.host = "host-a", "host-b"  # two hosts: in one process the pid check would call the other dead
    await a.start()
    await b.start()
    yield a, b
    for jobs, store in zip((a, b), stores, strict=True):
        await jobs.close()
        await store.close()


def store_of(jobs: Jobs) -> JobStore:
    return jobs.store


async def test_a_stop_at_the_other_replica_cancels_the_running_job_there_and_tells_the_thread_once(
        replicas: tuple[Jobs, Jobs]) -> None:
    a, b = replicas
    job = await a.accept(KEY, user="U1", text="draw a slow cat")
    assert job is not None
    running, told = asyncio.Event(), []

    async def work(ctx: JobContext) -> None:
        running.set()
        await asyncio.sleep(30)  # the model step

    async def on_cancel(text: str) -> None:
        told.append(text)

    task = asyncio.create_task(a.run(job, work, on_cancel=on_cancel))
    await asyncio.wait_for(running.wait(), 5)
    assert b.live_in(KEY) is None  # not in flight in B's process...
    assert await b.running_in(KEY) == job.id  # ...but B finds it through the store
    with pytest.raises(JobRefused, match="Only the person who asked"):
        await b.request_cancel(job.id, "U2")
    await asyncio.sleep(2 * a.cancel_poll_s)
    assert not task.done()  # a refused stop is not a request

    t0 = time.monotonic()
    await b.request_cancel(job.id, "U1")
    assert await asyncio.wait_for(task, 5) is JobState.CANCELLED
    assert time.monotonic() - t0 < 2  # within the poll interval (0.5 s) and a round trip
    assert len(told) == 1 and told[0].startswith("🛑 Cancelled after")
    assert (await store_of(b).get_job(job.id)).state is JobState.CANCELLED  # type: ignore[union-attr]
    assert await b.running_in(KEY) is None
    with pytest.raises(JobRefused, match="not running any more"):
        await b.request_cancel(job.id, "U1")
    await asyncio.sleep(2 * a.cancel_poll_s)
    assert len(told) == 1  # the request, still on the ended row, is not acted on again


async def test_an_admin_at_the_other_replica_cancels_a_job_waiting_in_line_there(
        replicas: tuple[Jobs, Jobs]) -> None:
    a, b = replicas
    first = await a.accept(KEY, user="U1", text="first")
    waiting = await a.accept(ConversationKey("slack", "T1", "C2", "1.1"), user="U2", text="second")
    assert first is not None and waiting is not None
    gate, ran, places = asyncio.Event(), [], []

    async def work(ctx: JobContext) -> None:
        ran.append(ctx.job.id)
        await gate.wait()

    async def on_move(position: int, eta: float | None) -> None:
        places.append(position)

    t1 = asyncio.create_task(a.run(first, work))
    t2 = asyncio.create_task(a.run(waiting, work, on_move=on_move))
    for _ in range(50):
        if places:
            break
        await asyncio.sleep(0.01)
    assert places == [1]  # next in line behind the running job (capacity 1)
    assert await b.running_in(waiting.key) == waiting.id
    assert await b.running_job_of("U2", "C2") == waiting.id  # what `/hgbot cancel` at B looks up
    assert b.live_job("U2", "C2") is None
    await b.request_cancel(waiting.id, "UADMIN")
    assert await asyncio.wait_for(t2, 5) is JobState.CANCELLED
    gate.set()
    assert await asyncio.wait_for(t1, 5) is JobState.DONE
    assert ran == [first.id]  # the cancelled job never started
